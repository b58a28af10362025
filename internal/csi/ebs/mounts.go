package ebs

import (
	"path/filepath"
	"strings"

	"k8s.io/mount-utils"
)

// devicesInUse returns the loop devices something has mounted: as the
// source of a filesystem, or as a device node bind-mounted somewhere (a
// published block volume).
func devicesInUse() (map[string]bool, error) {
	infos, err := mount.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, mi := range infos {
		if strings.HasPrefix(mi.Source, "/dev/loop") {
			used[mi.Source] = true
		}
		if mi.FsType == "devtmpfs" && strings.HasPrefix(mi.Root, "/loop") {
			used["/dev/"+filepath.Base(mi.Root)] = true
		}
	}
	return used, nil
}
