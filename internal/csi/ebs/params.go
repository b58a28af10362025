package ebs

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"text/template"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ebsvc "github.com/berthproject/berth/internal/ebs"
)

// DriverName is the CSI driver's name.
const DriverName = "ebs.csi.aws.com"

// Topology keys: the driver's own zone key, the well-known one, and the
// OS key the real driver's nodes report.
const (
	ZoneTopologyKey          = "topology.ebs.csi.aws.com/zone"
	WellKnownZoneTopologyKey = "topology.kubernetes.io/zone"
	OSTopologyKey            = "kubernetes.io/os"
)

// The StorageClass parameters of the real driver (docs/parameters.md and
// pkg/driver/constants.go of kubernetes-sigs/aws-ebs-csi-driver), lower
// case: keys are matched without regard to case, except the fstype key
// of the external provisioner.
const (
	paramType                          = "type"
	paramIOPSPerGB                     = "iopspergb"
	paramAllowAutoIOPSPerGBIncrease    = "allowautoiopspergbincrease"
	paramAllowAutoIOPSIncreaseOnModify = "allowautoiopsincreaseonmodify"
	paramIOPS                          = "iops"
	paramThroughput                    = "throughput"
	paramEncrypted                     = "encrypted"
	paramKMSKeyID                      = "kmskeyid"
	paramVolumeInitializationRate      = "volumeinitializationrate"
	paramBlockExpress                  = "blockexpress"
	paramBlockAttachUntilInitialized   = "blockattachuntilinitialized"
	paramLegacyFSType                  = "fstype"
	paramFSType                        = "csi.storage.k8s.io/fstype"
	paramPVCName                       = "csi.storage.k8s.io/pvc/name"
	paramPVCNamespace                  = "csi.storage.k8s.io/pvc/namespace"
	paramPVName                        = "csi.storage.k8s.io/pv/name"
	paramTagPrefix                     = "tagspecification"

	// Formatting options: they travel to the node in the volume context,
	// under these (the real driver's) keys.
	BlockSizeKey             = "blocksize"
	InodeSizeKey             = "inodesize"
	BytesPerInodeKey         = "bytesperinode"
	NumberOfInodesKey        = "numberofinodes"
	Ext4BigAllocKey          = "ext4bigalloc"
	Ext4ClusterSizeKey       = "ext4clustersize"
	Ext4EncryptionSupportKey = "ext4encryptionsupport"

	// The snapshot class parameters the external snapshotter passes.
	paramSnapshotName        = "csi.storage.k8s.io/volumesnapshot/name"
	paramSnapshotNamespace   = "csi.storage.k8s.io/volumesnapshot/namespace"
	paramSnapshotContentName = "csi.storage.k8s.io/volumesnapshotcontent/name"
)

// The tags the real driver puts on what it creates.
const (
	VolumeNameTagKey     = "CSIVolumeName"
	SnapshotNameTagKey   = "CSIVolumeSnapshotName"
	ManagedTagKey        = DriverName + "/cluster"
	ClusterNameTagKey    = DriverName + "/cluster-name"
	IOPSPerGBTagKey      = DriverName + "/IOPSPerGb"
	AutoIOPSTagKey       = DriverName + "/AllowAutoIOPSIncreaseOnModify"
	PVCNameTag           = "kubernetes.io/created-for/pvc/name"
	PVCNamespaceTag      = "kubernetes.io/created-for/pvc/namespace"
	PVNameTag            = "kubernetes.io/created-for/pv/name"
	NameTag              = "Name"
	KubernetesClusterTag = "KubernetesCluster"
	clusterTagPrefix     = "kubernetes.io/cluster/"
)

// Filesystem types the node formats, and the formatting options each
// refuses (the real driver's FileSystemConfigs).
var fsUnsupported = map[string][]string{
	"ext2": {Ext4BigAllocKey, Ext4ClusterSizeKey, Ext4EncryptionSupportKey},
	"ext3": {Ext4BigAllocKey, Ext4ClusterSizeKey, Ext4EncryptionSupportKey},
	"ext4": {},
	"xfs":  {BytesPerInodeKey, NumberOfInodesKey, Ext4BigAllocKey, Ext4ClusterSizeKey, Ext4EncryptionSupportKey},
}

// defaultFSType is what a mount volume is formatted with when nothing
// names a type.
const defaultFSType = "ext4"

// createParams are the parsed parameters of a CreateVolume.
type createParams struct {
	volumeType        string
	iops, iopsPerGB   int
	allowIOPSIncrease bool
	throughput        int
	encrypted         bool
	kmsKeyID          string
	initRate          int
	fsType            string
	tags              map[string]string
	tagTemplates      []string
	props             tagProps
	// context is the volume context: the formatting options for the node.
	context map[string]string
}

// tagProps are what tagSpecification templates may use.
type tagProps struct {
	PVCName, PVCNamespace, PVName                                          string
	VolumeSnapshotName, VolumeSnapshotNamespace, VolumeSnapshotContentName string
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func parseInt(key, value string) (int, error) {
	n, err := strconv.ParseInt(value, 10, 32)
	if err != nil || n < 0 {
		return 0, invalid("Could not parse invalid %s: %q is not a non-negative integer", key, value)
	}
	return int(n), nil
}

func parseBool(key, value string) (bool, error) {
	switch strings.ToLower(value) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalid("Could not parse %s: %q is neither true nor false", key, value)
}

// parseCreateParams reads the parameters of a CreateVolume request and
// checks the formatting options against the volume capabilities.
func parseCreateParams(params map[string]string, caps []*csi.VolumeCapability) (*createParams, error) {
	p := &createParams{tags: map[string]string{}, context: map[string]string{}}
	var err error
	format := map[string]string{}
	for key, value := range params {
		if key == paramFSType {
			p.fsType = value
			continue
		}
		switch strings.ToLower(key) {
		case paramType:
			if _, ok := ebsvc.Limits(value); !ok {
				return nil, invalid("Invalid volume type %q: valid types are %s", value, strings.Join(ebsvc.VolumeTypes(), ", "))
			}
			p.volumeType = value
		case paramIOPSPerGB:
			if p.iopsPerGB, err = parseInt("iopsPerGB", value); err != nil {
				return nil, err
			}
			p.tags[IOPSPerGBTagKey] = strconv.Itoa(p.iopsPerGB)
		case paramAllowAutoIOPSPerGBIncrease:
			if p.allowIOPSIncrease, err = parseBool("allowAutoIOPSPerGBIncrease", value); err != nil {
				return nil, err
			}
		case paramAllowAutoIOPSIncreaseOnModify:
			b, err := parseBool("allowAutoIOPSIncreaseOnModify", value)
			if err != nil {
				return nil, err
			}
			p.tags[AutoIOPSTagKey] = strconv.FormatBool(b)
		case paramIOPS:
			if p.iops, err = parseInt("iops", value); err != nil {
				return nil, err
			}
		case paramThroughput:
			if p.throughput, err = parseInt("throughput", value); err != nil {
				return nil, err
			}
		case paramEncrypted:
			if p.encrypted, err = parseBool("encrypted", value); err != nil {
				return nil, err
			}
		case paramKMSKeyID:
			p.kmsKeyID = value
		case paramVolumeInitializationRate:
			if p.initRate, err = parseInt("volumeInitializationRate", value); err != nil {
				return nil, err
			}
		case paramBlockExpress:
			// Deprecated in the real driver: every io2 volume is Block Express.
		case paramBlockAttachUntilInitialized:
			if _, err := parseBool("blockAttachUntilInitialized", value); err != nil {
				return nil, err
			}
		case paramLegacyFSType:
			if p.fsType == "" {
				p.fsType = value
			}
		case paramPVCName:
			p.tags[PVCNameTag], p.props.PVCName = value, value
		case paramPVCNamespace:
			p.tags[PVCNamespaceTag], p.props.PVCNamespace = value, value
		case paramPVName:
			p.tags[PVNameTag], p.props.PVName = value, value
		case BlockSizeKey, InodeSizeKey, BytesPerInodeKey, NumberOfInodesKey, Ext4ClusterSizeKey:
			if _, err := parseInt(key, value); err != nil || value == "0" {
				return nil, invalid("Could not parse %s (%s): a positive integer is expected", key, value)
			}
			format[strings.ToLower(key)] = value
		case Ext4BigAllocKey, Ext4EncryptionSupportKey:
			b, err := parseBool(key, value)
			if err != nil {
				return nil, err
			}
			if b {
				format[strings.ToLower(key)] = "true"
			}
		default:
			if strings.HasPrefix(strings.ToLower(key), paramTagPrefix) {
				p.tagTemplates = append(p.tagTemplates, value)
				continue
			}
			return nil, invalid("Invalid parameter key %s for CreateVolume", key)
		}
	}
	if p.iops > 0 && p.iopsPerGB > 0 {
		return nil, invalid("Invalid StorageClass parameters; specify either iops or iopsPerGB, not both")
	}
	if p.fsType != "" {
		if _, ok := fsUnsupported[p.fsType]; !ok {
			return nil, invalid("Invalid fsType %q: supported are ext2, ext3, ext4 and xfs", p.fsType)
		}
	}
	if format[Ext4ClusterSizeKey] != "" && format[Ext4BigAllocKey] == "" {
		return nil, invalid("Cannot set ext4BigAllocClusterSize when ext4BigAlloc is false")
	}
	for opt, value := range format {
		if err := checkFormatOption(caps, opt, p.fsType); err != nil {
			return nil, err
		}
		p.context[opt] = value
	}
	return p, nil
}

// checkFormatOption refuses a formatting option that a capability cannot
// use: block volumes are not formatted, and some options belong to some
// filesystems only.
func checkFormatOption(caps []*csi.VolumeCapability, opt, paramFS string) error {
	for _, c := range caps {
		if c.GetBlock() != nil {
			return invalid("Cannot use %s with block volume", opt)
		}
		fs := c.GetMount().GetFsType()
		if fs == "" {
			fs = paramFS
		}
		if fs == "" {
			fs = defaultFSType
		}
		unsupported, ok := fsUnsupported[fs]
		if !ok {
			return invalid("Invalid fsType %q: supported are ext2, ext3, ext4 and xfs", fs)
		}
		for _, u := range unsupported {
			if u == opt {
				return invalid("Cannot use %s with fstype %s", opt, fs)
			}
		}
	}
	return nil
}

// evaluateTags turns tagSpecification values ("key=value", the value a
// Go template over the PVC's and PV's names) into tags, and refuses the
// keys the driver keeps for itself.
func evaluateTags(templates []string, props tagProps) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range templates {
		key, value, ok := strings.Cut(s, "=")
		if !ok {
			return nil, invalid("Error interpolating tag value: the key-value pair doesn't contain a value (string: %s)", s)
		}
		t, err := template.New("tag").Funcs(template.FuncMap{
			"toUpper": strings.ToUpper, "toLower": strings.ToLower, "contains": strings.Contains,
		}).Option("missingkey=error").Parse(value)
		if err != nil {
			return nil, invalid("Error interpolating tag value: %v", err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, props); err != nil {
			return nil, invalid("Error interpolating tag value: %v", err)
		}
		if err := checkTagKey(key); err != nil {
			return nil, err
		}
		out[key] = b.String()
	}
	return out, nil
}

func checkTagKey(k string) error {
	switch {
	case k == VolumeNameTagKey || k == SnapshotNameTagKey || k == ClusterNameTagKey:
		return invalid("Invalid tag value: tag key '%s' is reserved", k)
	case strings.HasPrefix(k, "kubernetes.io"):
		return invalid("Invalid tag value: tag key prefix 'kubernetes.io' is reserved")
	case strings.HasPrefix(k, DriverName+"/"):
		return invalid("Invalid tag value: tag key prefix '%s/' is reserved", DriverName)
	}
	return nil
}

// capIOPS fits requested IOPS into what the type allows at the size, as
// the real driver does: above the maximum they are capped; below the
// minimum they are raised when allowed, else left for EC2 to refuse.
func capIOPS(l ebsvc.TypeLimits, sizeGiB, iops int, allowIncrease bool) int {
	if iops == 0 || !l.IOPSSettable {
		return iops
	}
	if iops < l.MinIOPS && allowIncrease {
		iops = l.MinIOPS
	}
	if iops > l.MaxIOPS {
		iops = l.MaxIOPS
	}
	if byCapacity := l.MaxIOPSPerGiB * sizeGiB; byCapacity >= l.MinIOPS && iops > byCapacity {
		iops = max(byCapacity, l.DefaultIOPS)
	}
	return iops
}

// formatOptions turns the volume context's formatting options into mkfs
// arguments for a filesystem type.
func formatOptions(ctx map[string]string, fsType string) []string {
	var args []string
	xfs := fsType == "xfs"
	if v := ctx[BlockSizeKey]; v != "" {
		if xfs {
			args = append(args, "-b", "size="+v)
		} else {
			args = append(args, "-b", v)
		}
	}
	if v := ctx[InodeSizeKey]; v != "" {
		if xfs {
			args = append(args, "-i", "size="+v)
		} else {
			args = append(args, "-I", v)
		}
	}
	if v := ctx[BytesPerInodeKey]; v != "" {
		args = append(args, "-i", v)
	}
	if v := ctx[NumberOfInodesKey]; v != "" {
		args = append(args, "-N", v)
	}
	if ctx[Ext4BigAllocKey] == "true" {
		args = append(args, "-O", "bigalloc")
		if v := ctx[Ext4ClusterSizeKey]; v != "" {
			args = append(args, "-C", v)
		}
	}
	if ctx[Ext4EncryptionSupportKey] == "true" {
		args = append(args, "-O", "encrypt")
	}
	return args
}

// roundUpGiB rounds a byte count up to whole GiB.
func roundUpGiB(bytes int64) int64 {
	const gib = 1 << 30
	return (bytes + gib - 1) / gib
}

// snapshotParams reads the parameters of a CreateSnapshot request.
func snapshotParams(params map[string]string) (tags []string, props tagProps, err error) {
	for key, value := range params {
		switch strings.ToLower(key) {
		case paramSnapshotName:
			props.VolumeSnapshotName = value
		case paramSnapshotNamespace:
			props.VolumeSnapshotNamespace = value
		case paramSnapshotContentName:
			props.VolumeSnapshotContentName = value
		default:
			if strings.HasPrefix(strings.ToLower(key), paramTagPrefix) {
				tags = append(tags, value)
				continue
			}
			return nil, props, fmt.Errorf("invalid parameter key %s for CreateSnapshot", key)
		}
	}
	return tags, props, nil
}
