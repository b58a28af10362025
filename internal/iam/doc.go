// Package iam is berth's small IAM and STS: IAM users with their access
// keys, IAM roles with their trust policies, and the STS sessions that
// assume them, validated and worded as AWS validates and words them.
//
// Users and roles are store records (kinds "iamusers" and "iamroles",
// keyed by their lower-cased name, since IAM names are unique regardless
// of case). Access keys, long-term and temporary, live in the keyring of
// internal/credentials, which SigV4 verification reads on every request,
// so a deleted key stops working at once and a session's credentials work
// on every API of the endpoint until they expire.
//
// Every operation takes the Caller, the identity whose key signed the
// request, and asks Authorize (policy.go) whether it may act; that is the
// one place where berth's access policy lives. AssumeRole also checks the
// role's trust policy (trust.go).
//
// The service returns *Error values carrying IAM's and STS's error codes
// and messages; internal/iamapi writes them out in the query protocol's
// XML.
package iam
