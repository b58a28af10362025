package nodegroup

import (
	"github.com/berthproject/berth/internal/arns"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/validate/content"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute/instancetypes"
	"github.com/berthproject/berth/internal/versions"
)

// Limits of the EKS API (the model's length constraints, the user guide's
// counts).
const (
	maxNameLength    = 63
	maxInstanceTypes = 20
	maxTaints        = 50
	maxLabelKey      = 63 // labelKey: min 1, max 63 (the whole key)
	maxLabelValue    = 63 // labelValue: min 1, max 63
	maxTaintKey      = 63 // taintKey: min 1, max 63
	maxTaintValue    = 63 // taintValue: min 0, max 63
	maxUnavailable   = 100
	maxDiskGiB       = 16384 // the largest gp3 volume
)

// Defaults of CreateNodegroup.
const (
	DefaultInstanceType = "t3.medium"
	DefaultAMIType      = "AL2023_x86_64_STANDARD"
	DefaultMinSize      = 1
	DefaultMaxSize      = 2
	DefaultDesiredSize  = 2
)

// Taint effects (the TaintEffect enum).
const (
	EffectNoSchedule       = "NO_SCHEDULE"
	EffectNoExecute        = "NO_EXECUTE"
	EffectPreferNoSchedule = "PREFER_NO_SCHEDULE"
)

// reservedPrefixes are the label and taint key prefixes EKS refuses. EKS
// refuses any key that contains one of them, subdomains included
// (node-role.kubernetes.io/x too).
var reservedPrefixes = []string{"kubernetes.io/", "k8s.io/", "eks.amazonaws.com/"}

func invalid(format string, args ...any) *apierror.Error {
	return apierror.New(apierror.InvalidParameter, format, args...)
}

// validateName checks a node group name: 1-63 characters,
// [0-9A-Za-z][A-Za-z0-9\-_]*.
func validateName(name string) error {
	if name == "" {
		return invalid("nodegroupName is required.")
	}
	if len(name) > maxNameLength {
		return invalid("The node group name %q is too long: it can have at most %d characters.", name, maxNameLength)
	}
	if !validNameChars(name) {
		return invalid("The node group name %q is invalid: it must start with an alphanumeric character and contain only alphanumeric characters, hyphens and underscores ([0-9A-Za-z][A-Za-z0-9\\-_]*).", name)
	}
	return nil
}

func validNameChars(name string) bool {
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && (r == '-' || r == '_'))
		if !ok {
			return false
		}
	}
	return true
}

// validateNodeRole checks the nodeRole ARN: an IAM role of a 12-digit
// account.
func validateNodeRole(arn string) error {
	if arn == "" {
		return invalid("nodeRole is required.")
	}
	if !arns.IsRole(arn, 2048) {
		return invalid("The node role ARN %q is not a valid IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME).", arn)
	}
	return nil
}

// validateSubnets checks that the subnets are given, unique and known.
func (s *Service) validateSubnets(ids []string) error {
	if len(ids) == 0 {
		return invalid("subnets is required: specify at least one subnet.")
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			return invalid("One or more subnets are duplicate")
		}
		seen[id] = true
		if _, ok := s.cfg.Network.Subnet(id); !ok {
			return invalid("The subnet ID '%s' does not exist (Service: AmazonEC2; Status Code: 400; Error Code: InvalidSubnetID.NotFound)", id)
		}
	}
	return nil
}

// validateScaling checks a scaling configuration. Creates and updates
// word the ordering errors differently, as EKS does.
func (s *Service) validateScaling(sc Scaling, update bool) error {
	if sc.Min < 0 {
		return invalid("minSize must be greater than or equal to 0, not %d.", sc.Min)
	}
	if sc.Max < 1 {
		return invalid("maxSize must be greater than or equal to 1, not %d.", sc.Max)
	}
	if sc.Desired < 0 {
		return invalid("desiredSize must be greater than or equal to 0, not %d.", sc.Desired)
	}
	if sc.Max > s.cfg.MaxNodesPerNodegroup {
		return invalid("maxSize %d is greater than the quota of %d nodes per managed node group.", sc.Max, s.cfg.MaxNodesPerNodegroup)
	}
	if update {
		switch {
		case sc.Min > sc.Max:
			return invalid("Minimum capacity %d can't be greater than maximum capacity %d", sc.Min, sc.Max)
		case sc.Min > sc.Desired:
			return invalid("Minimum capacity %d can't be greater than desired size %d", sc.Min, sc.Desired)
		case sc.Desired > sc.Max:
			return invalid("Desired capacity %d can't be greater than maximum capacity %d", sc.Desired, sc.Max)
		}
		return nil
	}
	switch {
	case sc.Min > sc.Max:
		return invalid("minSize can't be greater than maxSize")
	case sc.Min > sc.Desired:
		return invalid("minSize can't be greater than desiredSize")
	case sc.Desired > sc.Max:
		return invalid("desiredSize can't be greater than maxSize")
	}
	return nil
}

// validateUpdateConfig checks updateConfig against the group's maxSize.
func validateUpdateConfig(uc UpdateConfig, maxSize int) error {
	if uc.MaxUnavailable != 0 && uc.MaxUnavailablePercentage != 0 {
		return invalid("Only one of maxUnavailable and maxUnavailablePercentage can be specified in updateConfig.")
	}
	if uc.MaxUnavailable == 0 && uc.MaxUnavailablePercentage == 0 {
		return invalid("updateConfig needs maxUnavailable or maxUnavailablePercentage.")
	}
	if uc.MaxUnavailable != 0 && (uc.MaxUnavailable < 1 || uc.MaxUnavailable > maxUnavailable) {
		return invalid("maxUnavailable must be between 1 and %d, not %d.", maxUnavailable, uc.MaxUnavailable)
	}
	if uc.MaxUnavailable > maxSize {
		return invalid("max-unavailable must be within the range 1 and max size of the node group")
	}
	if uc.MaxUnavailablePercentage != 0 && (uc.MaxUnavailablePercentage < 1 || uc.MaxUnavailablePercentage > 100) {
		return invalid("maxUnavailablePercentage must be between 1 and 100, not %d.", uc.MaxUnavailablePercentage)
	}
	switch uc.UpdateStrategy {
	case "", "DEFAULT", "MINIMAL":
	default:
		return invalid("Unsupported updateStrategy %q: valid values are DEFAULT, MINIMAL.", uc.UpdateStrategy)
	}
	return nil
}

// validateLabels checks Kubernetes labels as EKS does: the model's
// lengths, the Kubernetes syntax, and no reserved prefixes.
func validateLabels(labels map[string]string) error {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the first error is the same every time
	for _, k := range keys {
		if err := validateLabelKey(k); err != nil {
			return err
		}
		v := labels[k]
		if len(v) < 1 || len(v) > maxLabelValue {
			return invalid("The value of label %q must be 1 to %d characters long.", k, maxLabelValue)
		}
		if errs := content.IsLabelValue(v); len(errs) > 0 {
			return invalid("Invalid value: %q: label %q: %s", v, k, strings.Join(errs, "; "))
		}
	}
	return nil
}

func validateLabelKey(k string) error {
	if len(k) < 1 || len(k) > maxLabelKey {
		return invalid("The label key %q must be 1 to %d characters long.", k, maxLabelKey)
	}
	if errs := content.IsLabelKey(k); len(errs) > 0 {
		return invalid("Invalid value: %q: label key %s", k, strings.Join(errs, "; "))
	}
	if reserved(k) {
		return invalid("Label cannot contain reserved prefixes [%s]", strings.Join(reservedPrefixes, ", "))
	}
	return nil
}

func reserved(key string) bool {
	for _, p := range reservedPrefixes {
		if strings.Contains(key, p) {
			return true
		}
	}
	return false
}

// validateTaints checks taints: at most 50, known effects, Kubernetes
// syntax, no reserved prefixes, no key and effect twice.
func validateTaints(taints []Taint) error {
	if len(taints) > maxTaints {
		return invalid("A maximum of %d taints are allowed per node group, %d were given.", maxTaints, len(taints))
	}
	seen := map[string]bool{}
	for _, t := range taints {
		if err := validateTaint(t); err != nil {
			return err
		}
		id := t.Key + ":" + t.Effect
		if seen[id] {
			return invalid("Duplicate taint: key %q with effect %s is given more than once.", t.Key, t.Effect)
		}
		seen[id] = true
	}
	return nil
}

func validateTaint(t Taint) error {
	if len(t.Key) < 1 || len(t.Key) > maxTaintKey {
		return invalid("The taint key %q must be 1 to %d characters long.", t.Key, maxTaintKey)
	}
	if errs := content.IsLabelKey(t.Key); len(errs) > 0 {
		return invalid("Invalid value: %q: taint key %s", t.Key, strings.Join(errs, "; "))
	}
	if reserved(t.Key) {
		return invalid("Taint cannot contain reserved prefixes [%s]", strings.Join(reservedPrefixes, ", "))
	}
	if len(t.Value) > maxTaintValue {
		return invalid("The value of taint %q can have at most %d characters.", t.Key, maxTaintValue)
	}
	if errs := content.IsLabelValue(t.Value); len(errs) > 0 {
		return invalid("Invalid value: %q: taint %q: %s", t.Value, t.Key, strings.Join(errs, "; "))
	}
	return validateEffect(t)
}

func validateEffect(t Taint) error {
	switch t.Effect {
	case EffectNoSchedule, EffectNoExecute, EffectPreferNoSchedule:
		return nil
	case "":
		return invalid("The effect of taint %q is required: NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE.", t.Key)
	}
	return invalid("Invalid taint effect %q for taint %q: valid values are NO_SCHEDULE, NO_EXECUTE, PREFER_NO_SCHEDULE.", t.Effect, t.Key)
}

// AMI types EKS offers, by family.
var amiTypes = []string{
	"AL2_x86_64", "AL2_x86_64_GPU", "AL2_ARM_64",
	"AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD", "AL2023_x86_64_NEURON", "AL2023_x86_64_NVIDIA", "AL2023_ARM_64_NVIDIA",
	"BOTTLEROCKET_ARM_64", "BOTTLEROCKET_x86_64", "BOTTLEROCKET_ARM_64_FIPS", "BOTTLEROCKET_x86_64_FIPS",
	"BOTTLEROCKET_ARM_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA", "BOTTLEROCKET_ARM_64_NVIDIA_FIPS", "BOTTLEROCKET_x86_64_NVIDIA_FIPS",
	"WINDOWS_CORE_2019_x86_64", "WINDOWS_FULL_2019_x86_64", "WINDOWS_CORE_2022_x86_64", "WINDOWS_FULL_2022_x86_64",
	"WINDOWS_CORE_2025_x86_64", "WINDOWS_FULL_2025_x86_64",
	"CUSTOM",
}

// AMIArchitecture is the processor architecture of an AMI type.
func AMIArchitecture(amiType string) instancetypes.Architecture {
	if strings.Contains(amiType, "ARM_64") {
		return instancetypes.Arm64
	}
	return instancetypes.X8664
}

// lastAL2Minor is the newest Kubernetes minor with Amazon Linux 2 AMIs.
const lastAL2Minor = "1.32"

// validateAMIType checks the AMI type against what berth can run at a
// Kubernetes version.
func validateAMIType(amiType, version string) error {
	if !slices.Contains(amiTypes, amiType) {
		return invalid("Unsupported amiType %q: valid values are %s.", amiType, strings.Join(amiTypes, ", "))
	}
	switch {
	case strings.HasPrefix(amiType, "AL2_") && versions.Compare(version, lastAL2Minor) > 0:
		return invalid("AMI Type %s is only supported for kubernetes versions %s or earlier", amiType, lastAL2Minor)
	case strings.HasPrefix(amiType, "WINDOWS_"):
		return invalid("berth does not support Windows nodes: amiType %s is not available. Use an AL2023 or Bottlerocket AMI type.", amiType)
	case amiType == "CUSTOM":
		return invalid("amiType CUSTOM needs a launch template that names a custom AMI; berth has no launch templates.")
	}
	return nil
}

// validateInstanceTypes checks instance types against the catalog, the
// AMI's architecture and the capacity type.
func validateInstanceTypes(types []string, amiType, capacity string) error {
	if len(types) > maxInstanceTypes {
		return invalid("A node group can have at most %d instance types, %d were given.", maxInstanceTypes, len(types))
	}
	arch := AMIArchitecture(amiType)
	seen := map[string]bool{}
	for _, name := range types {
		if seen[name] {
			return invalid("Instance type %s is given more than once.", name)
		}
		seen[name] = true
		t, ok := instancetypes.Lookup(name)
		if !ok {
			return invalid("The instance type %q is not supported: berth's instance type catalog has no such type.", name)
		}
		if t.Architecture != arch {
			return invalid("[%s] is not a valid instance type for requested amiType %s", name, amiType)
		}
		usage := instancetypes.UsageClassOnDemand
		if capacity == CapacitySpot {
			usage = instancetypes.UsageClassSpot
		}
		if !slices.Contains(t.UsageClasses, usage) {
			return invalid("Instance type %s does not support the %s capacity type.", name, capacity)
		}
	}
	return nil
}

// validateCapacityType checks capacityType and returns it with its default.
func validateCapacityType(c string) (string, error) {
	switch c {
	case "":
		return CapacityOnDemand, nil
	case CapacityOnDemand, CapacitySpot:
		return c, nil
	case "CAPACITY_BLOCK":
		return "", invalid("berth does not support the CAPACITY_BLOCK capacity type: use ON_DEMAND or SPOT.")
	}
	return "", invalid("Unsupported capacityType %q: valid values are ON_DEMAND, SPOT, CAPACITY_BLOCK.", c)
}

// validateLaunchTemplate refuses a launch template, after the checks that
// need no EC2 lookup: berth has no EC2 launch templates yet, so no
// template can be found.
func validateLaunchTemplate(lt *LaunchTemplate, diskSize *int, remote *RemoteAccess) error {
	if lt == nil {
		return nil
	}
	switch {
	case lt.ID == "" && lt.Name == "":
		return invalid("Either the launch template ID or the launch template name must be specified.")
	case lt.ID != "" && lt.Name != "":
		return invalid("Specify either the launch template ID or the launch template name, not both.")
	case diskSize != nil:
		return invalid("Disk size must be specified within the launch template.")
	case remote != nil:
		return invalid("Remote access configuration cannot be specified with a launch template.")
	}
	return launchTemplateNotFound(lt)
}

func launchTemplateNotFound(lt *LaunchTemplate) error {
	if lt.ID != "" {
		return invalid("The specified launch template, with template ID %s, does not exist.", lt.ID)
	}
	return invalid("The specified launch template, with template name %s, does not exist.", lt.Name)
}

// validateRemoteAccess checks remoteAccess: source security groups need
// an SSH key and must exist.
func (s *Service) validateRemoteAccess(ra *RemoteAccess, clusterSG string) error {
	if ra == nil {
		return nil
	}
	if ra.EC2SSHKey == "" {
		return invalid("remoteAccess needs ec2SshKey: sourceSecurityGroups alone grant nothing.")
	}
	for _, sg := range ra.SourceSecurityGroups {
		if sg != s.cfg.Network.SecurityGroupID && sg != clusterSG {
			return invalid("The security group '%s' does not exist (Service: AmazonEC2; Status Code: 400; Error Code: InvalidGroup.NotFound)", sg)
		}
	}
	return nil
}

// validateDiskSize checks diskSize in GiB.
func validateDiskSize(gib int) error {
	if gib < 1 || gib > maxDiskGiB {
		return invalid("diskSize must be between 1 and %d GiB, not %d.", maxDiskGiB, gib)
	}
	return nil
}

// ReleaseVersion is the one AMI release version berth offers for a
// Kubernetes version: the patch version and a build date, like the EKS
// AMIs' "1.37.2-20261120". The date is derived from the minor's release
// date, so it is the same on every start and for every node group.
func ReleaseVersion(v versions.Version) string {
	return v.PatchVersion + "-" + v.Released.Add(45*24*time.Hour).Format("20060102")
}

// versionError is the error for a version a node group may not run.
func versionError(requested, allowed string) error {
	return invalid("Requested Nodegroup version %s is invalid. Allowed Nodegroup version is %s", requested, allowed)
}

// releaseError is the error for a release version berth does not offer.
func releaseError(requested, allowed string) error {
	return invalid("Requested Nodegroup release version %s is invalid. Allowed release version is %s", requested, allowed)
}
