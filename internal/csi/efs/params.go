package efs

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/efs"
)

// StorageClass parameter keys, as the real driver names them.
const (
	ParamProvisioningMode      = "provisioningMode"
	ParamFileSystemID          = "fileSystemId"
	ParamDirectoryPerms        = "directoryPerms"
	ParamUID                   = "uid"
	ParamGID                   = "gid"
	ParamGIDRangeStart         = "gidRangeStart"
	ParamGIDRangeEnd           = "gidRangeEnd"
	ParamBasePath              = "basePath"
	ParamSubPathPattern        = "subPathPattern"
	ParamEnsureUniqueDirectory = "ensureUniqueDirectory"
	ParamReuseAccessPoint      = "reuseAccessPoint"
	ParamAZ                    = "az"
	ParamEnableTagging         = "enableTagging"
	ParamEnforceZoneAffinity   = "enforceZoneAffinity"

	// The keys external-provisioner adds with --extra-create-metadata.
	paramPVName       = "csi.storage.k8s.io/pv/name"
	paramPVCName      = "csi.storage.k8s.io/pvc/name"
	paramPVCNamespace = "csi.storage.k8s.io/pvc/namespace"

	// ProvisioningModeAccessPoint is the one provisioning mode.
	ProvisioningModeAccessPoint = "efs-ap"
)

// Defaults of the real driver.
const (
	defaultGIDMin = 50000
	// accessPointsPerFS bounds the width of a GID range.
	accessPointsPerFS = 10000
	defaultGIDMax     = defaultGIDMin + accessPointsPerFS
	// ClusterTagKey is the tag the real driver puts on its access points.
	ClusterTagKey = "efs.csi.aws.com/cluster"
	// CapacityTagKey records the size a volume was requested with.
	CapacityTagKey = "berth.dev/csi-capacity"
)

var knownParams = []string{
	ParamProvisioningMode, ParamFileSystemID, ParamDirectoryPerms, ParamUID, ParamGID,
	ParamGIDRangeStart, ParamGIDRangeEnd, ParamBasePath, ParamSubPathPattern,
	ParamEnsureUniqueDirectory, ParamReuseAccessPoint, ParamAZ, ParamEnableTagging, ParamEnforceZoneAffinity,
}

// subPathComponents are the variables subPathPattern may use, and the
// parameter each one reads.
var subPathComponents = map[string]string{
	".PVC.name":      paramPVCName,
	".PVC.namespace": paramPVCNamespace,
	".PV.name":       paramPVName,
}

var (
	fileSystemIDRE = regexp.MustCompile(`^fs-[0-9a-f]{8,40}$`)
	permsRE        = regexp.MustCompile(`^[0-7]{3,4}$`)
)

// params are the parsed StorageClass parameters of a CreateVolume.
type params struct {
	fileSystemID   string
	directoryPerms string
	uid, gid       int64 // -1: allocate
	uidSet, gidSet bool
	gidMin, gidMax int64
	basePath       string
	subPathPattern string
	hasPattern     bool
	ensureUnique   bool
	reuse          bool
	az             string
	tagging        bool
	zoneAffinity   bool
	pvcName        string
	raw            map[string]string
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func parseBool(p map[string]string, key string, def bool) (bool, error) {
	v, ok := p[key]
	if !ok {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, invalid("Invalid value for %s parameter: %q is not a boolean", key, v)
	}
	return b, nil
}

// parseParams checks CreateVolume parameters as the real driver does,
// and refuses keys it does not know.
func parseParams(raw map[string]string) (*params, error) {
	var unknown []string
	for k := range raw {
		if !slices.Contains(knownParams, k) && !strings.HasPrefix(k, "csi.storage.k8s.io/") {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, invalid("Invalid parameter key %s for CreateVolume", strings.Join(unknown, ", "))
	}
	p := &params{raw: raw, uid: -1, gid: -1, pvcName: raw[paramPVCName]}
	mode, ok := raw[ParamProvisioningMode]
	if !ok {
		return nil, invalid("Missing %v parameter", ParamProvisioningMode)
	}
	if mode != ProvisioningModeAccessPoint {
		return nil, invalid("Provisioning mode %s is not supported. Only Access point provisioning: 'efs-ap' is supported", mode)
	}
	p.fileSystemID = raw[ParamFileSystemID]
	if p.fileSystemID == "" {
		return nil, invalid("Missing %v parameter", ParamFileSystemID)
	}
	if !fileSystemIDRE.MatchString(p.fileSystemID) {
		return nil, invalid("Failed to resolve filesystem Id: %q is not a file system ID of the form fs-[0-9a-f]{8,40}", p.fileSystemID)
	}
	p.directoryPerms = raw[ParamDirectoryPerms]
	if p.directoryPerms == "" {
		return nil, invalid("Missing %v parameter", ParamDirectoryPerms)
	}
	if !permsRE.MatchString(p.directoryPerms) {
		return nil, invalid("Invalid %v %q: an octal mode of 3 or 4 digits is expected", ParamDirectoryPerms, p.directoryPerms)
	}
	var err error
	for _, id := range []struct {
		key string
		v   *int64
		set *bool
	}{{ParamUID, &p.uid, &p.uidSet}, {ParamGID, &p.gid, &p.gidSet}} {
		s, ok := raw[id.key]
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, invalid("Failed to parse invalid %v: %v", id.key, err)
		}
		if n < 0 || n > 4294967295 {
			return nil, invalid("%v must be between 0 and 4294967295", id.key)
		}
		*id.v, *id.set = n, true
	}
	if s, ok := raw[ParamGIDRangeStart]; ok {
		if p.gidMin, err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, invalid("Failed to parse invalid %v: %v", ParamGIDRangeStart, err)
		}
		if p.gidMin <= 0 {
			return nil, invalid("%v must be greater than 0", ParamGIDRangeStart)
		}
	}
	if s, ok := raw[ParamGIDRangeEnd]; ok {
		if p.gidMin == 0 {
			return nil, invalid("Missing %v parameter", ParamGIDRangeStart)
		}
		if p.gidMax, err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, invalid("Failed to parse invalid %v: %v", ParamGIDRangeEnd, err)
		}
		if p.gidMax <= p.gidMin {
			return nil, invalid("%v must be greater than %v", ParamGIDRangeEnd, ParamGIDRangeStart)
		}
	} else if p.gidMin != 0 {
		return nil, invalid("Missing %v parameter", ParamGIDRangeEnd)
	}
	if p.gidMin == 0 {
		p.gidMin, p.gidMax = defaultGIDMin, defaultGIDMax
	}
	if p.gidMax > 4294967295 {
		return nil, invalid("%v must be at most 4294967295", ParamGIDRangeEnd)
	}
	p.basePath = raw[ParamBasePath]
	if p.basePath != "" {
		if err := efs.ValidatePath(path.Clean("/" + p.basePath)); err != nil {
			return nil, invalid("Invalid %v %q: %s", ParamBasePath, p.basePath, message(err))
		}
	}
	p.subPathPattern, p.hasPattern = raw[ParamSubPathPattern]
	if p.ensureUnique, err = parseBool(raw, ParamEnsureUniqueDirectory, true); err != nil {
		return nil, err
	}
	if p.reuse, err = parseBool(raw, ParamReuseAccessPoint, false); err != nil {
		return nil, err
	}
	if p.tagging, err = parseBool(raw, ParamEnableTagging, true); err != nil {
		return nil, err
	}
	if p.zoneAffinity, err = parseBool(raw, ParamEnforceZoneAffinity, false); err != nil {
		return nil, err
	}
	p.az = raw[ParamAZ]
	return p, nil
}

// rootDir is the access point root directory of a new volume: basePath,
// then the interpolated subPathPattern (with a unique suffix unless
// ensureUniqueDirectory is false) or the volume name.
func (p *params) rootDir(volumeName, unique string) (string, error) {
	name := volumeName
	if p.hasPattern {
		var pairs []string
		for k, key := range subPathComponents {
			pairs = append(pairs, "${"+k+"}", p.raw[key])
		}
		name = strings.NewReplacer(pairs...).Replace(p.subPathPattern)
		if strings.Contains(name, "${") || strings.Contains(name, "}") {
			keys := make([]string, 0, len(subPathComponents))
			for k := range subPathComponents {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return "", invalid("Path specified %q contains invalid elements. Can only contain %v", p.subPathPattern, keys)
		}
		if p.ensureUnique {
			name += "-" + unique
		}
	}
	dir := path.Join("/", p.basePath, name)
	if len(dir) > 100 {
		return "", invalid("Proposed path '%s' exceeds file system limit of 100 characters", dir)
	}
	if strings.Count(dir, "/") > 5 {
		return "", invalid("Proposed path '%s' file system limit of 4 subdirectories", dir)
	}
	if err := efs.ValidatePath(dir); err != nil {
		return "", invalid("Proposed path '%s' is not valid: %s", dir, message(err))
	}
	return dir, nil
}

// clientToken is the CreateAccessPoint token of a volume: its name, or
// with reuseAccessPoint the SHA-256 of the PVC name (so that another
// cluster finds the same access point). Names longer than EFS's 64
// characters are hashed too.
func (p *params) clientToken(volumeName string) string {
	if p.reuse {
		return hash(p.pvcName)
	}
	if len(volumeName) > 64 {
		return hash(volumeName)
	}
	return volumeName
}

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// nextGID returns the lowest GID of [min, max] that no access point uses;
// the range is capped at 10,000 GIDs, as the real driver caps it.
func nextGID(used map[int64]bool, min, max int64) (int64, error) {
	if max-min > accessPointsPerFS {
		max = min + accessPointsPerFS
	}
	for g := min; g <= max; g++ {
		if !used[g] {
			return g, nil
		}
	}
	return 0, status.Errorf(codes.Internal, "Failed to locate a free GID for the file system in [%d, %d]. Please create a new storage class with a new file-system", min, max)
}

func message(err error) string {
	if e, ok := apierror.As(err); ok {
		return e.Message
	}
	return err.Error()
}
