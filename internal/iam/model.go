package iam

import "time"

// Store kinds of IAM records; keys are lower-cased names.
const (
	KindUser = "iamusers"
	KindRole = "iamroles"
)

// IAM's defaults and quotas.
const (
	// MaxAccessKeysPerUser is IAM's AccessKeysPerUser quota.
	MaxAccessKeysPerUser = 2
	// DefaultMaxSessionDuration is a role's MaxSessionDuration when
	// CreateRole does not set it, and the default DurationSeconds of
	// AssumeRole.
	DefaultMaxSessionDuration = 3600
	// MinSessionDuration and MaxSessionDuration bound a role's
	// MaxSessionDuration and AssumeRole's DurationSeconds.
	MinSessionDuration = 900
	MaxSessionDuration = 43200
	// MaxTrustPolicySize is IAM's ACLSizePerRole quota: the characters of
	// a trust policy, white space not counted.
	MaxTrustPolicySize = 2048
)

// Tag is an IAM tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// User is an IAM user record. The account's root user, which GetUser
// returns to the root credential, has only ID (the account id) and ARN.
type User struct {
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	ID      string    `json:"id"` // AIDA...
	ARN     string    `json:"arn"`
	Created time.Time `json:"created"`
	Tags    []Tag     `json:"tags,omitempty"`
}

// Role is an IAM role record.
type Role struct {
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	ID      string    `json:"id"` // AROA...
	ARN     string    `json:"arn"`
	Created time.Time `json:"created"`
	// AssumeRolePolicyDocument is the trust policy, as given.
	AssumeRolePolicyDocument string `json:"assumeRolePolicyDocument"`
	Description              string `json:"description,omitempty"`
	// MaxSessionDuration is in seconds.
	MaxSessionDuration int   `json:"maxSessionDuration"`
	Tags               []Tag `json:"tags,omitempty"`
}

// AccessKey is an access key as IAM shows it. SecretAccessKey is set only
// in the answer to CreateAccessKey. UserName is empty for the root's keys.
type AccessKey struct {
	UserName        string
	AccessKeyID     string
	Status          string // always "Active": berth has no UpdateAccessKey
	SecretAccessKey string
	Created         time.Time
}

// Page is one page of a list operation: Marker is set, and Truncated
// true, when there is more.
type Page[T any] struct {
	Items     []T
	Truncated bool
	Marker    string
}

// ListInput is the paging and filtering of a list operation.
type ListInput struct {
	// PathPrefix keeps the entities whose path starts with it ("/" or
	// empty: all). ListAccessKeys has none.
	PathPrefix string
	// Marker is the Marker of the previous page.
	Marker string
	// MaxItems is the page size, 1 to 1000; nil means 100.
	MaxItems *int
}

// CallerKind says what kind of identity signed a request.
type CallerKind int

// The kinds of callers.
const (
	CallerRoot CallerKind = iota
	CallerUser
	CallerSession
)

// Caller is the identity whose access key signed a request.
type Caller struct {
	Kind    CallerKind
	Account string
	// ARN is the identity's ARN: arn:aws:iam::ACCOUNT:root, the user's
	// ARN, or arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION.
	ARN string
	// ID is the UserId GetCallerIdentity reports: the account id,
	// AIDA..., or AROA...:SESSION.
	ID string
	// UserName is the IAM user's name (CallerUser).
	UserName string
	// AccessKeyID is the key that signed the request.
	AccessKeyID string
}

// Identity is the answer of GetCallerIdentity.
type Identity struct {
	UserID  string
	Account string
	ARN     string
}

// Session is the answer of AssumeRole: temporary credentials and the
// assumed-role user they sign as.
type Session struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	// AssumedRoleID is ROLEID:SESSION; ARN the assumed-role ARN.
	AssumedRoleID string
	ARN           string
}
