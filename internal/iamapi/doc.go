// Package iamapi is berth's front door for IAM and STS: the AWS query
// protocol, as the IAM (2010-05-08) and STS (2011-06-15) APIs speak it.
// Requests are form-encoded (Action=...&Version=...&...) in a POST body
// or a GET query; answers are <ActionResponse><ActionResult>...
// </ActionResult><ResponseMetadata><RequestId> in the service's XML
// namespace, errors <ErrorResponse><Error><Type><Code><Message></Error>
// <RequestId>.
//
// Every request is SigV4-verified before anything else. The credential
// scope names the API: service "iam" or "sts". IAM is global, signed for
// us-east-1, so both APIs accept us-east-1 and berth's own region in the
// scope. Verification failures get the query protocol's codes:
// MissingAuthenticationToken, IncompleteSignature, SignatureDoesNotMatch,
// InvalidClientTokenId and ExpiredToken.
//
// IAM actions: CreateUser, GetUser, ListUsers, DeleteUser,
// CreateAccessKey, ListAccessKeys, DeleteAccessKey, CreateRole, GetRole,
// ListRoles, DeleteRole. STS actions: GetCallerIdentity, AssumeRole.
// Other actions get InvalidAction. The work, validation and access policy
// are internal/iam's, the protocol internal/queryapi's; this package reads
// the actions' parameters, shapes their answers, and is the one place
// where errors become wire errors.
package iamapi
