package ec2api

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/compute/instancetypes"
	"github.com/berthproject/berth/internal/nodeconfig"
	"github.com/berthproject/berth/internal/queryapi"
)

// Profiles resolves the IAM instance profile a launch names, by ARN or
// name; nil when there is none.
type Profiles func(ctx context.Context, ref string) (*compute.ProfileInfo, error)

// MaxRunInstances bounds MaxCount of one RunInstances call.
const MaxRunInstances = 1000

var (
	amiRE      = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)
	sgRE       = regexp.MustCompile(`^sg-([0-9a-f]{8}|[0-9a-f]{17})$`)
	subnetIDRE = regexp.MustCompile(`^subnet-([0-9a-f]{8}|[0-9a-f]{17})$`)
)

// templateMembers are the launch template data members berth reads, by
// their query name; the same names serve RunInstances.
var templateMembers = []string{
	"ImageId", "InstanceType", "KeyName", "UserData", "SecurityGroupId", "SecurityGroup", "IamInstanceProfile",
	"TagSpecification", "NetworkInterface", "BlockDeviceMapping", "InstanceMarketOptions", "Placement",
	"MetadataOptions", "EbsOptimized", "Monitoring", "DisableApiTermination", "CreditSpecification",
}

// checkMembers refuses parameters under prefix that are not among known:
// berth would otherwise ignore what the caller asked for.
func (c *call) checkMembers(prefix string, known []string) error {
	for k := range c.Values {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || rest == "" {
			continue
		}
		name, _, _ := strings.Cut(rest, ".")
		if !slices.Contains(known, name) {
			return queryapi.Errorf("InvalidParameterValue", "The parameter %s%s is not supported by berth.", prefix, name)
		}
	}
	return nil
}

// templateData reads launch template data members under prefix.
func (c *call) templateData(prefix string) (compute.TemplateData, error) {
	var d compute.TemplateData
	get := func(name string) string { return c.Get(prefix + name) }
	d.ImageID, d.InstanceType, d.KeyName, d.UserData = get("ImageId"), get("InstanceType"), get("KeyName"), get("UserData")
	if d.ImageID != "" && !amiRE.MatchString(d.ImageID) {
		return d, queryapi.Errorf("InvalidAMIID.Malformed", `Invalid id: "%s" (expecting "ami-...")`, d.ImageID)
	}
	var err error
	if d.SecurityGroupIDs, err = c.List(prefix + "SecurityGroupId"); err != nil {
		return d, err
	}
	for _, sg := range d.SecurityGroupIDs {
		if !sgRE.MatchString(sg) {
			return d, queryapi.Errorf("InvalidGroupId.Malformed", `Invalid id: "%s" (expecting "sg-...")`, sg)
		}
	}
	if arn, name := get("IamInstanceProfile.Arn"), get("IamInstanceProfile.Name"); arn != "" || name != "" {
		d.IamInstanceProfile = &compute.ProfileRef{ARN: arn, Name: name}
	}
	d.MarketType = get("InstanceMarketOptions.MarketType")
	d.AvailabilityZone = get("Placement.AvailabilityZone")
	d.CPUCredits = get("CreditSpecification.CpuCredits")
	for _, m := range []string{"HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint", "InstanceMetadataTags", "HttpProtocolIpv6"} {
		if v := get("MetadataOptions." + m); v != "" {
			if d.MetadataOptions == nil {
				d.MetadataOptions = map[string]string{}
			}
			d.MetadataOptions[m] = v
		}
	}
	if d.EbsOptimized, err = c.Bool(prefix + "EbsOptimized"); err != nil {
		return d, err
	}
	if d.Monitoring, err = c.Bool(prefix + "Monitoring.Enabled"); err != nil {
		return d, err
	}
	if d.DisableAPITermination, err = c.Bool(prefix + "DisableApiTermination"); err != nil {
		return d, err
	}
	if d.TagSpecifications, err = c.tagSpecs(prefix + "TagSpecification."); err != nil {
		return d, err
	}
	idx, err := c.Indexes(prefix + "NetworkInterface.")
	if err != nil {
		return d, err
	}
	for _, i := range idx {
		p := prefix + "NetworkInterface." + strconv.Itoa(i) + "."
		ni := compute.NetworkIface{SubnetID: c.Get(p + "SubnetId"), PrivateIPAddress: c.Get(p + "PrivateIpAddress")}
		if ni.DeviceIndex, err = c.Int(p + "DeviceIndex"); err != nil {
			return d, err
		}
		if ni.AssociatePublicIPAddress, err = c.Bool(p + "AssociatePublicIpAddress"); err != nil {
			return d, err
		}
		if ni.DeleteOnTermination, err = c.Bool(p + "DeleteOnTermination"); err != nil {
			return d, err
		}
		if ni.Groups, err = c.List(p + "SecurityGroupId"); err != nil {
			return d, err
		}
		d.NetworkInterfaces = append(d.NetworkInterfaces, ni)
	}
	if idx, err = c.Indexes(prefix + "BlockDeviceMapping."); err != nil {
		return d, err
	}
	for _, i := range idx {
		p := prefix + "BlockDeviceMapping." + strconv.Itoa(i) + "."
		bd := compute.BlockDevice{DeviceName: c.Get(p + "DeviceName"), NoDevice: c.Get(p + "NoDevice")}
		if c.Has(p + "Ebs.") {
			e := &compute.EbsSpec{VolumeType: c.Get(p + "Ebs.VolumeType"), SnapshotID: c.Get(p + "Ebs.SnapshotId"), KmsKeyID: c.Get(p + "Ebs.KmsKeyId")}
			for name, dst := range map[string]**int{"VolumeSize": &e.VolumeSize, "Iops": &e.Iops, "Throughput": &e.Throughput} {
				if *dst, err = c.Int(p + "Ebs." + name); err != nil {
					return d, err
				}
			}
			if e.Encrypted, err = c.Bool(p + "Ebs.Encrypted"); err != nil {
				return d, err
			}
			if e.DeleteOnTermination, err = c.Bool(p + "Ebs.DeleteOnTermination"); err != nil {
				return d, err
			}
			bd.Ebs = e
		}
		d.BlockDeviceMappings = append(d.BlockDeviceMappings, bd)
	}
	return d, nil
}

// Has reports whether any parameter starts with prefix.
func (c *call) Has(prefix string) bool {
	for k := range c.Values {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// tagSpecs reads TagSpecification.N of any resource types.
func (c *call) tagSpecs(prefix string) ([]compute.TagSpec, error) {
	idx, err := c.Indexes(prefix)
	if err != nil {
		return nil, err
	}
	var out []compute.TagSpec
	for _, i := range idx {
		p := prefix + strconv.Itoa(i) + "."
		ts := compute.TagSpec{ResourceType: c.Get(p + "ResourceType"), Tags: map[string]string{}}
		tidx, err := c.Indexes(p + "Tag.")
		if err != nil {
			return nil, err
		}
		for _, j := range tidx {
			tp := p + "Tag." + strconv.Itoa(j) + "."
			k := c.Get(tp + "Key")
			if k == "" || len(k) > 128 || strings.HasPrefix(strings.ToLower(k), "aws:") {
				return nil, queryapi.Errorf("InvalidParameterValue", "Tag keys must be 1 to 128 characters and must not start with 'aws:' (got '%s').", k)
			}
			if _, dup := ts.Tags[k]; dup {
				return nil, queryapi.Errorf("InvalidParameterValue", "Duplicate tag key '%s' specified.", k)
			}
			ts.Tags[k] = c.Get(tp + "Value")
		}
		out = append(out, ts)
	}
	return out, nil
}

// computeError turns the errors of compute's launch template and launch
// calls, which carry EC2's codes, into wire errors.
func computeError(err error) error {
	e, ok := apierror.As(err)
	if !ok {
		return err
	}
	code := string(e.Kind)
	switch e.Kind {
	case apierror.InvalidParameter:
		code = "InvalidParameterValue"
	case apierror.ResourceNotFound:
		code = "InvalidInstanceID.NotFound"
	}
	return queryapi.Errorf(code, "%s", e.Message)
}

// Launch templates.

type launchTemplateXML struct {
	CreateTime           string    `xml:"createTime"`
	CreatedBy            string    `xml:"createdBy"`
	DefaultVersionNumber int       `xml:"defaultVersionNumber"`
	LatestVersionNumber  int       `xml:"latestVersionNumber"`
	LaunchTemplateID     string    `xml:"launchTemplateId"`
	LaunchTemplateName   string    `xml:"launchTemplateName"`
	TagSet               *set[tag] `xml:"tagSet,omitempty"`
}

func templateToXML(lt *compute.LaunchTemplate) launchTemplateXML {
	return launchTemplateXML{
		CreateTime: ec2TimeOf(lt.CreatedAt), CreatedBy: lt.CreatedBy,
		DefaultVersionNumber: lt.DefaultVersion, LatestVersionNumber: lt.LatestVersion,
		LaunchTemplateID: lt.ID, LaunchTemplateName: lt.Name, TagSet: tagSet(lt.Tags),
	}
}

type templateDataXML struct {
	BlockDeviceMappingSet *set[ltBlockDeviceXML]  `xml:"blockDeviceMappingSet,omitempty"`
	DisableAPITermination *bool                   `xml:"disableApiTermination,omitempty"`
	EbsOptimized          *bool                   `xml:"ebsOptimized,omitempty"`
	IamInstanceProfile    *ltProfileXML           `xml:"iamInstanceProfile,omitempty"`
	ImageID               string                  `xml:"imageId,omitempty"`
	InstanceMarketOptions *ltMarketXML            `xml:"instanceMarketOptions,omitempty"`
	InstanceType          string                  `xml:"instanceType,omitempty"`
	KeyName               string                  `xml:"keyName,omitempty"`
	MetadataOptions       *ltMetadataXML          `xml:"metadataOptions,omitempty"`
	Monitoring            *ltMonitoringXML        `xml:"monitoring,omitempty"`
	NetworkInterfaceSet   *set[ltNetworkIfaceXML] `xml:"networkInterfaceSet,omitempty"`
	Placement             *ltPlacementXML         `xml:"placement,omitempty"`
	SecurityGroupIDSet    *set[string]            `xml:"securityGroupIdSet,omitempty"`
	TagSpecificationSet   *set[ltTagSpecXML]      `xml:"tagSpecificationSet,omitempty"`
	UserData              string                  `xml:"userData,omitempty"`
}

type ltBlockDeviceXML struct {
	DeviceName string    `xml:"deviceName"`
	Ebs        *ltEbsXML `xml:"ebs,omitempty"`
	NoDevice   string    `xml:"noDevice,omitempty"`
}

type ltEbsXML struct {
	DeleteOnTermination *bool  `xml:"deleteOnTermination,omitempty"`
	Encrypted           *bool  `xml:"encrypted,omitempty"`
	Iops                *int   `xml:"iops,omitempty"`
	KmsKeyID            string `xml:"kmsKeyId,omitempty"`
	SnapshotID          string `xml:"snapshotId,omitempty"`
	Throughput          *int   `xml:"throughput,omitempty"`
	VolumeSize          *int   `xml:"volumeSize,omitempty"`
	VolumeType          string `xml:"volumeType,omitempty"`
}

type ltProfileXML struct {
	Arn  string `xml:"arn,omitempty"`
	Name string `xml:"name,omitempty"`
}

type ltMarketXML struct {
	MarketType string `xml:"marketType"`
}

type ltMetadataXML struct {
	HTTPEndpoint            string `xml:"httpEndpoint,omitempty"`
	HTTPPutResponseHopLimit string `xml:"httpPutResponseHopLimit,omitempty"`
	HTTPTokens              string `xml:"httpTokens,omitempty"`
	InstanceMetadataTags    string `xml:"instanceMetadataTags,omitempty"`
	HTTPProtocolIpv6        string `xml:"httpProtocolIpv6,omitempty"`
}

type ltMonitoringXML struct {
	Enabled bool `xml:"enabled"`
}

type ltNetworkIfaceXML struct {
	AssociatePublicIPAddress *bool        `xml:"associatePublicIpAddress,omitempty"`
	DeleteOnTermination      *bool        `xml:"deleteOnTermination,omitempty"`
	DeviceIndex              *int         `xml:"deviceIndex,omitempty"`
	GroupSet                 *set[string] `xml:"groupSet,omitempty"`
	PrivateIPAddress         string       `xml:"privateIpAddress,omitempty"`
	SubnetID                 string       `xml:"subnetId,omitempty"`
}

type ltPlacementXML struct {
	AvailabilityZone string `xml:"availabilityZone"`
}

type ltTagSpecXML struct {
	ResourceType string    `xml:"resourceType"`
	TagSet       *set[tag] `xml:"tagSet"`
}

func strSet(v []string) *set[string] {
	if len(v) == 0 {
		return nil
	}
	return &set[string]{Items: v}
}

func templateDataToXML(d compute.TemplateData) templateDataXML {
	x := templateDataXML{
		DisableAPITermination: d.DisableAPITermination, EbsOptimized: d.EbsOptimized,
		ImageID: d.ImageID, InstanceType: d.InstanceType, KeyName: d.KeyName, UserData: d.UserData,
		SecurityGroupIDSet: strSet(d.SecurityGroupIDs),
	}
	if p := d.IamInstanceProfile; p != nil {
		x.IamInstanceProfile = &ltProfileXML{Arn: p.ARN, Name: p.Name}
	}
	if d.MarketType != "" {
		x.InstanceMarketOptions = &ltMarketXML{MarketType: d.MarketType}
	}
	if m := d.MetadataOptions; m != nil {
		x.MetadataOptions = &ltMetadataXML{HTTPEndpoint: m["HttpEndpoint"], HTTPPutResponseHopLimit: m["HttpPutResponseHopLimit"],
			HTTPTokens: m["HttpTokens"], InstanceMetadataTags: m["InstanceMetadataTags"], HTTPProtocolIpv6: m["HttpProtocolIpv6"]}
	}
	if d.Monitoring != nil {
		x.Monitoring = &ltMonitoringXML{Enabled: *d.Monitoring}
	}
	if d.AvailabilityZone != "" {
		x.Placement = &ltPlacementXML{AvailabilityZone: d.AvailabilityZone}
	}
	if len(d.NetworkInterfaces) > 0 {
		x.NetworkInterfaceSet = &set[ltNetworkIfaceXML]{}
		for _, ni := range d.NetworkInterfaces {
			x.NetworkInterfaceSet.Items = append(x.NetworkInterfaceSet.Items, ltNetworkIfaceXML{
				AssociatePublicIPAddress: ni.AssociatePublicIPAddress, DeleteOnTermination: ni.DeleteOnTermination,
				DeviceIndex: ni.DeviceIndex, GroupSet: strSet(ni.Groups), PrivateIPAddress: ni.PrivateIPAddress, SubnetID: ni.SubnetID,
			})
		}
	}
	if len(d.BlockDeviceMappings) > 0 {
		x.BlockDeviceMappingSet = &set[ltBlockDeviceXML]{}
		for _, bd := range d.BlockDeviceMappings {
			b := ltBlockDeviceXML{DeviceName: bd.DeviceName, NoDevice: bd.NoDevice}
			if e := bd.Ebs; e != nil {
				b.Ebs = &ltEbsXML{DeleteOnTermination: e.DeleteOnTermination, Encrypted: e.Encrypted, Iops: e.Iops, KmsKeyID: e.KmsKeyID,
					SnapshotID: e.SnapshotID, Throughput: e.Throughput, VolumeSize: e.VolumeSize, VolumeType: e.VolumeType}
			}
			x.BlockDeviceMappingSet.Items = append(x.BlockDeviceMappingSet.Items, b)
		}
	}
	if len(d.TagSpecifications) > 0 {
		x.TagSpecificationSet = &set[ltTagSpecXML]{}
		for _, ts := range d.TagSpecifications {
			x.TagSpecificationSet.Items = append(x.TagSpecificationSet.Items, ltTagSpecXML{ResourceType: ts.ResourceType, TagSet: tagSet(ts.Tags)})
		}
	}
	return x
}

type launchTemplateVersionXML struct {
	CreateTime         string          `xml:"createTime"`
	CreatedBy          string          `xml:"createdBy"`
	DefaultVersion     bool            `xml:"defaultVersion"`
	LaunchTemplateData templateDataXML `xml:"launchTemplateData"`
	LaunchTemplateID   string          `xml:"launchTemplateId"`
	LaunchTemplateName string          `xml:"launchTemplateName"`
	VersionDescription string          `xml:"versionDescription,omitempty"`
	VersionNumber      int             `xml:"versionNumber"`
}

func versionToXML(lt *compute.LaunchTemplate, v *compute.TemplateVersion) launchTemplateVersionXML {
	return launchTemplateVersionXML{
		CreateTime: ec2TimeOf(v.CreatedAt), CreatedBy: v.CreatedBy, DefaultVersion: v.Number == lt.DefaultVersion,
		LaunchTemplateData: templateDataToXML(v.Data), LaunchTemplateID: lt.ID, LaunchTemplateName: lt.Name,
		VersionDescription: v.Description, VersionNumber: v.Number,
	}
}

// creator is the ARN launch templates record as their creator: berth's
// API does not pass the caller down, and the account's root made them.
func (h *Handler) creator() string { return "arn:aws:iam::" + h.cfg.Account + ":root" }

func (h *Handler) createLaunchTemplate(ctx context.Context, c *call) (any, error) {
	if err := c.checkMembers("LaunchTemplateData.", templateMembers); err != nil {
		return nil, err
	}
	name, err := c.required("LaunchTemplateName")
	if err != nil {
		return nil, err
	}
	if !c.Has("LaunchTemplateData.") {
		return nil, queryapi.Errorf("MissingParameter", "The request must contain the parameter LaunchTemplateData")
	}
	data, err := c.templateData("LaunchTemplateData.")
	if err != nil {
		return nil, err
	}
	tags, err := c.tagSpecifications("launch-template")
	if err != nil {
		return nil, err
	}
	lt, err := h.cfg.Instances.CreateLaunchTemplate(ctx, compute.CreateLaunchTemplateInput{
		Name: name, Description: c.Get("VersionDescription"), Data: data, Tags: tags, CreatedBy: h.creator(),
	})
	if err != nil {
		return nil, computeError(err)
	}
	return &struct {
		XMLName xml.Name `xml:"CreateLaunchTemplateResponse"`
		queryapi.EC2Header
		LaunchTemplate launchTemplateXML `xml:"launchTemplate"`
	}{LaunchTemplate: templateToXML(lt)}, nil
}

func (h *Handler) createLaunchTemplateVersion(ctx context.Context, c *call) (any, error) {
	if err := c.checkMembers("LaunchTemplateData.", templateMembers); err != nil {
		return nil, err
	}
	data, err := c.templateData("LaunchTemplateData.")
	if err != nil {
		return nil, err
	}
	lt, v, err := h.cfg.Instances.CreateLaunchTemplateVersion(ctx, compute.CreateLaunchTemplateVersionInput{
		ID: c.Get("LaunchTemplateId"), Name: c.Get("LaunchTemplateName"), Description: c.Get("VersionDescription"),
		SourceVersion: c.Get("SourceVersion"), Data: data, CreatedBy: h.creator(),
	})
	if err != nil {
		return nil, computeError(err)
	}
	return &struct {
		XMLName xml.Name `xml:"CreateLaunchTemplateVersionResponse"`
		queryapi.EC2Header
		Version launchTemplateVersionXML `xml:"launchTemplateVersion"`
	}{Version: versionToXML(lt, v)}, nil
}

func (h *Handler) describeLaunchTemplates(ctx context.Context, c *call) (any, error) {
	ids, err := c.List("LaunchTemplateId")
	if err != nil {
		return nil, err
	}
	names, err := c.List("LaunchTemplateName")
	if err != nil {
		return nil, err
	}
	filters, err := c.filters(func(n string) bool {
		return n == "launch-template-name" || n == "create-time" || n == "tag-key" || strings.HasPrefix(n, "tag:")
	})
	if err != nil {
		return nil, err
	}
	all, err := h.cfg.Instances.LaunchTemplates(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if !slices.ContainsFunc(all, func(lt *compute.LaunchTemplate) bool { return lt.ID == id }) {
			_, _, err := h.cfg.Instances.LaunchTemplate(ctx, id, "")
			return nil, computeError(err)
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(all, func(lt *compute.LaunchTemplate) bool { return lt.Name == n }) {
			return nil, queryapi.Errorf("InvalidLaunchTemplateName.NotFoundException", "At least one of the launch templates specified in the request does not exist.")
		}
	}
	var out []launchTemplateXML
	for _, lt := range all {
		if len(ids) > 0 && !slices.Contains(ids, lt.ID) || len(names) > 0 && !slices.Contains(names, lt.Name) {
			continue
		}
		x := templateToXML(lt)
		attr := func(name string) []string {
			switch name {
			case "launch-template-name":
				return []string{lt.Name}
			case "create-time":
				return []string{x.CreateTime}
			}
			var tags []tag
			if x.TagSet != nil {
				tags = x.TagSet.Items
			}
			v, _ := tagFilter(name, tags)
			return v
		}
		if matches(attr, filters) {
			out = append(out, x)
		}
	}
	return &struct {
		XMLName xml.Name `xml:"DescribeLaunchTemplatesResponse"`
		queryapi.EC2Header
		LaunchTemplates set[launchTemplateXML] `xml:"launchTemplates"`
	}{LaunchTemplates: set[launchTemplateXML]{Items: out}}, nil
}

func (h *Handler) describeLaunchTemplateVersions(ctx context.Context, c *call) (any, error) {
	lt, _, err := h.cfg.Instances.LaunchTemplate(ctx, c.Get("LaunchTemplateId"), c.Get("LaunchTemplateName"))
	if err != nil {
		return nil, computeError(err)
	}
	wanted, err := c.List("LaunchTemplateVersion")
	if err != nil {
		return nil, err
	}
	var out []launchTemplateVersionXML
	if len(wanted) == 0 {
		for i := len(lt.Versions) - 1; i >= 0; i-- {
			out = append(out, versionToXML(lt, &lt.Versions[i]))
		}
	}
	for _, w := range wanted {
		v, err := lt.Version(w)
		if err != nil {
			return nil, computeError(err)
		}
		out = append(out, versionToXML(lt, v))
	}
	return &struct {
		XMLName xml.Name `xml:"DescribeLaunchTemplateVersionsResponse"`
		queryapi.EC2Header
		Versions set[launchTemplateVersionXML] `xml:"launchTemplateVersionSet"`
	}{Versions: set[launchTemplateVersionXML]{Items: out}}, nil
}

func (h *Handler) modifyLaunchTemplate(ctx context.Context, c *call) (any, error) {
	lt, err := h.cfg.Instances.SetDefaultLaunchTemplateVersion(ctx, c.Get("LaunchTemplateId"), c.Get("LaunchTemplateName"), c.Get("SetDefaultVersion"))
	if err != nil {
		return nil, computeError(err)
	}
	return &struct {
		XMLName xml.Name `xml:"ModifyLaunchTemplateResponse"`
		queryapi.EC2Header
		LaunchTemplate launchTemplateXML `xml:"launchTemplate"`
	}{LaunchTemplate: templateToXML(lt)}, nil
}

func (h *Handler) deleteLaunchTemplate(ctx context.Context, c *call) (any, error) {
	lt, err := h.cfg.Instances.DeleteLaunchTemplate(ctx, c.Get("LaunchTemplateId"), c.Get("LaunchTemplateName"))
	if err != nil {
		return nil, computeError(err)
	}
	return &struct {
		XMLName xml.Name `xml:"DeleteLaunchTemplateResponse"`
		queryapi.EC2Header
		LaunchTemplate launchTemplateXML `xml:"launchTemplate"`
	}{LaunchTemplate: templateToXML(lt)}, nil
}

// RunInstances.

// runMembers are RunInstances' own parameters besides the template data.
var runMembers = append(slices.Clone(templateMembers), "Action", "Version", "DryRun", "MinCount", "MaxCount",
	"SubnetId", "LaunchTemplate", "ClientToken", "PrivateIpAddress")

func (h *Handler) runInstances(ctx context.Context, c *call) (any, error) {
	if err := c.checkMembers("", runMembers); err != nil {
		return nil, err
	}
	minCount, err := c.Int("MinCount")
	if err != nil {
		return nil, err
	}
	maxCount, err := c.Int("MaxCount")
	if err != nil {
		return nil, err
	}
	switch {
	case minCount == nil:
		return nil, queryapi.Errorf("MissingParameter", "The request must contain the parameter MinCount")
	case maxCount == nil:
		return nil, queryapi.Errorf("MissingParameter", "The request must contain the parameter MaxCount")
	case *minCount < 1:
		return nil, queryapi.Errorf("InvalidParameterValue", "Value (%d) for parameter minCount is invalid. Expected a positive integer.", *minCount)
	case *maxCount < 1:
		return nil, queryapi.Errorf("InvalidParameterValue", "Value (%d) for parameter maxCount is invalid. Expected a positive integer.", *maxCount)
	case *minCount > *maxCount:
		return nil, queryapi.Errorf("InvalidParameterValue", "Value (%d) for parameter minCount is invalid. Expected a value less than or equal to maxCount (%d).", *minCount, *maxCount)
	case *minCount > MaxRunInstances:
		return nil, queryapi.Errorf("InstanceLimitExceeded", "You have requested more instances (%d) than your current instance limit of %d allows for the specified instance type.", *minCount, MaxRunInstances)
	}
	count := min(*maxCount, MaxRunInstances)

	// The launch template's data, then the request's on top.
	own, err := c.templateData("")
	if err != nil {
		return nil, err
	}
	data := own
	var ref *compute.TemplateRef
	if c.Has("LaunchTemplate.") {
		lt, _, err := h.cfg.Instances.LaunchTemplate(ctx, c.Get("LaunchTemplate.LaunchTemplateId"), c.Get("LaunchTemplate.LaunchTemplateName"))
		if err != nil {
			return nil, computeError(err)
		}
		v, err := lt.Version(c.Get("LaunchTemplate.Version"))
		if err != nil {
			return nil, computeError(err)
		}
		data = compute.MergeTemplateData(v.Data, own)
		ref = &compute.TemplateRef{ID: lt.ID, Name: lt.Name, Version: v.Number}
	}
	if token := c.Get("ClientToken"); token != "" {
		if out, ok, err := h.sameToken(ctx, token); ok || err != nil {
			return out, err
		}
	}
	spec, err := h.launchSpec(ctx, c, data, ref)
	if err != nil {
		return nil, err
	}
	spec.Reservation = "r-" + compute.NewInstanceID()[2:]
	specs := make([]compute.LaunchSpec, count)
	for i := range specs {
		specs[i] = spec
	}
	if count > 1 && spec.PrivateIP.IsValid() {
		return nil, queryapi.Errorf("InvalidParameterCombination", "Cannot specify a private IP address when launching more than one instance.")
	}
	launched, err := h.cfg.Instances.Launch(ctx, specs)
	if err != nil {
		return nil, computeError(err)
	}
	return h.reservation(launched), nil
}

// sameToken answers a repeated RunInstances with the instances its
// client token launched.
func (h *Handler) sameToken(ctx context.Context, token string) (any, bool, error) {
	all, err := h.instances(ctx)
	if err != nil {
		return nil, false, err
	}
	var mine []*compute.Instance
	for _, in := range all {
		if in.ClientToken == token {
			mine = append(mine, in)
		}
	}
	if len(mine) == 0 {
		return nil, false, nil
	}
	return h.reservation(mine), true, nil
}

type runInstancesResponse struct {
	XMLName xml.Name `xml:"RunInstancesResponse"`
	queryapi.EC2Header
	reservationXML
}

func (h *Handler) reservation(ins []*compute.Instance) *runInstancesResponse {
	out := &runInstancesResponse{}
	out.ReservationID = reservationID(ins[0])
	out.OwnerID = h.cfg.Account
	out.GroupSet = set[groupXML]{Items: []groupXML{}}
	for _, in := range ins {
		out.Instances.Items = append(out.Instances.Items, h.instanceToXML(in))
	}
	return out
}

// launchSpec checks what a launch asks for and turns it into a spec.
func (h *Handler) launchSpec(ctx context.Context, c *call, d compute.TemplateData, ref *compute.TemplateRef) (compute.LaunchSpec, error) {
	sp := compute.LaunchSpec{ImageID: d.ImageID, Type: d.InstanceType, KeyName: d.KeyName, UserData: d.UserData,
		LaunchTemplate: ref, ClientToken: c.Get("ClientToken")}
	if sp.ImageID == "" {
		return sp, queryapi.Errorf("MissingParameter", "The request must contain the parameter ImageId")
	}
	if sp.Type == "" {
		// EC2's default, m1.small, is a previous-generation type berth's
		// catalog does not have.
		return sp, queryapi.Errorf("InvalidParameterValue", "The request must name an InstanceType: the default, m1.small, is not offered.")
	}
	if _, ok := instancetypes.Lookup(sp.Type); !ok {
		return sp, queryapi.Errorf("InvalidParameterValue", "Invalid value '%s' for InstanceType.", sp.Type)
	}
	if err := compute.CheckUserData(sp.UserData); err != nil {
		return sp, computeError(err)
	}
	switch d.MarketType {
	case "":
		sp.CapacityType = compute.OnDemand
	case compute.Spot:
		sp.CapacityType = compute.Spot
	default:
		return sp, queryapi.Errorf("InvalidParameterValue", "Value (%s) for parameter marketType is invalid.", d.MarketType)
	}

	// Network: SubnetId, else the first network interface's, else the
	// default subnet of the zone asked for, or of the first zone.
	subnet := c.Get("SubnetId")
	ip := c.Get("PrivateIpAddress")
	groups := d.SecurityGroupIDs
	if len(d.NetworkInterfaces) > 0 {
		ni := d.NetworkInterfaces[0]
		if subnet != "" && ni.SubnetID != "" {
			return sp, queryapi.Errorf("InvalidParameterCombination", "Network interfaces and an instance-level subnet ID may not be specified on the same request")
		}
		subnet = cmp.Or(subnet, ni.SubnetID)
		ip = cmp.Or(ip, ni.PrivateIPAddress)
		if len(ni.Groups) > 0 {
			groups = ni.Groups
		}
	}
	if subnet == "" {
		az := d.AvailabilityZone
		for _, s := range h.cfg.Network.Subnets {
			if s.Public && (az == "" || s.AZ == az) {
				subnet = s.ID
				break
			}
		}
		if subnet == "" {
			return sp, queryapi.Errorf("InvalidParameterValue", "Invalid availability zone: [%s]", az)
		}
	}
	if !subnetIDRE.MatchString(subnet) {
		return sp, queryapi.Errorf("InvalidSubnetID.Malformed", `Invalid id: "%s" (expecting "subnet-...")`, subnet)
	}
	s, ok := h.cfg.Network.Subnet(subnet)
	if !ok {
		return sp, queryapi.Errorf("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", subnet)
	}
	if d.AvailabilityZone != "" && d.AvailabilityZone != s.AZ {
		return sp, queryapi.Errorf("InvalidParameterValue", "Invalid availability zone: [%s]", d.AvailabilityZone)
	}
	sp.SubnetID = s.ID
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			return sp, queryapi.Errorf("InvalidParameterValue", "Invalid value '%s' for IP address", ip)
		}
		sp.PrivateIP = a
	}
	for _, g := range groups {
		if !sgRE.MatchString(g) {
			return sp, queryapi.Errorf("InvalidGroupId.Malformed", `Invalid id: "%s" (expecting "sg-...")`, g)
		}
		if g != h.cfg.Network.SecurityGroupID {
			return sp, queryapi.Errorf("InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", g, s.VpcID)
		}
	}
	sp.SecurityGroups = groups

	// Tags: the instance's, and the launch template's marks.
	sp.Tags = map[string]string{}
	for _, ts := range d.TagSpecifications {
		switch ts.ResourceType {
		case "instance":
			for k, v := range ts.Tags {
				sp.Tags[k] = v
			}
		case "volume", "network-interface", "spot-instances-request":
		default:
			return sp, queryapi.Errorf("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", ts.ResourceType)
		}
	}
	// The tag berth:provider picks simulated or real nodes; without it
	// the instance gets berth's default provider.
	if p, ok := sp.Tags[compute.TagProvider]; ok {
		if compute.ValidProvider(p) != nil {
			return sp, queryapi.Errorf("InvalidParameterValue", "The value of tag %s must be %s or %s, not '%s'.", compute.TagProvider, compute.ProviderSimulated, compute.ProviderReal, p)
		}
		if h.cfg.CheckProvider != nil {
			if err := h.cfg.CheckProvider(p); err != nil {
				return sp, queryapi.Errorf("InvalidParameterValue", "Instances tagged %s=%s cannot run on this machine: %v", compute.TagProvider, p, err)
			}
		}
	}
	if ref != nil {
		sp.Tags[compute.TagLaunchTemplate] = ref.ID
		sp.Tags["aws:ec2launchtemplate:version"] = strconv.Itoa(ref.Version)
	}

	if p := d.IamInstanceProfile; p != nil {
		if h.cfg.Profiles == nil {
			return sp, queryapi.Errorf("InvalidParameterValue", "Value (%s) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name", p.Ref())
		}
		info, err := h.cfg.Profiles(ctx, p.Ref())
		if err != nil {
			return sp, err
		}
		if info == nil || p.ARN != "" && p.Name != "" && !strings.HasSuffix(info.ARN, "/"+p.Name) {
			if p.ARN != "" {
				return sp, queryapi.Errorf("InvalidParameterValue", "Value (%s) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN", p.ARN)
			}
			return sp, queryapi.Errorf("InvalidParameterValue", "Value (%s) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name", p.Name)
		}
		sp.InstanceProfile = info
	}

	// The node configuration in the user data: the cluster to join. EC2
	// does not read user data; a configuration the node agent cannot use
	// fails on the instance, and says so on its console.
	if sp.UserData != "" {
		raw, _ := base64.StdEncoding.DecodeString(sp.UserData)
		nc, err := nodeconfig.Parse(raw)
		switch {
		case errors.Is(err, nodeconfig.ErrNoConfig):
		case err != nil:
			sp.Join = &compute.Join{Source: "invalid: " + err.Error()}
		default:
			sp.Cluster = nc.ClusterName
			sp.Join = &compute.Join{Endpoint: nc.APIServerEndpoint, CA: nc.CertificateAuthority, Source: nc.Source}
			sp.Node = compute.NodeConfig{Labels: nc.Labels, MaxPods: nc.MaxPods, DiskGiB: 20}
			for _, t := range nc.Taints {
				sp.Node.Taints = append(sp.Node.Taints, compute.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
			}
		}
	}
	if sp.Node.DiskGiB == 0 {
		sp.Node.DiskGiB = 20
	}
	for _, bd := range d.BlockDeviceMappings {
		if bd.DeviceName == "/dev/xvda" && bd.Ebs != nil && bd.Ebs.VolumeSize != nil {
			sp.Node.DiskGiB = *bd.Ebs.VolumeSize
		}
	}
	return sp, nil
}

// GetConsoleOutput.

func (h *Handler) getConsoleOutput(ctx context.Context, c *call) (any, error) {
	id, err := c.required("InstanceId")
	if err != nil {
		return nil, err
	}
	if !instanceIDRE.MatchString(id) {
		return nil, queryapi.Errorf("InvalidInstanceID.Malformed", `Invalid id: "%s"`, id)
	}
	in, _, err := h.cfg.Instances.Instance(ctx, id)
	if err != nil {
		return nil, computeError(err)
	}
	out := &struct {
		XMLName xml.Name `xml:"GetConsoleOutputResponse"`
		queryapi.EC2Header
		InstanceID string `xml:"instanceId"`
		Timestamp  string `xml:"timestamp"`
		Output     string `xml:"output,omitempty"`
	}{InstanceID: in.ID, Timestamp: time.Now().UTC().Format(ec2Time)}
	if in.Console != "" {
		out.Output = base64.StdEncoding.EncodeToString([]byte(in.Console))
	}
	return out, nil
}
