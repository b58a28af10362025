package iamapi

import (
	"context"
	"strings"

	"github.com/berthproject/berth/internal/iam"
	"github.com/berthproject/berth/internal/queryapi"
)

// The XML shapes of the answers, with the member names and order of the
// IAM and STS models. Lists are <Name><member>...</member></Name>
// (queryapi.Members), written even when empty.

type tagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

func tagsXML(tags []iam.Tag) []tagXML {
	out := make([]tagXML, len(tags))
	for i, t := range tags {
		out[i] = tagXML{Key: t.Key, Value: t.Value}
	}
	return out
}

type userXML struct {
	Path       string   `xml:"Path,omitempty"`
	UserName   string   `xml:"UserName,omitempty"`
	UserID     string   `xml:"UserId"`
	Arn        string   `xml:"Arn"`
	CreateDate string   `xml:"CreateDate,omitempty"`
	Tags       []tagXML `xml:"Tags>member,omitempty"`
}

// toUserXML writes a user; withTags for CreateUser and GetUser, which
// return tags (ListUsers does not).
func toUserXML(u *iam.User, withTags bool) userXML {
	x := userXML{Path: u.Path, UserName: u.Name, UserID: u.ID, Arn: u.ARN}
	if !u.Created.IsZero() {
		x.CreateDate = timestamp(u.Created)
	}
	if withTags {
		x.Tags = tagsXML(u.Tags)
	}
	return x
}

type roleXML struct {
	Path                     string   `xml:"Path"`
	RoleName                 string   `xml:"RoleName"`
	RoleID                   string   `xml:"RoleId"`
	Arn                      string   `xml:"Arn"`
	CreateDate               string   `xml:"CreateDate"`
	AssumeRolePolicyDocument string   `xml:"AssumeRolePolicyDocument"`
	Description              string   `xml:"Description,omitempty"`
	MaxSessionDuration       int      `xml:"MaxSessionDuration"`
	Tags                     []tagXML `xml:"Tags>member,omitempty"`
}

// toRoleXML writes a role. IAM returns the trust policy URL-encoded.
func toRoleXML(r *iam.Role, withTags bool) roleXML {
	x := roleXML{
		Path: r.Path, RoleName: r.Name, RoleID: r.ID, Arn: r.ARN, CreateDate: timestamp(r.Created),
		AssumeRolePolicyDocument: escapePolicy(r.AssumeRolePolicyDocument),
		Description:              r.Description,
		MaxSessionDuration:       r.MaxSessionDuration,
	}
	if withTags {
		x.Tags = tagsXML(r.Tags)
	}
	return x
}

// escapePolicy percent-encodes a policy document as IAM returns policy
// documents: RFC 3986, every byte but the unreserved characters.
func escapePolicy(doc string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

type accessKeyXML struct {
	UserName        string `xml:"UserName,omitempty"`
	AccessKeyID     string `xml:"AccessKeyId"`
	Status          string `xml:"Status"`
	SecretAccessKey string `xml:"SecretAccessKey,omitempty"`
	CreateDate      string `xml:"CreateDate,omitempty"`
}

func toAccessKeyXML(k iam.AccessKey) accessKeyXML {
	x := accessKeyXML{UserName: k.UserName, AccessKeyID: k.AccessKeyID, Status: k.Status, SecretAccessKey: k.SecretAccessKey}
	if !k.Created.IsZero() {
		x.CreateDate = timestamp(k.Created)
	}
	return x
}

// IAM actions.

func (h *Handler) createUser(ctx context.Context, c *call) (any, error) {
	u, err := h.cfg.Service.CreateUser(ctx, c.caller, iam.CreateUserInput{
		UserName: c.Opt("UserName"), Path: c.Opt("Path"), Tags: c.tags(),
	})
	if err != nil {
		return nil, err
	}
	return struct {
		User userXML `xml:"User"`
	}{toUserXML(u, true)}, nil
}

func (h *Handler) getUser(ctx context.Context, c *call) (any, error) {
	u, err := h.cfg.Service.GetUser(ctx, c.caller, c.Opt("UserName"))
	if err != nil {
		return nil, err
	}
	return struct {
		User userXML `xml:"User"`
	}{toUserXML(u, true)}, nil
}

func (h *Handler) listUsers(ctx context.Context, c *call) (any, error) {
	in, err := c.listInput(true)
	if err != nil {
		return nil, err
	}
	p, err := h.cfg.Service.ListUsers(ctx, c.caller, in)
	if err != nil {
		return nil, err
	}
	out := struct {
		Users       queryapi.Members[userXML] `xml:"Users"`
		IsTruncated bool                      `xml:"IsTruncated"`
		Marker      string                    `xml:"Marker,omitempty"`
	}{IsTruncated: p.Truncated, Marker: p.Marker}
	out.Users.Member = make([]userXML, len(p.Items))
	for i := range p.Items {
		out.Users.Member[i] = toUserXML(&p.Items[i], false)
	}
	return out, nil
}

func (h *Handler) deleteUser(ctx context.Context, c *call) (any, error) {
	return nil, h.cfg.Service.DeleteUser(ctx, c.caller, c.Opt("UserName"))
}

func (h *Handler) createAccessKey(ctx context.Context, c *call) (any, error) {
	k, err := h.cfg.Service.CreateAccessKey(ctx, c.caller, c.Opt("UserName"))
	if err != nil {
		return nil, err
	}
	return struct {
		AccessKey accessKeyXML `xml:"AccessKey"`
	}{toAccessKeyXML(*k)}, nil
}

func (h *Handler) listAccessKeys(ctx context.Context, c *call) (any, error) {
	in, err := c.listInput(false)
	if err != nil {
		return nil, err
	}
	p, err := h.cfg.Service.ListAccessKeys(ctx, c.caller, c.Opt("UserName"), in)
	if err != nil {
		return nil, err
	}
	out := struct {
		AccessKeyMetadata queryapi.Members[accessKeyXML] `xml:"AccessKeyMetadata"`
		IsTruncated       bool                           `xml:"IsTruncated"`
		Marker            string                         `xml:"Marker,omitempty"`
	}{IsTruncated: p.Truncated, Marker: p.Marker}
	out.AccessKeyMetadata.Member = make([]accessKeyXML, len(p.Items))
	for i, k := range p.Items {
		out.AccessKeyMetadata.Member[i] = toAccessKeyXML(k)
	}
	return out, nil
}

func (h *Handler) deleteAccessKey(ctx context.Context, c *call) (any, error) {
	return nil, h.cfg.Service.DeleteAccessKey(ctx, c.caller, c.Opt("UserName"), c.Opt("AccessKeyId"))
}

func (h *Handler) createRole(ctx context.Context, c *call) (any, error) {
	maxSession, err := c.Int("MaxSessionDuration")
	if err != nil {
		return nil, err
	}
	r, err := h.cfg.Service.CreateRole(ctx, c.caller, iam.CreateRoleInput{
		RoleName:                 c.Opt("RoleName"),
		Path:                     c.Opt("Path"),
		AssumeRolePolicyDocument: c.Opt("AssumeRolePolicyDocument"),
		Description:              c.Opt("Description"),
		MaxSessionDuration:       maxSession,
		Tags:                     c.tags(),
	})
	if err != nil {
		return nil, err
	}
	return struct {
		Role roleXML `xml:"Role"`
	}{toRoleXML(r, true)}, nil
}

func (h *Handler) getRole(ctx context.Context, c *call) (any, error) {
	r, err := h.cfg.Service.GetRole(ctx, c.caller, c.Opt("RoleName"))
	if err != nil {
		return nil, err
	}
	return struct {
		Role roleXML `xml:"Role"`
	}{toRoleXML(r, true)}, nil
}

func (h *Handler) listRoles(ctx context.Context, c *call) (any, error) {
	in, err := c.listInput(true)
	if err != nil {
		return nil, err
	}
	p, err := h.cfg.Service.ListRoles(ctx, c.caller, in)
	if err != nil {
		return nil, err
	}
	out := struct {
		Roles       queryapi.Members[roleXML] `xml:"Roles"`
		IsTruncated bool                      `xml:"IsTruncated"`
		Marker      string                    `xml:"Marker,omitempty"`
	}{IsTruncated: p.Truncated, Marker: p.Marker}
	out.Roles.Member = make([]roleXML, len(p.Items))
	for i := range p.Items {
		out.Roles.Member[i] = toRoleXML(&p.Items[i], false)
	}
	return out, nil
}

func (h *Handler) deleteRole(ctx context.Context, c *call) (any, error) {
	return nil, h.cfg.Service.DeleteRole(ctx, c.caller, c.Opt("RoleName"))
}

// STS actions.

func (h *Handler) getCallerIdentity(ctx context.Context, c *call) (any, error) {
	id, err := h.cfg.Service.GetCallerIdentity(ctx, c.caller)
	if err != nil {
		return nil, err
	}
	return struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	}{id.ARN, id.UserID, id.Account}, nil
}

func (h *Handler) assumeRole(ctx context.Context, c *call) (any, error) {
	duration, err := c.Int("DurationSeconds")
	if err != nil {
		return nil, err
	}
	s, err := h.cfg.Service.AssumeRole(ctx, c.caller, iam.AssumeRoleInput{
		RoleARN:         c.Opt("RoleArn"),
		RoleSessionName: c.Opt("RoleSessionName"),
		DurationSeconds: duration,
		ExternalID:      c.Opt("ExternalId"),
	})
	if err != nil {
		return nil, err
	}
	type credentialsXML struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	type assumedRoleUserXML struct {
		AssumedRoleID string `xml:"AssumedRoleId"`
		Arn           string `xml:"Arn"`
	}
	return struct {
		Credentials     credentialsXML     `xml:"Credentials"`
		AssumedRoleUser assumedRoleUserXML `xml:"AssumedRoleUser"`
	}{
		credentialsXML{s.AccessKeyID, s.SecretAccessKey, s.SessionToken, timestamp(s.Expiration)},
		assumedRoleUserXML{s.AssumedRoleID, s.ARN},
	}, nil
}

// Instance profiles.

type instanceProfileXML struct {
	Path                string                    `xml:"Path"`
	InstanceProfileName string                    `xml:"InstanceProfileName"`
	InstanceProfileID   string                    `xml:"InstanceProfileId"`
	Arn                 string                    `xml:"Arn"`
	CreateDate          string                    `xml:"CreateDate"`
	Roles               queryapi.Members[roleXML] `xml:"Roles"`
	Tags                []tagXML                  `xml:"Tags>member,omitempty"`
}

func toInstanceProfileXML(p *iam.ProfileView, withTags bool) instanceProfileXML {
	x := instanceProfileXML{
		Path: p.Path, InstanceProfileName: p.Name, InstanceProfileID: p.ID, Arn: p.ARN, CreateDate: timestamp(p.Created),
	}
	x.Roles.Member = make([]roleXML, len(p.RoleRecords))
	for i := range p.RoleRecords {
		x.Roles.Member[i] = toRoleXML(&p.RoleRecords[i], false)
	}
	if withTags {
		x.Tags = tagsXML(p.Tags)
	}
	return x
}

func (h *Handler) createInstanceProfile(ctx context.Context, c *call) (any, error) {
	p, err := h.cfg.Service.CreateInstanceProfile(ctx, c.caller, iam.CreateInstanceProfileInput{
		InstanceProfileName: c.Opt("InstanceProfileName"),
		Path:                c.Opt("Path"),
		Tags:                c.tags(),
	})
	if err != nil {
		return nil, err
	}
	return struct {
		InstanceProfile instanceProfileXML `xml:"InstanceProfile"`
	}{toInstanceProfileXML(p, true)}, nil
}

func (h *Handler) getInstanceProfile(ctx context.Context, c *call) (any, error) {
	p, err := h.cfg.Service.GetInstanceProfile(ctx, c.caller, c.Opt("InstanceProfileName"))
	if err != nil {
		return nil, err
	}
	return struct {
		InstanceProfile instanceProfileXML `xml:"InstanceProfile"`
	}{toInstanceProfileXML(p, true)}, nil
}

func (h *Handler) listInstanceProfiles(ctx context.Context, c *call) (any, error) {
	in, err := c.listInput(true)
	if err != nil {
		return nil, err
	}
	p, err := h.cfg.Service.ListInstanceProfiles(ctx, c.caller, in)
	return profilePage(p, err)
}

func (h *Handler) listInstanceProfilesForRole(ctx context.Context, c *call) (any, error) {
	in, err := c.listInput(false)
	if err != nil {
		return nil, err
	}
	p, err := h.cfg.Service.ListInstanceProfilesForRole(ctx, c.caller, c.Opt("RoleName"), in)
	return profilePage(p, err)
}

func profilePage(p iam.Page[iam.ProfileView], err error) (any, error) {
	if err != nil {
		return nil, err
	}
	out := struct {
		InstanceProfiles queryapi.Members[instanceProfileXML] `xml:"InstanceProfiles"`
		IsTruncated      bool                                 `xml:"IsTruncated"`
		Marker           string                               `xml:"Marker,omitempty"`
	}{IsTruncated: p.Truncated, Marker: p.Marker}
	out.InstanceProfiles.Member = make([]instanceProfileXML, len(p.Items))
	for i := range p.Items {
		out.InstanceProfiles.Member[i] = toInstanceProfileXML(&p.Items[i], false)
	}
	return out, nil
}

func (h *Handler) deleteInstanceProfile(ctx context.Context, c *call) (any, error) {
	return nil, h.cfg.Service.DeleteInstanceProfile(ctx, c.caller, c.Opt("InstanceProfileName"))
}

func (h *Handler) addRoleToInstanceProfile(ctx context.Context, c *call) (any, error) {
	return nil, h.cfg.Service.AddRoleToInstanceProfile(ctx, c.caller, c.Opt("InstanceProfileName"), c.Opt("RoleName"))
}

func (h *Handler) removeRoleFromInstanceProfile(ctx context.Context, c *call) (any, error) {
	return nil, h.cfg.Service.RemoveRoleFromInstanceProfile(ctx, c.caller, c.Opt("InstanceProfileName"), c.Opt("RoleName"))
}
