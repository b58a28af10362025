package ec2api

import (
	"context"
	"encoding/xml"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/ebs"
	"github.com/berthproject/berth/internal/queryapi"
)

// The EBS actions: volumes and snapshots of internal/ebs. Errors of the
// service carry EC2's codes already; ebsAction writes them through.

// ebsAction serves an EBS action: it refuses when no EBS service is
// wired, and turns the service's errors into EC2 wire errors.
func (h *Handler) ebsAction(fn func(ctx context.Context, c *call, svc *ebs.Service) (any, error)) action {
	return func(ctx context.Context, c *call) (any, error) {
		if h.cfg.Volumes == nil {
			return nil, queryapi.Errorf("UnsupportedOperation", "The operation %s is not supported: berth runs without its EBS service.", c.Action())
		}
		out, err := fn(ctx, c, h.cfg.Volumes)
		if e, ok := apierror.As(err); ok {
			return nil, queryapi.Errorf(string(e.Kind), "%s", e.Message)
		}
		return out, err
	}
}

// required reads a parameter that must be present and not empty.
func (c *call) required(name string) (string, error) {
	v := c.Get(name)
	if v == "" {
		return "", queryapi.Errorf("MissingParameter", "The request must contain the parameter %s", name)
	}
	return v, nil
}

// optInt reads an optional integer parameter; absent is 0.
func (c *call) optInt(name string) (int, error) {
	n, err := c.Int(name)
	if err != nil || n == nil {
		return 0, err
	}
	return *n, nil
}

// tagSpecifications reads TagSpecification.N (ResourceType and Tag.M.Key,
// Tag.M.Value): the tags for the resource type the action creates.
func (c *call) tagSpecifications(resourceType string) (map[string]string, error) {
	idx, err := c.Indexes("TagSpecification.")
	if err != nil {
		return nil, err
	}
	tags := map[string]string{}
	for _, i := range idx {
		p := "TagSpecification." + strconv.Itoa(i)
		if rt := c.Get(p + ".ResourceType"); rt != resourceType {
			return nil, queryapi.Errorf("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", rt)
		}
		tidx, err := c.Indexes(p + ".Tag.")
		if err != nil {
			return nil, err
		}
		for _, j := range tidx {
			tp := p + ".Tag." + strconv.Itoa(j)
			k := c.Get(tp + ".Key")
			if _, dup := tags[k]; dup {
				return nil, queryapi.Errorf("InvalidParameterValue", "Duplicate tag key '%s' specified.", k)
			}
			tags[k] = c.Get(tp + ".Value")
		}
	}
	if len(tags) == 0 {
		return nil, nil
	}
	return tags, nil
}

// tagSet renders tags sorted by key; nil when there are none, so the
// element is left out as EC2 does.
func tagSet(tags map[string]string) *set[tag] {
	if len(tags) == 0 {
		return nil
	}
	s := &set[tag]{}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		s.Items = append(s.Items, tag{Key: k, Value: tags[k]})
	}
	return s
}

func ec2TimeOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(ec2Time)
}

// volumeFields are the members of EC2's Volume shape. CreateVolume's
// answer holds them directly, DescribeVolumes's items hold them.
type volumeFields struct {
	VolumeID                 string                   `xml:"volumeId"`
	Size                     int                      `xml:"size"`
	SnapshotID               string                   `xml:"snapshotId"`
	AvailabilityZone         string                   `xml:"availabilityZone"`
	AvailabilityZoneID       string                   `xml:"availabilityZoneId,omitempty"`
	Status                   string                   `xml:"status"`
	CreateTime               string                   `xml:"createTime"`
	AttachmentSet            set[volumeAttachmentXML] `xml:"attachmentSet"`
	TagSet                   *set[tag]                `xml:"tagSet,omitempty"`
	VolumeType               string                   `xml:"volumeType"`
	Iops                     int                      `xml:"iops,omitempty"`
	Encrypted                bool                     `xml:"encrypted"`
	KmsKeyID                 string                   `xml:"kmsKeyId,omitempty"`
	MultiAttachEnabled       bool                     `xml:"multiAttachEnabled"`
	Throughput               int                      `xml:"throughput,omitempty"`
	SourceVolumeID           string                   `xml:"sourceVolumeId,omitempty"`
	VolumeInitializationRate int                      `xml:"volumeInitializationRate,omitempty"`
}

// volumeAttachmentXML is EC2's VolumeAttachment shape, the item of an
// attachmentSet and the answer of AttachVolume and DetachVolume.
type volumeAttachmentXML struct {
	VolumeID            string `xml:"volumeId"`
	InstanceID          string `xml:"instanceId"`
	Device              string `xml:"device"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

func volumeToXML(v *ebs.Volume) volumeFields {
	x := volumeFields{
		VolumeID:                 v.ID,
		Size:                     v.SizeGiB,
		SnapshotID:               v.SnapshotID,
		AvailabilityZone:         v.AZ,
		AvailabilityZoneID:       v.AZID,
		Status:                   v.State,
		CreateTime:               ec2TimeOf(v.CreateTime),
		TagSet:                   tagSet(v.Tags),
		VolumeType:               v.Type,
		Iops:                     v.IOPS,
		Encrypted:                v.Encrypted,
		KmsKeyID:                 v.KMSKeyID,
		MultiAttachEnabled:       v.MultiAttach,
		Throughput:               v.Throughput,
		SourceVolumeID:           v.SourceVolumeID,
		VolumeInitializationRate: v.InitializationRate,
	}
	for _, a := range v.Attachments {
		x.AttachmentSet.Items = append(x.AttachmentSet.Items, attachmentToXML(v.ID, a))
	}
	return x
}

func attachmentToXML(volumeID string, a ebs.Attachment) volumeAttachmentXML {
	return volumeAttachmentXML{
		VolumeID: volumeID, InstanceID: a.InstanceID, Device: a.Device, Status: a.State,
		AttachTime: ec2TimeOf(a.AttachTime), DeleteOnTermination: a.DeleteOnTermination,
	}
}

type createVolumeResponse struct {
	XMLName xml.Name `xml:"CreateVolumeResponse"`
	queryapi.EC2Header
	volumeFields
}

func (h *Handler) createVolume(ctx context.Context, c *call, svc *ebs.Service) (any, error) {
	in := ebs.CreateVolumeInput{
		AZ:          c.Get("AvailabilityZone"),
		AZID:        c.Get("AvailabilityZoneId"),
		Type:        c.Get("VolumeType"),
		KMSKeyID:    c.Get("KmsKeyId"),
		SnapshotID:  c.Get("SnapshotId"),
		ClientToken: c.Get("ClientToken"),
	}
	var err error
	if in.SizeGiB, err = c.optInt("Size"); err != nil {
		return nil, err
	}
	if in.IOPS, err = c.optInt("Iops"); err != nil {
		return nil, err
	}
	if in.Throughput, err = c.optInt("Throughput"); err != nil {
		return nil, err
	}
	if in.InitializationRate, err = c.optInt("VolumeInitializationRate"); err != nil {
		return nil, err
	}
	if in.Encrypted, err = c.flag("Encrypted"); err != nil {
		return nil, err
	}
	if in.MultiAttach, err = c.flag("MultiAttachEnabled"); err != nil {
		return nil, err
	}
	if c.Get("OutpostArn") != "" {
		return nil, queryapi.Errorf("InvalidParameterValue", "berth has no Outposts: the parameter OutpostArn is not supported.")
	}
	if in.Tags, err = c.tagSpecifications("volume"); err != nil {
		return nil, err
	}
	v, err := svc.CreateVolume(ctx, in)
	if err != nil {
		return nil, err
	}
	x := volumeToXML(v)
	x.Status = ebs.StateCreating // as EC2 answers; the volume is available by now
	return &createVolumeResponse{volumeFields: x}, nil
}

// volumeIDs reads VolumeId.N: distinct, in request order, each well
// formed.
func (c *call) volumeIDs() ([]string, error) {
	ids, err := c.List("VolumeId")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		if !ebs.ValidVolumeID(id) {
			return nil, queryapi.Errorf("InvalidVolumeID.Malformed", "Invalid id: \"%s\" (expecting \"vol-...\")", id)
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// missingError is EC2's not-found error for one or more ids.
func missingError(code, what string, missing []string) *queryapi.Error {
	if len(missing) == 1 {
		return queryapi.Errorf(code, "The %s '%s' does not exist.", what, missing[0])
	}
	return queryapi.Errorf(code, "The %ss '%s' do not exist.", what, strings.Join(missing, "', '"))
}

type describeVolumesResponse struct {
	XMLName xml.Name `xml:"DescribeVolumesResponse"`
	queryapi.EC2Header
	VolumeSet set[volumeFields] `xml:"volumeSet"`
	NextToken string            `xml:"nextToken,omitempty"`
}

// volumeAttr returns a volume's values for a DescribeVolumes filter; ok
// is false for filter names berth does not support.
func volumeAttr(x volumeFields, name string) (values []string, ok bool) {
	var tags []tag
	if x.TagSet != nil {
		tags = x.TagSet.Items
	}
	if v, ok := tagFilter(name, tags); ok {
		return v, true
	}
	one := func(s string) []string {
		if s == "" {
			return []string{}
		}
		return []string{s}
	}
	each := func(f func(volumeAttachmentXML) string) []string {
		out := []string{}
		for _, a := range x.AttachmentSet.Items {
			out = append(out, f(a))
		}
		return out
	}
	switch name {
	case "volume-id":
		return one(x.VolumeID), true
	case "status":
		return one(x.Status), true
	case "availability-zone":
		return one(x.AvailabilityZone), true
	case "availability-zone-id":
		return one(x.AvailabilityZoneID), true
	case "size":
		return []string{strconv.Itoa(x.Size)}, true
	case "volume-type":
		return one(x.VolumeType), true
	case "snapshot-id":
		return one(x.SnapshotID), true
	case "encrypted":
		return []string{strconv.FormatBool(x.Encrypted)}, true
	case "multi-attach-enabled":
		return []string{strconv.FormatBool(x.MultiAttachEnabled)}, true
	case "create-time":
		return one(x.CreateTime), true
	case "iops":
		return []string{strconv.Itoa(x.Iops)}, true
	case "throughput":
		return []string{strconv.Itoa(x.Throughput)}, true
	case "fast-restored":
		return []string{"false"}, true
	case "attachment.instance-id":
		return each(func(a volumeAttachmentXML) string { return a.InstanceID }), true
	case "attachment.status":
		return each(func(a volumeAttachmentXML) string { return a.Status }), true
	case "attachment.device":
		return each(func(a volumeAttachmentXML) string { return a.Device }), true
	case "attachment.attach-time":
		return each(func(a volumeAttachmentXML) string { return a.AttachTime }), true
	case "attachment.delete-on-termination":
		return each(func(a volumeAttachmentXML) string { return strconv.FormatBool(a.DeleteOnTermination) }), true
	}
	return nil, false
}

func (h *Handler) describeVolumes(ctx context.Context, c *call, svc *ebs.Service) (any, error) {
	ids, err := c.volumeIDs()
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 && c.Get("MaxResults") != "" {
		return nil, queryapi.Errorf("InvalidParameterCombination", "The parameter volumeSet cannot be used with the parameter maxResults")
	}
	filters, err := c.filters(func(name string) bool {
		_, ok := volumeAttr(volumeFields{}, name)
		return ok || isTagFilter(name)
	})
	if err != nil {
		return nil, err
	}
	all, err := svc.Volumes(ctx)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, id := range ids {
		if !slices.ContainsFunc(all, func(v *ebs.Volume) bool { return v.ID == id }) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, missingError("InvalidVolume.NotFound", "volume", missing)
	}
	var out []volumeFields
	for _, v := range all {
		if len(ids) > 0 && !slices.Contains(ids, v.ID) {
			continue
		}
		x := volumeToXML(v)
		if matches(func(name string) []string { vs, _ := volumeAttr(x, name); return vs }, filters) {
			out = append(out, x)
		}
	}
	from, to, next, err := c.paginate(page{min: 5, max: 500, capped: true}, len(out))
	if err != nil {
		return nil, err
	}
	return &describeVolumesResponse{VolumeSet: set[volumeFields]{Items: out[from:to]}, NextToken: next}, nil
}

type attachVolumeResponse struct {
	XMLName xml.Name `xml:"AttachVolumeResponse"`
	queryapi.EC2Header
	volumeAttachmentXML
}

func (h *Handler) attachVolume(ctx context.Context, c *call, svc *ebs.Service) (any, error) {
	vol, err := c.required("VolumeId")
	if err != nil {
		return nil, err
	}
	instance, err := c.required("InstanceId")
	if err != nil {
		return nil, err
	}
	device, err := c.required("Device")
	if err != nil {
		return nil, err
	}
	if !instanceIDRE.MatchString(instance) {
		return nil, queryapi.Errorf("InvalidInstanceID.Malformed", "Invalid id: %q", instance)
	}
	if n, err := c.optInt("EbsCardIndex"); err != nil {
		return nil, err
	} else if n != 0 {
		return nil, queryapi.Errorf("InvalidParameterValue", "The EBS card index %d is not valid; berth's instance types have one EBS card.", n)
	}
	a, err := svc.AttachVolume(ctx, vol, instance, device)
	if err != nil {
		return nil, err
	}
	return &attachVolumeResponse{volumeAttachmentXML: attachmentToXML(vol, a)}, nil
}

type detachVolumeResponse struct {
	XMLName xml.Name `xml:"DetachVolumeResponse"`
	queryapi.EC2Header
	volumeAttachmentXML
}

func (h *Handler) detachVolume(ctx context.Context, c *call, svc *ebs.Service) (any, error) {
	in := ebs.DetachVolumeInput{InstanceID: c.Get("InstanceId"), Device: c.Get("Device")}
	var err error
	if in.VolumeID, err = c.required("VolumeId"); err != nil {
		return nil, err
	}
	if in.Force, err = c.flag("Force"); err != nil {
		return nil, err
	}
	a, err := svc.DetachVolume(ctx, in)
	if err != nil {
		return nil, err
	}
	return &detachVolumeResponse{volumeAttachmentXML: attachmentToXML(in.VolumeID, a)}, nil
}

// returnResponse is the answer of the actions that answer only true.
type returnResponse struct {
	XMLName xml.Name
	queryapi.EC2Header
	Return bool `xml:"return"`
}

func (h *Handler) deleteVolume(ctx context.Context, c *call, svc *ebs.Service) (any, error) {
	id, err := c.required("VolumeId")
	if err != nil {
		return nil, err
	}
	if err := svc.DeleteVolume(ctx, id); err != nil {
		return nil, err
	}
	return &returnResponse{XMLName: xml.Name{Local: "DeleteVolumeResponse"}, Return: true}, nil
}

// volumeModificationXML is EC2's VolumeModification shape.
type volumeModificationXML struct {
	VolumeID                   string `xml:"volumeId"`
	ModificationState          string `xml:"modificationState"`
	StatusMessage              string `xml:"statusMessage,omitempty"`
	TargetSize                 int    `xml:"targetSize"`
	TargetIops                 int    `xml:"targetIops,omitempty"`
	TargetVolumeType           string `xml:"targetVolumeType"`
	TargetThroughput           int    `xml:"targetThroughput,omitempty"`
	TargetMultiAttachEnabled   bool   `xml:"targetMultiAttachEnabled"`
	OriginalSize               int    `xml:"originalSize"`
	OriginalIops               int    `xml:"originalIops,omitempty"`
	OriginalVolumeType         string `xml:"originalVolumeType"`
	OriginalThroughput         int    `xml:"originalThroughput,omitempty"`
	OriginalMultiAttachEnabled bool   `xml:"originalMultiAttachEnabled"`
	Progress                   int    `xml:"progress"`
	StartTime                  string `xml:"startTime"`
	EndTime                    string `xml:"endTime,omitempty"`
}

func modificationToXML(m *ebs.Modification, now time.Time) volumeModificationXML {
	return volumeModificationXML{
		VolumeID:                   m.VolumeID,
		ModificationState:          m.State(now),
		StatusMessage:              m.StatusMessage,
		TargetSize:                 m.TargetSize,
		TargetIops:                 m.TargetIOPS,
		TargetVolumeType:           m.TargetType,
		TargetThroughput:           m.TargetThroughput,
		TargetMultiAttachEnabled:   m.TargetMultiAttach,
		OriginalSize:               m.OriginalSize,
		OriginalIops:               m.OriginalIOPS,
		OriginalVolumeType:         m.OriginalType,
		OriginalThroughput:         m.OriginalThroughput,
		OriginalMultiAttachEnabled: m.OriginalMultiAttach,
		Progress:                   m.Progress(now),
		StartTime:                  ec2TimeOf(m.StartTime),
		EndTime:                    ec2TimeOf(m.EndTime(now)),
	}
}

type modifyVolumeResponse struct {
	XMLName xml.Name `xml:"ModifyVolumeResponse"`
	queryapi.EC2Header
	VolumeModification volumeModificationXML `xml:"volumeModification"`
}

func (h *Handler) modifyVolume(ctx context.Context, c *call, svc *ebs.Service) (any, error) {
	in := ebs.ModifyVolumeInput{Type: c.Opt("VolumeType")}
	var err error
	if in.VolumeID, err = c.required("VolumeId"); err != nil {
		return nil, err
	}
	if in.SizeGiB, err = c.Int("Size"); err != nil {
		return nil, err
	}
	if in.IOPS, err = c.Int("Iops"); err != nil {
		return nil, err
	}
	if in.Throughput, err = c.Int("Throughput"); err != nil {
		return nil, err
	}
	if in.MultiAttach, err = c.Bool("MultiAttachEnabled"); err != nil {
		return nil, err
	}
	m, err := svc.ModifyVolume(ctx, in)
	if err != nil {
		return nil, err
	}
	return &modifyVolumeResponse{VolumeModification: modificationToXML(m, m.StartTime)}, nil
}

type describeVolumesModificationsResponse struct {
	XMLName xml.Name `xml:"DescribeVolumesModificationsResponse"`
	queryapi.EC2Header
	VolumeModificationSet set[volumeModificationXML] `xml:"volumeModificationSet"`
	NextToken             string                     `xml:"nextToken,omitempty"`
}

// modificationAttr returns a modification's values for a
// DescribeVolumesModifications filter; ok is false for other names.
func modificationAttr(x volumeModificationXML, name string) ([]string, bool) {
	switch name {
	case "volume-id":
		return []string{x.VolumeID}, true
	case "modification-state":
		return []string{x.ModificationState}, true
	case "target-size":
		return []string{strconv.Itoa(x.TargetSize)}, true
	case "target-iops":
		return []string{strconv.Itoa(x.TargetIops)}, true
	case "target-volume-type":
		return []string{x.TargetVolumeType}, true
	case "target-throughput":
		return []string{strconv.Itoa(x.TargetThroughput)}, true
	case "target-multi-attach-enabled":
		return []string{strconv.FormatBool(x.TargetMultiAttachEnabled)}, true
	case "original-size":
		return []string{strconv.Itoa(x.OriginalSize)}, true
	case "original-iops":
		return []string{strconv.Itoa(x.OriginalIops)}, true
	case "original-volume-type":
		return []string{x.OriginalVolumeType}, true
	case "original-throughput":
		return []string{strconv.Itoa(x.OriginalThroughput)}, true
	case "original-multi-attach-enabled":
		return []string{strconv.FormatBool(x.OriginalMultiAttachEnabled)}, true
	case "start-time":
		return []string{x.StartTime}, true
	}
	return nil, false
}

func (h *Handler) describeVolumesModifications(ctx context.Context, c *call, svc *ebs.Service) (any, error) {
	ids, err := c.volumeIDs()
	if err != nil {
		return nil, err
	}
	filters, err := c.filters(func(name string) bool {
		_, ok := modificationAttr(volumeModificationXML{}, name)
		return ok
	})
	if err != nil {
		return nil, err
	}
	mods, err := svc.Modifications(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if !slices.ContainsFunc(mods, func(m *ebs.Modification) bool { return m.VolumeID == id }) {
			if _, err := svc.Volume(ctx, id); err != nil {
				return nil, err
			}
			return nil, queryapi.Errorf("InvalidVolumeModification.NotFound", "Modification for volume '%s' does not exist.", id)
		}
	}
	now := svc.Now()
	var out []volumeModificationXML
	for _, m := range mods {
		if len(ids) > 0 && !slices.Contains(ids, m.VolumeID) {
			continue
		}
		x := modificationToXML(m, now)
		if matches(func(name string) []string { vs, _ := modificationAttr(x, name); return vs }, filters) {
			out = append(out, x)
		}
	}
	from, to, next, err := c.paginate(page{min: 1, max: 500}, len(out))
	if err != nil {
		return nil, err
	}
	return &describeVolumesModificationsResponse{VolumeModificationSet: set[volumeModificationXML]{Items: out[from:to]}, NextToken: next}, nil
}

// snapshotFields are the members of EC2's Snapshot shape.
type snapshotFields struct {
	SnapshotID              string    `xml:"snapshotId"`
	VolumeID                string    `xml:"volumeId"`
	Status                  string    `xml:"status"`
	StatusMessage           string    `xml:"statusMessage,omitempty"`
	StartTime               string    `xml:"startTime"`
	Progress                string    `xml:"progress"`
	OwnerID                 string    `xml:"ownerId"`
	VolumeSize              int       `xml:"volumeSize"`
	Description             string    `xml:"description"`
	Encrypted               bool      `xml:"encrypted"`
	KmsKeyID                string    `xml:"kmsKeyId,omitempty"`
	TagSet                  *set[tag] `xml:"tagSet,omitempty"`
	StorageTier             string    `xml:"storageTier"`
	AvailabilityZone        string    `xml:"availabilityZone,omitempty"`
	CompletionTime          string    `xml:"completionTime,omitempty"`
	FullSnapshotSizeInBytes int64     `xml:"fullSnapshotSizeInBytes,omitempty"`
}

func (h *Handler) snapshotToXML(s *ebs.Snapshot) snapshotFields {
	return snapshotFields{
		SnapshotID:              s.ID,
		VolumeID:                s.VolumeID,
		Status:                  s.State,
		StatusMessage:           s.StateMessage,
		StartTime:               ec2TimeOf(s.StartTime),
		Progress:                s.Progress(),
		OwnerID:                 h.cfg.Account,
		VolumeSize:              s.VolumeSizeGiB,
		Description:             s.Description,
		Encrypted:               s.Encrypted,
		KmsKeyID:                s.KMSKeyID,
		TagSet:                  tagSet(s.Tags),
		StorageTier:             "standard",
		CompletionTime:          ec2TimeOf(s.CompletionTime),
		FullSnapshotSizeInBytes: s.DataBytes,
	}
}

type createSnapshotResponse struct {
	XMLName xml.Name `xml:"CreateSnapshotResponse"`
	queryapi.EC2Header
	snapshotFields
}

func (h *Handler) createSnapshot(ctx context.Context, c *call, svc *ebs.Service) (any, error) {
	in := ebs.CreateSnapshotInput{Description: c.Get("Description")}
	var err error
	if in.VolumeID, err = c.required("VolumeId"); err != nil {
		return nil, err
	}
	if c.Get("OutpostArn") != "" {
		return nil, queryapi.Errorf("InvalidParameterValue", "berth has no Outposts: the parameter OutpostArn is not supported.")
	}
	if in.Tags, err = c.tagSpecifications("snapshot"); err != nil {
		return nil, err
	}
	s, err := svc.CreateSnapshot(ctx, in)
	if err != nil {
		return nil, err
	}
	return &createSnapshotResponse{snapshotFields: h.snapshotToXML(s)}, nil
}

type describeSnapshotsResponse struct {
	XMLName xml.Name `xml:"DescribeSnapshotsResponse"`
	queryapi.EC2Header
	SnapshotSet set[snapshotFields] `xml:"snapshotSet"`
	NextToken   string              `xml:"nextToken,omitempty"`
}

// snapshotAttr returns a snapshot's values for a DescribeSnapshots
// filter; ok is false for filter names berth does not support.
func snapshotAttr(x snapshotFields, name string) ([]string, bool) {
	var tags []tag
	if x.TagSet != nil {
		tags = x.TagSet.Items
	}
	if v, ok := tagFilter(name, tags); ok {
		return v, true
	}
	switch name {
	case "snapshot-id":
		return []string{x.SnapshotID}, true
	case "volume-id":
		return []string{x.VolumeID}, true
	case "status":
		return []string{x.Status}, true
	case "progress":
		return []string{x.Progress}, true
	case "owner-id":
		return []string{x.OwnerID}, true
	case "owner-alias":
		return []string{}, true
	case "volume-size":
		return []string{strconv.Itoa(x.VolumeSize)}, true
	case "description":
		return []string{x.Description}, true
	case "encrypted":
		return []string{strconv.FormatBool(x.Encrypted)}, true
	case "start-time":
		return []string{x.StartTime}, true
	case "storage-tier":
		return []string{x.StorageTier}, true
	}
	return nil, false
}

func (h *Handler) describeSnapshots(ctx context.Context, c *call, svc *ebs.Service) (any, error) {
	ids, err := c.List("SnapshotId")
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if !ebs.ValidSnapshotID(id) {
			return nil, queryapi.Errorf("InvalidSnapshotID.Malformed", "Invalid id: \"%s\" (expecting \"snap-...\")", id)
		}
	}
	if len(ids) > 0 && c.Get("MaxResults") != "" {
		return nil, queryapi.Errorf("InvalidParameterCombination", "The parameter snapshotSet cannot be used with the parameter maxResults")
	}
	owners, err := c.List("Owner")
	if err != nil {
		return nil, err
	}
	restorable, err := c.List("RestorableBy")
	if err != nil {
		return nil, err
	}
	filters, err := c.filters(func(name string) bool {
		_, ok := snapshotAttr(snapshotFields{}, name)
		return ok || isTagFilter(name)
	})
	if err != nil {
		return nil, err
	}
	all, err := svc.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, id := range ids {
		if !slices.ContainsFunc(all, func(s *ebs.Snapshot) bool { return s.ID == id }) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, missingError("InvalidSnapshot.NotFound", "snapshot", missing)
	}
	// Every snapshot is the account's own: owners other than self and the
	// account (amazon, aws-marketplace, other accounts) own none of them.
	mine := func(list []string) bool {
		return len(list) == 0 || slices.ContainsFunc(list, func(o string) bool {
			return o == "self" || o == h.cfg.Account || o == "all"
		})
	}
	var out []snapshotFields
	if mine(owners) && mine(restorable) {
		for _, s := range all {
			if len(ids) > 0 && !slices.Contains(ids, s.ID) {
				continue
			}
			x := h.snapshotToXML(s)
			if matches(func(name string) []string { vs, _ := snapshotAttr(x, name); return vs }, filters) {
				out = append(out, x)
			}
		}
	}
	from, to, next, err := c.paginate(page{min: 5, max: 1000, capped: true}, len(out))
	if err != nil {
		return nil, err
	}
	return &describeSnapshotsResponse{SnapshotSet: set[snapshotFields]{Items: out[from:to]}, NextToken: next}, nil
}

func (h *Handler) deleteSnapshot(ctx context.Context, c *call, svc *ebs.Service) (any, error) {
	id, err := c.required("SnapshotId")
	if err != nil {
		return nil, err
	}
	if err := svc.DeleteSnapshot(ctx, id); err != nil {
		return nil, err
	}
	return &returnResponse{XMLName: xml.Name{Local: "DeleteSnapshotResponse"}, Return: true}, nil
}
