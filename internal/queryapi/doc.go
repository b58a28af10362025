// Package queryapi is the AWS query protocol that berth's EC2, IAM, STS
// and Auto Scaling front doors speak: requests form-encoded
// (Action=...&Version=...&...) in a POST body or a GET query string,
// answers and errors in XML.
//
// A Dialect says how one service speaks it: its API version, its XML
// namespace, and which of the two protocols AWS defines it uses. Query
// (awsQuery: IAM, STS, Auto Scaling) writes lists as Name.member.N,
// answers as <ActionResponse><ActionResult>...</ActionResult>
// <ResponseMetadata><RequestId> and errors as <ErrorResponse><Error>
// <Type>Sender|Receiver</Type><Code><Message></Error><RequestId>. EC2
// (ec2Query) writes lists as Name.N, answers as the action's own element
// with a <requestId>, and errors as <Response><Errors><Error><Code>
// <Message></Error></Errors><RequestID>. The protocol's own refusals
// (methods, content types, bodies, unknown actions and versions,
// malformed parameters) carry each protocol's codes and messages.
//
// A Service is the http.Handler of one API: it gives each request an id,
// has the API decode it (ReadBody, Decode and Authenticate help), runs
// its action (Dispatch, Lookup), and writes the answer or the error
// (WriteResponse, WriteError). Params read the typed parameters: lists,
// filters, integers, booleans. The actions, their messages and the
// translation of the API's own errors into an Error stay in the API's
// package.
package queryapi
