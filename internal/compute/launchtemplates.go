package compute

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/store"
)

// Store kinds of launch templates: the records by id, and their names
// (key: the name, value: the id), written together so a name is taken
// once.
const (
	KindLaunchTemplate     = "launch-templates"
	KindLaunchTemplateName = "launch-template-names"
)

// EC2's launch template quotas.
const (
	MaxLaunchTemplates        = 5000
	MaxLaunchTemplateVersions = 10000
	// MaxUserDataBytes is EC2's limit on user data, before base64.
	MaxUserDataBytes = 16 * 1024
)

// LaunchTemplate is the stored record of an EC2 launch template with all
// its versions.
type LaunchTemplate struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	CreatedAt      time.Time         `json:"createdAt"`
	CreatedBy      string            `json:"createdBy"`
	DefaultVersion int               `json:"defaultVersion"`
	LatestVersion  int               `json:"latestVersion"`
	Tags           map[string]string `json:"tags,omitempty"`
	Versions       []TemplateVersion `json:"versions"`
}

// TemplateVersion is one version of a launch template.
type TemplateVersion struct {
	Number      int          `json:"number"`
	Description string       `json:"description,omitempty"`
	CreatedAt   time.Time    `json:"createdAt"`
	CreatedBy   string       `json:"createdBy"`
	Data        TemplateData `json:"data"`
}

// TemplateData is the part of EC2's launch template data berth models.
// Pointers and empty values are absent members.
type TemplateData struct {
	ImageID               string            `json:"imageId,omitempty"`
	InstanceType          string            `json:"instanceType,omitempty"`
	KeyName               string            `json:"keyName,omitempty"`
	UserData              string            `json:"userData,omitempty"` // base64, as given
	SecurityGroupIDs      []string          `json:"securityGroupIds,omitempty"`
	IamInstanceProfile    *ProfileRef       `json:"iamInstanceProfile,omitempty"`
	TagSpecifications     []TagSpec         `json:"tagSpecifications,omitempty"`
	NetworkInterfaces     []NetworkIface    `json:"networkInterfaces,omitempty"`
	BlockDeviceMappings   []BlockDevice     `json:"blockDeviceMappings,omitempty"`
	MarketType            string            `json:"marketType,omitempty"` // "spot"
	AvailabilityZone      string            `json:"availabilityZone,omitempty"`
	MetadataOptions       map[string]string `json:"metadataOptions,omitempty"`
	EbsOptimized          *bool             `json:"ebsOptimized,omitempty"`
	Monitoring            *bool             `json:"monitoring,omitempty"`
	DisableAPITermination *bool             `json:"disableApiTermination,omitempty"`
	CPUCredits            string            `json:"cpuCredits,omitempty"`
}

// ProfileRef names an instance profile by ARN or name.
type ProfileRef struct {
	ARN  string `json:"arn,omitempty"`
	Name string `json:"name,omitempty"`
}

// Ref is the ARN, else the name.
func (p *ProfileRef) Ref() string {
	if p == nil {
		return ""
	}
	if p.ARN != "" {
		return p.ARN
	}
	return p.Name
}

// TagSpec is a TagSpecification: tags for the resources of one type that
// a launch creates.
type TagSpec struct {
	ResourceType string            `json:"resourceType"`
	Tags         map[string]string `json:"tags"`
}

// NetworkIface is a network interface of a launch.
type NetworkIface struct {
	DeviceIndex              *int     `json:"deviceIndex,omitempty"`
	SubnetID                 string   `json:"subnetId,omitempty"`
	Groups                   []string `json:"groups,omitempty"`
	AssociatePublicIPAddress *bool    `json:"associatePublicIpAddress,omitempty"`
	DeleteOnTermination      *bool    `json:"deleteOnTermination,omitempty"`
	PrivateIPAddress         string   `json:"privateIpAddress,omitempty"`
}

// BlockDevice is a block device mapping of a launch.
type BlockDevice struct {
	DeviceName string   `json:"deviceName"`
	Ebs        *EbsSpec `json:"ebs,omitempty"`
	NoDevice   string   `json:"noDevice,omitempty"`
}

// EbsSpec is the EBS volume of a block device mapping.
type EbsSpec struct {
	VolumeSize          *int   `json:"volumeSize,omitempty"`
	VolumeType          string `json:"volumeType,omitempty"`
	Iops                *int   `json:"iops,omitempty"`
	Throughput          *int   `json:"throughput,omitempty"`
	Encrypted           *bool  `json:"encrypted,omitempty"`
	DeleteOnTermination *bool  `json:"deleteOnTermination,omitempty"`
	SnapshotID          string `json:"snapshotId,omitempty"`
	KmsKeyID            string `json:"kmsKeyId,omitempty"`
}

// ec2Error is an EC2 error code and message.
func ec2Error(code, format string, args ...any) *apierror.Error {
	return apierror.New(apierror.Kind(code), format, args...)
}

var (
	templateNameRE = regexp.MustCompile(`^[a-zA-Z0-9().\-/_]{3,128}$`)
	templateIDRE   = regexp.MustCompile(`^lt-[0-9a-f]{17}$`)
)

// NewLaunchTemplateID returns "lt-" and 17 random hex digits.
func NewLaunchTemplateID() string { return "lt-" + NewInstanceID()[2:] }

// CheckUserData checks base64 user data as EC2 does.
func CheckUserData(b64 string) error {
	if b64 == "" {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return ec2Error("InvalidParameterValue", "Invalid BASE64 encoding of user data.")
	}
	if len(raw) > MaxUserDataBytes {
		return ec2Error("InvalidParameterValue", "User data is limited to %d bytes", MaxUserDataBytes)
	}
	return nil
}

// validate checks what EC2 checks of launch template data at creation:
// little, since a template may be partial; the launch checks the rest.
func (d *TemplateData) validate() error {
	if err := CheckUserData(d.UserData); err != nil {
		return err
	}
	if d.MarketType != "" && d.MarketType != Spot && d.MarketType != "capacity-block" {
		return ec2Error("InvalidParameterValue", "Value (%s) for parameter marketType is invalid.", d.MarketType)
	}
	for _, ts := range d.TagSpecifications {
		switch ts.ResourceType {
		case "instance", "volume", "network-interface", "spot-instances-request":
		default:
			return ec2Error("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", ts.ResourceType)
		}
	}
	return nil
}

// CreateLaunchTemplateInput is a CreateLaunchTemplate request.
type CreateLaunchTemplateInput struct {
	Name        string
	Description string
	Data        TemplateData
	Tags        map[string]string
	CreatedBy   string
}

// CreateLaunchTemplate stores a new template with its version 1.
func (s *Service) CreateLaunchTemplate(ctx context.Context, in CreateLaunchTemplateInput) (*LaunchTemplate, error) {
	if !templateNameRE.MatchString(in.Name) {
		return nil, ec2Error("InvalidLaunchTemplateName.MalformedException",
			"A launch template name must be between 3 and 128 characters, and may contain letters, numbers, and the following characters: - ( ) . / _.'")
	}
	if len(in.Description) > 255 {
		return nil, ec2Error("InvalidParameterValue", "Version description must be 255 characters or fewer.")
	}
	if err := in.Data.validate(); err != nil {
		return nil, err
	}
	names, err := s.cfg.Store.List(ctx, KindLaunchTemplateName, "")
	if err != nil {
		return nil, err
	}
	if len(names) >= MaxLaunchTemplates {
		return nil, ec2Error("LaunchTemplateLimitExceeded", "You've reached the maximum number of launch templates (%d) allowed in this Region.", MaxLaunchTemplates)
	}
	now := s.cfg.Now().UTC().Truncate(time.Millisecond)
	lt := &LaunchTemplate{
		ID: NewLaunchTemplateID(), Name: in.Name, CreatedAt: now, CreatedBy: in.CreatedBy,
		DefaultVersion: 1, LatestVersion: 1, Tags: maps(in.Tags),
		Versions: []TemplateVersion{{Number: 1, Description: in.Description, CreatedAt: now, CreatedBy: in.CreatedBy, Data: in.Data}},
	}
	raw, err := json.Marshal(lt)
	if err != nil {
		return nil, err
	}
	_, err = s.cfg.Store.Apply(ctx,
		store.Op{Kind: KindLaunchTemplateName, Key: in.Name, Value: []byte(strconv.Quote(lt.ID)), Create: true},
		store.Op{Kind: KindLaunchTemplate, Key: lt.ID, Value: raw, Create: true})
	if errors.Is(err, store.ErrExists) {
		return nil, ec2Error("InvalidLaunchTemplateName.AlreadyExistsException", "Launch template name already in use.")
	}
	if err != nil {
		return nil, fmt.Errorf("storing launch template: %w", err)
	}
	return lt, nil
}

// LaunchTemplate finds a template by id or name (one of them set).
func (s *Service) LaunchTemplate(ctx context.Context, id, name string) (*LaunchTemplate, uint64, error) {
	switch {
	case id == "" && name == "":
		return nil, 0, ec2Error("MissingParameter", "The request must include either a launch template ID or a launch template name.")
	case id != "" && name != "":
		return nil, 0, ec2Error("InvalidParameterCombination", "You can specify either a launch template ID or a launch template name, but not both.")
	case name != "":
		rec, err := s.cfg.Store.Get(ctx, KindLaunchTemplateName, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil, 0, ec2Error("InvalidLaunchTemplateName.NotFoundException",
				"At least one of the launch templates specified in the request does not exist.")
		}
		if err != nil {
			return nil, 0, err
		}
		if id, err = strconv.Unquote(string(rec.Value)); err != nil {
			return nil, 0, fmt.Errorf("decoding launch template name %s: %w", name, err)
		}
	case !templateIDRE.MatchString(id):
		return nil, 0, ec2Error("InvalidLaunchTemplateId.Malformed",
			"The specified ID for the launch template (%s) is not valid. A launch template ID must be in the format 'lt-xxxxxxxxxxxxxxxxx'.", id)
	}
	lt, rev, err := store.Read[LaunchTemplate](ctx, s.cfg.Store, KindLaunchTemplate, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, ec2Error("InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID %s, does not exist.", id)
	}
	return lt, rev, err
}

// LaunchTemplates returns every template, by name.
func (s *Service) LaunchTemplates(ctx context.Context) ([]*LaunchTemplate, error) {
	all, err := store.ReadAll[LaunchTemplate](ctx, s.cfg.Store, KindLaunchTemplate, "")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b *LaunchTemplate) int { return strings.Compare(a.Name, b.Name) })
	return all, nil
}

// Version resolves a version string ("$Latest", "$Default", a number,
// or "" for the default) to one of the template's versions.
func (lt *LaunchTemplate) Version(v string) (*TemplateVersion, error) {
	n := lt.DefaultVersion
	switch v {
	case "", "$Default":
	case "$Latest":
		n = lt.LatestVersion
	default:
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			return nil, ec2Error("InvalidLaunchTemplateId.VersionNotFound",
				"Could not find launch template version %s for launch template ID %s.", v, lt.ID)
		}
	}
	for i := range lt.Versions {
		if lt.Versions[i].Number == n {
			return &lt.Versions[i], nil
		}
	}
	return nil, ec2Error("InvalidLaunchTemplateId.VersionNotFound",
		"Could not find launch template version %s for launch template ID %s.", v, lt.ID)
}

// CreateLaunchTemplateVersionInput is a CreateLaunchTemplateVersion
// request.
type CreateLaunchTemplateVersionInput struct {
	ID, Name      string
	Description   string
	SourceVersion string
	Data          TemplateData
	CreatedBy     string
}

// CreateLaunchTemplateVersion adds a version. With SourceVersion, the
// new version's data is that version's with the given members replacing
// its own, as EC2 merges them.
func (s *Service) CreateLaunchTemplateVersion(ctx context.Context, in CreateLaunchTemplateVersionInput) (*LaunchTemplate, *TemplateVersion, error) {
	if len(in.Description) > 255 {
		return nil, nil, ec2Error("InvalidParameterValue", "Version description must be 255 characters or fewer.")
	}
	if err := in.Data.validate(); err != nil {
		return nil, nil, err
	}
	for {
		lt, rev, err := s.LaunchTemplate(ctx, in.ID, in.Name)
		if err != nil {
			return nil, nil, err
		}
		if len(lt.Versions) >= MaxLaunchTemplateVersions {
			return nil, nil, ec2Error("LaunchTemplateVersionLimitExceeded", "You've reached the maximum number of versions (%d) allowed for this launch template.", MaxLaunchTemplateVersions)
		}
		data := in.Data
		if in.SourceVersion != "" {
			src, err := lt.Version(in.SourceVersion)
			if err != nil {
				return nil, nil, err
			}
			data = MergeTemplateData(src.Data, in.Data)
		}
		v := TemplateVersion{
			Number: lt.LatestVersion + 1, Description: in.Description,
			CreatedAt: s.cfg.Now().UTC().Truncate(time.Millisecond), CreatedBy: in.CreatedBy, Data: data,
		}
		lt.Versions = append(lt.Versions, v)
		lt.LatestVersion = v.Number
		raw, err := json.Marshal(lt)
		if err != nil {
			return nil, nil, err
		}
		_, err = s.cfg.Store.Apply(ctx, store.Op{Kind: KindLaunchTemplate, Key: lt.ID, Value: raw, IfRevision: rev})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("storing launch template %s: %w", lt.ID, err)
		}
		return lt, &v, nil
	}
}

// MergeTemplateData overlays the members set in top on base, as EC2
// merges a version's data with its source's and a launch's parameters
// with its template's.
func MergeTemplateData(base, top TemplateData) TemplateData {
	b, _ := json.Marshal(base)
	t, _ := json.Marshal(top)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	var over map[string]json.RawMessage
	_ = json.Unmarshal(t, &over)
	for k, v := range over {
		m[k] = v
	}
	raw, _ := json.Marshal(m)
	var out TemplateData
	_ = json.Unmarshal(raw, &out)
	return out
}

// SetDefaultLaunchTemplateVersion is ModifyLaunchTemplate's
// SetDefaultVersion.
func (s *Service) SetDefaultLaunchTemplateVersion(ctx context.Context, id, name, version string) (*LaunchTemplate, error) {
	for {
		lt, rev, err := s.LaunchTemplate(ctx, id, name)
		if err != nil {
			return nil, err
		}
		if version != "" {
			v, err := lt.Version(version)
			if err != nil {
				return nil, err
			}
			lt.DefaultVersion = v.Number
		}
		raw, err := json.Marshal(lt)
		if err != nil {
			return nil, err
		}
		_, err = s.cfg.Store.Apply(ctx, store.Op{Kind: KindLaunchTemplate, Key: lt.ID, Value: raw, IfRevision: rev})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("storing launch template %s: %w", lt.ID, err)
		}
		return lt, nil
	}
}

// DeleteLaunchTemplate deletes a template and all its versions.
func (s *Service) DeleteLaunchTemplate(ctx context.Context, id, name string) (*LaunchTemplate, error) {
	for {
		lt, rev, err := s.LaunchTemplate(ctx, id, name)
		if err != nil {
			return nil, err
		}
		_, err = s.cfg.Store.Apply(ctx,
			store.Op{Kind: KindLaunchTemplate, Key: lt.ID, Delete: true, IfRevision: rev},
			store.Op{Kind: KindLaunchTemplateName, Key: lt.Name, Delete: true})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("deleting launch template %s: %w", lt.ID, err)
		}
		return lt, nil
	}
}
