package ebs

import (
	"slices"
	"strconv"
	"strings"
)

// TypeLimits are EC2's rules for one volume type.
type TypeLimits struct {
	Type           string
	MinGiB, MaxGiB int

	// IOPSSettable types take an Iops parameter; IOPSRequired ones must
	// have it. Provisioned IOPS lie in [MinIOPS, MaxIOPS] and at most
	// MaxIOPSPerGiB times the size (above DefaultIOPS, which every size
	// gets: gp3's 3,000 baseline).
	IOPSSettable, IOPSRequired bool
	MinIOPS, MaxIOPS           int
	DefaultIOPS                int
	MaxIOPSPerGiB              int
	// Baseline IOPS of types whose IOPS follow the size (gp2): PerGiB
	// times the size, within [BaselineMin, BaselineMax].
	BaselinePerGiB, BaselineMin, BaselineMax int

	// Throughput in MiB/s: settable types take a Throughput parameter in
	// [MinThroughput, MaxThroughput], at most MaxThroughputPerIOPS times
	// the IOPS.
	ThroughputSettable           bool
	MinThroughput, MaxThroughput int
	DefaultThroughput            int
	MaxThroughputPerIOPS         float64

	// MultiAttach types may be attached to several instances at once.
	MultiAttach bool
}

// volumeTypes is EC2's table of volume types, in the order EC2 lists
// them.
//
// Sources (read in 2026): the EC2 API reference of CreateVolume and
// ModifyVolume (Size, Iops and Throughput, as aws-sdk-go-v2 service/ec2
// v1.344.3 documents them) and the Amazon EBS User Guide, "Amazon EBS
// volume types" (the per-GiB ratios). gp3 grew to 64 TiB, 80,000 IOPS and
// 2,000 MiB/s in September 2025; io2 is Block Express for every size.
var volumeTypes = []TypeLimits{
	// standard (magnetic): 1-1,024 GiB, no IOPS or throughput settings.
	{Type: "standard", MinGiB: 1, MaxGiB: 1024},
	// io1: 4-16,384 GiB, 100-64,000 IOPS, required, at most 50 IOPS/GiB;
	// Multi-Attach.
	{Type: "io1", MinGiB: 4, MaxGiB: 16384, IOPSSettable: true, IOPSRequired: true,
		MinIOPS: 100, MaxIOPS: 64000, MaxIOPSPerGiB: 50, MultiAttach: true},
	// io2 (Block Express): 4-65,536 GiB, 100-256,000 IOPS, required, at
	// most 1,000 IOPS/GiB; Multi-Attach.
	{Type: "io2", MinGiB: 4, MaxGiB: 65536, IOPSSettable: true, IOPSRequired: true,
		MinIOPS: 100, MaxIOPS: 256000, MaxIOPSPerGiB: 1000, MultiAttach: true},
	// gp2: 1-16,384 GiB; IOPS are 3 per GiB, at least 100 and at most
	// 16,000, and cannot be set.
	{Type: "gp2", MinGiB: 1, MaxGiB: 16384, BaselinePerGiB: 3, BaselineMin: 100, BaselineMax: 16000},
	// sc1 (cold HDD): 125-16,384 GiB.
	{Type: "sc1", MinGiB: 125, MaxGiB: 16384},
	// st1 (throughput optimized HDD): 125-16,384 GiB.
	{Type: "st1", MinGiB: 125, MaxGiB: 16384},
	// gp3: 1-65,536 GiB; 3,000 IOPS included, settable up to 80,000 at most
	// 500 IOPS/GiB; 125 MiB/s included, settable up to 2,000 MiB/s at most
	// 0.25 MiB/s per IOPS.
	{Type: "gp3", MinGiB: 1, MaxGiB: 65536, IOPSSettable: true,
		MinIOPS: 3000, MaxIOPS: 80000, DefaultIOPS: 3000, MaxIOPSPerGiB: 500,
		ThroughputSettable: true, MinThroughput: 125, MaxThroughput: 2000, DefaultThroughput: 125,
		MaxThroughputPerIOPS: 0.25},
}

// DefaultVolumeType is the type CreateVolume gives a volume that names
// none (EC2's default).
const DefaultVolumeType = "gp2"

// Limits returns the rules of a volume type.
func Limits(volumeType string) (TypeLimits, bool) {
	i := slices.IndexFunc(volumeTypes, func(l TypeLimits) bool { return l.Type == volumeType })
	if i < 0 {
		return TypeLimits{}, false
	}
	return volumeTypes[i], true
}

// VolumeTypes lists the volume types in EC2's order.
func VolumeTypes() []string {
	out := make([]string, len(volumeTypes))
	for i, l := range volumeTypes {
		out[i] = l.Type
	}
	return out
}

func lookupType(volumeType string) (TypeLimits, error) {
	l, ok := Limits(volumeType)
	if !ok {
		return TypeLimits{}, errorf(InvalidParameterValue,
			"Value (%s) for parameter volumeType is invalid. Valid volume types are: %s", volumeType, strings.Join(VolumeTypes(), ", "))
	}
	return l, nil
}

// Baseline returns the IOPS a volume of the type and size gets without
// asking: gp2's 3 per GiB, gp3's 3,000, nothing for the others.
func (l TypeLimits) Baseline(sizeGiB int) int {
	if l.BaselinePerGiB > 0 {
		return min(max(l.BaselinePerGiB*sizeGiB, l.BaselineMin), l.BaselineMax)
	}
	return l.DefaultIOPS
}

// MaxIOPSFor is the most IOPS a volume of the type and size may have.
func (l TypeLimits) MaxIOPSFor(sizeGiB int) int {
	if !l.IOPSSettable {
		return l.Baseline(sizeGiB)
	}
	return max(min(l.MaxIOPS, l.MaxIOPSPerGiB*sizeGiB), l.DefaultIOPS)
}

// checkSize checks a size against the type's range.
func (l TypeLimits) checkSize(sizeGiB int) error {
	if sizeGiB < l.MinGiB {
		return errorf(InvalidParameterValue, "Volume of %dGiB is too small; minimum is %dGiB.", sizeGiB, l.MinGiB)
	}
	if sizeGiB > l.MaxGiB {
		return errorf(InvalidParameterValue, "Volume of %dGiB is too large for volume type %s; maximum is %dGiB.", sizeGiB, l.Type, l.MaxGiB)
	}
	return nil
}

// checkIOPS checks provisioned IOPS for a size. iops is 0 when none were
// asked for.
func (l TypeLimits) checkIOPS(sizeGiB, iops int) error {
	if !l.IOPSSettable {
		if iops != 0 {
			return errorf(InvalidParameterCombination, "The parameter iops is not supported for %s volumes.", l.Type)
		}
		return nil
	}
	if iops == 0 {
		if l.IOPSRequired {
			return errorf(InvalidParameterCombination, "The parameter iops must be specified for %s volumes.", l.Type)
		}
		return nil
	}
	if iops < l.MinIOPS {
		return errorf(InvalidParameterValue, "Volume iops of %d is too low; minimum is %d.", iops, l.MinIOPS)
	}
	overRatio := iops > l.DefaultIOPS && iops > l.MaxIOPSPerGiB*sizeGiB
	if l.Type == "io2" && (iops > l.MaxIOPS || overRatio) {
		// EC2's words for io2 (the CSI driver reads the IOPS cap from them).
		return errorf(InvalidParameterCombination,
			"io2 volumes configured with greater than 64 TiB or %dK IOPS or %d:1 IOPS:GB ratio are not supported", l.MaxIOPS/1000, l.MaxIOPSPerGiB)
	}
	if iops > l.MaxIOPS {
		return errorf(InvalidParameterValue, "Volume iops of %d is too high; maximum is %d.", iops, l.MaxIOPS)
	}
	if overRatio {
		return errorf(InvalidParameterValue, "Iops to volume size ratio of %s is too high; maximum is %d",
			ratio(float64(iops)/float64(sizeGiB)), l.MaxIOPSPerGiB)
	}
	return nil
}

// checkThroughput checks provisioned throughput against the volume's
// IOPS. throughput is 0 when none was asked for.
func (l TypeLimits) checkThroughput(iops, throughput int) error {
	if !l.ThroughputSettable {
		if throughput != 0 {
			return errorf(InvalidParameterCombination, "The parameter throughput is not supported for %s volumes.", l.Type)
		}
		return nil
	}
	if throughput == 0 {
		return nil
	}
	if throughput < l.MinThroughput {
		return errorf(InvalidParameterValue, "Volume throughput of %d is too low; minimum is %d.", throughput, l.MinThroughput)
	}
	if throughput > l.MaxThroughput {
		return errorf(InvalidParameterValue, "Volume throughput of %d is too high; maximum is %d.", throughput, l.MaxThroughput)
	}
	if throughput > l.DefaultThroughput && float64(throughput) > l.MaxThroughputPerIOPS*float64(iops) {
		return errorf(InvalidParameterValue, "Throughput to iops ratio of %s is too high; maximum is %s.",
			ratio(float64(throughput)/float64(iops)), ratio(l.MaxThroughputPerIOPS))
	}
	return nil
}

// ratio formats a ratio the way EC2's messages do: no trailing zeros.
func ratio(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// Performance is what a volume of a type delivers.
type Performance struct {
	SizeGiB     int
	IOPS        int
	Throughput  int
	MultiAttach bool
}

// resolve checks a volume's settings against its type and fills in the
// defaults: the IOPS and throughput EC2 reports for it.
func (l TypeLimits) resolve(p Performance) (Performance, error) {
	if err := l.checkSize(p.SizeGiB); err != nil {
		return p, err
	}
	if err := l.checkIOPS(p.SizeGiB, p.IOPS); err != nil {
		return p, err
	}
	if p.IOPS == 0 {
		p.IOPS = l.Baseline(p.SizeGiB)
	}
	if err := l.checkThroughput(p.IOPS, p.Throughput); err != nil {
		return p, err
	}
	if p.Throughput == 0 {
		p.Throughput = l.DefaultThroughput
	}
	if p.MultiAttach && !l.MultiAttach {
		return p, errorf(InvalidParameterCombination, "Multi-Attach is supported only for io1 and io2 volumes; %s volumes cannot be Multi-Attach enabled.", l.Type)
	}
	return p, nil
}
