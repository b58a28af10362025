package iam

import "fmt"

// berth has no IAM policies of its own (no inline or managed policies,
// no groups). Instead one fixed policy, below, decides what a caller may
// do. It is the only place where access is decided:
//
//	caller          allowed
//	root            every action
//	IAM user        the read actions, sts:GetCallerIdentity, sts:AssumeRole,
//	                and the access key actions on its own user
//	role session    the read actions and sts:GetCallerIdentity
//
// Everything else is AccessDenied, worded as IAM words an implicit deny.
// AssumeRole also needs the role's trust policy to allow the caller
// (trust.go), and STS never lets the root assume a role.

// readActions are the actions that change nothing.
var readActions = map[string]bool{
	"iam:GetUser":                     true,
	"iam:ListUsers":                   true,
	"iam:ListAccessKeys":              true,
	"iam:GetRole":                     true,
	"iam:ListRoles":                   true,
	"iam:GetInstanceProfile":          true,
	"iam:ListInstanceProfiles":        true,
	"iam:ListInstanceProfilesForRole": true,
	"sts:GetCallerIdentity":           true,
}

// ownKeyActions are what an IAM user may do to the access keys of its
// own user.
var ownKeyActions = map[string]bool{
	"iam:CreateAccessKey": true,
	"iam:DeleteAccessKey": true,
	"iam:ListAccessKeys":  true,
}

// access is one request for the policy to decide.
type access struct {
	action string // "iam:CreateUser"
	// resource names the target as AWS does in AccessDenied messages: an
	// ARN, or "user NAME" for the access key actions.
	resource string
	// ownUser is set when the target is the calling IAM user itself.
	ownUser bool
}

// authorize applies berth's policy to c asking for a.
func authorize(c Caller, a access) error {
	allowed := false
	switch c.Kind {
	case CallerRoot:
		allowed = true
	case CallerUser:
		allowed = readActions[a.action] || a.action == "sts:AssumeRole" || (a.ownUser && ownKeyActions[a.action])
	case CallerSession:
		allowed = readActions[a.action]
	}
	if allowed {
		return nil
	}
	if a.action == "sts:AssumeRole" {
		return assumeDenied(c, a.resource)
	}
	return errorf(CodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
		c.ARN, a.action, a.resource, a.action)
}

// assumeDenied is STS's refusal of an AssumeRole, for a missing
// permission and a trust policy that does not name the caller alike.
func assumeDenied(c Caller, roleARN string) error {
	return &Error{Code: CodeAccessDenied, Message: fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", c.ARN, roleARN)}
}
