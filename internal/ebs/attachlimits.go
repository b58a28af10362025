package ebs

import (
	"regexp"
	"strings"
)

// AttachLimit is an instance type's EBS attachment limit, as EC2's
// DescribeInstanceTypes reports it (EbsInfo MaximumEbsAttachments and
// AttachmentLimitType).
type AttachLimit struct {
	// Max is the most EBS volumes, the root volume included.
	Max int
	// Dedicated limits count EBS volumes only. A shared limit is also
	// taken by every network interface after the first (and by NVMe
	// instance store volumes, which berth's types do not have).
	Dedicated bool
}

// defaultAttachLimit is the limit of the Nitro instance types not listed
// in attachLimits: 28 attachments shared by network interfaces and
// volumes, reported as 27 volumes next to the primary interface.
var defaultAttachLimit = AttachLimit{Max: 27}

// attachLimits lists the instance types of berth's catalog whose limit is
// not the default.
//
// Source: kubernetes-sigs/aws-ebs-csi-driver pkg/cloud/limits/volume_limits_table.go
// (generated from EC2 DescribeInstanceTypes), commit 429e202e, and the
// Amazon EC2 User Guide, "Amazon EBS volume limits for Amazon EC2
// instances": bare metal Nitro sizes share 32 attachments; the 7th
// generation Intel types (m7i) have a dedicated EBS limit that grows with
// the size.
var attachLimits = map[string]AttachLimit{
	"c5.metal":  {Max: 31},
	"c6i.metal": {Max: 31},
	"c7g.metal": {Max: 31},
	"m5.metal":  {Max: 31},
	"m6i.metal": {Max: 31},
	"m7g.metal": {Max: 31},
	"r5.metal":  {Max: 31},
	"r6i.metal": {Max: 31},

	"m7i.large":      {Max: 32, Dedicated: true},
	"m7i.xlarge":     {Max: 32, Dedicated: true},
	"m7i.2xlarge":    {Max: 32, Dedicated: true},
	"m7i.4xlarge":    {Max: 32, Dedicated: true},
	"m7i.8xlarge":    {Max: 32, Dedicated: true},
	"m7i.12xlarge":   {Max: 32, Dedicated: true},
	"m7i.16xlarge":   {Max: 48, Dedicated: true},
	"m7i.24xlarge":   {Max: 64, Dedicated: true},
	"m7i.48xlarge":   {Max: 128, Dedicated: true},
	"m7i.metal-24xl": {Max: 39, Dedicated: true},
	"m7i.metal-48xl": {Max: 79, Dedicated: true},
}

// AttachLimitOf returns the attachment limit of an instance type.
func AttachLimitOf(instanceType string) AttachLimit {
	if l, ok := attachLimits[instanceType]; ok {
		return l
	}
	return defaultAttachLimit
}

// InstanceNICs is the number of network interfaces a berth instance has:
// its primary one (the VPC CNI's secondary interfaces are not modelled).
const InstanceNICs = 1

// DataVolumes is how many volumes besides the root volume an instance of
// the type can have attached: the limit, less the root volume, less the
// network interfaces after the first when the limit is shared. It is what
// the EBS CSI driver's node reports as its maximum volumes per node.
func (l AttachLimit) DataVolumes() int {
	n := l.Max - 1
	if !l.Dedicated {
		n -= InstanceNICs - 1
	}
	return max(n, 1)
}

// RootDevice is the device name of the root volume of berth's instances.
const RootDevice = "/dev/xvda"

// deviceRE accepts the device names EC2 takes for EBS volumes on Linux
// instances (Amazon EC2 User Guide, "Device names on Linux instances"):
// /dev/sd[a-z] with an optional partition number 1-15, /dev/xvd[a-z] and
// /dev/xvd[a-c][a-z], /dev/xvdd[a-x]; the /dev/ prefix may be left out.
var deviceRE = regexp.MustCompile(`^(/dev/)?(sd[a-z]([1-9]|1[0-5])?|xvd[a-z]|xvd[a-c][a-z]|xvdd[a-x])$`)

// ValidDevice reports whether EC2 accepts a device name for an EBS
// volume.
func ValidDevice(device string) bool { return deviceRE.MatchString(device) }

// attachmentPoint is the name two device names conflict on: /dev/sdf and
// xvdf are the same attachment point, and a partition of a disk takes the
// disk.
func attachmentPoint(device string) string {
	d := strings.TrimPrefix(device, "/dev/")
	if rest, ok := strings.CutPrefix(d, "sd"); ok {
		d = "xvd" + strings.TrimRight(rest, "0123456789")
	}
	return d
}

// DeviceNames are the names the EBS CSI driver gives the volumes it
// attaches, in the order it tries them: /dev/xvdaa to /dev/xvdbz, then
// /dev/xvdca to /dev/xvddx (kubernetes-sigs/aws-ebs-csi-driver
// pkg/cloud/devicemanager/device_names.go).
func DeviceNames() []string {
	var out []string
	for _, a := range "abcd" {
		for b := 'a'; b <= 'z'; b++ {
			if a == 'd' && b > 'x' {
				break
			}
			out = append(out, "/dev/xvd"+string(a)+string(b))
		}
	}
	return out
}
