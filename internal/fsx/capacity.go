package fsx

import (
	"fmt"
	"slices"
)

// GiB is the unit of StorageCapacity.
const GiB = int64(1) << 30

// throughputs lists the PerUnitStorageThroughput values (MB/s/TiB) FSx
// allows per deployment type and storage type; nil means none may be set.
func throughputs(deployment, storage string) []int {
	switch {
	case deployment == Persistent1 && storage == HDD:
		return []int{12, 40}
	case deployment == Persistent1:
		return []int{50, 100, 200}
	case deployment == Persistent2:
		return []int{125, 250, 500, 1000}
	}
	return nil
}

// increment returns the capacity step (GiB) of a configuration and
// whether 1,200 and 2,400 GiB are also valid below it.
func increment(deployment, storage string, throughput int) (step int, smallSizes bool) {
	switch {
	case storage == HDD && throughput == 12:
		return 6000, false
	case storage == HDD:
		return 1800, false
	case deployment == Scratch1 || deployment == "":
		return 3600, true
	}
	return 2400, true
}

// ValidCapacity checks a StorageCapacity (GiB) against the rules of a
// deployment type, storage type and throughput, and returns the message
// FSx gives when it is not valid.
func ValidCapacity(gib int, deployment, storage string, throughput int) error {
	step, small := increment(deployment, storage, throughput)
	if gib > 0 && gib%step == 0 {
		return nil
	}
	if small && (gib == 1200 || gib == 2400) {
		return nil
	}
	if small {
		return fmt.Errorf("For %s file systems with %s storage, the storage capacity must be 1200 GiB, 2400 GiB, or an increment of %d GiB; %d GiB is not valid.", deploymentOrDefault(deployment), storageOrDefault(storage), step, gib)
	}
	return fmt.Errorf("For %s HDD file systems with %d MB/s/TiB throughput, the storage capacity must be an increment of %d GiB; %d GiB is not valid.", deploymentOrDefault(deployment), throughput, step, gib)
}

// RoundCapacity rounds a size in bytes up to the smallest valid storage
// capacity in GiB, as the FSx CSI driver does: 1,200 GiB, 2,400 GiB or the
// configuration's increment (a non-positive size is the smallest).
func RoundCapacity(bytes int64, deployment, storage string, throughput int) int {
	step, small := increment(deployment, storage, throughput)
	gib := (bytes + GiB - 1) / GiB
	if small {
		if gib <= 1200 {
			return 1200
		}
		if gib <= 2400 {
			return 2400
		}
	}
	n := (gib + int64(step) - 1) / int64(step)
	return int(max(n, 1)) * step
}

func deploymentOrDefault(d string) string {
	if d == "" {
		return Scratch1
	}
	return d
}

func storageOrDefault(s string) string {
	if s == "" {
		return SSD
	}
	return s
}

// validThroughput reports whether a PerUnitStorageThroughput is allowed.
func validThroughput(deployment, storage string, v int) bool {
	return slices.Contains(throughputs(deployment, storage), v)
}
