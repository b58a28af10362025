// Package sigv4 verifies AWS Signature Version 4 on incoming requests, the
// way an AWS service front end does, so that the AWS CLI and SDKs can talk
// to berth unchanged.
//
// A Verifier is built once from a Config, which names the Lookup that maps
// access key ids to Credentials, the clock, the allowed clock skew and,
// optionally, the one signing name (service) it accepts:
//
//	v, err := sigv4.New(sigv4.Config{Credentials: creds, Service: "eks"})
//	res, err := v.Verify(ctx, r, body)
//
// Verify checks a request signed in its Authorization header, or presigned
// in its query string. VerifyPresigned checks a presigned URL that is not
// itself the request, such as the STS GetCallerIdentity URL inside an EKS
// bearer token ("k8s-aws-v1." + base64url(URL), from aws eks get-token);
// it enforces X-Amz-Date + X-Amz-Expires, capped by the caller.
//
// Failures are *Error values carrying the AWS error code, message and HTTP
// status that an AWS REST-JSON service returns for the same request, for
// the API layer to write out:
//
//   - MissingAuthenticationTokenException: no signature at all.
//   - IncompleteSignatureException: malformed Authorization header or
//     presigned query string.
//   - InvalidSignatureException: signature mismatch, signing time outside
//     the allowed window, wrong credential scope, Host or the date header
//     not signed.
//   - UnrecognizedClientException: unknown access key, or a session token
//     that is missing or does not belong to it.
//   - ExpiredTokenException: the temporary credential has expired.
//
// The canonical request is built as aws-sdk-go-v2 and botocore build it:
// the path as sent on the wire (dot segments and repeated slashes removed)
// URI-encoded once more, so /tags/arn%3Aaws%3Aeks... signs as
// /tags/arn%253Aaws%253Aeks...; query parameters decoded, re-encoded per
// RFC 3986 and sorted by key, then value; signed header values trimmed with
// inner runs of spaces folded, repeated headers joined by commas; the
// payload hash from the body, or from x-amz-content-sha256, which may be
// UNSIGNED-PAYLOAD.
//
// Verification is on the hot path of every API call. Derived signing keys
// are cached per secret, date, region and service, buffers are pooled, and
// verifying a header-signed request allocates nothing beyond what the
// Lookup does (see BenchmarkVerify).
package sigv4
