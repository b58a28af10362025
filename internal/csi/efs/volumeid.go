package efs

import (
	"path"
	"regexp"
	"strings"
)

var accessPointIDRE = regexp.MustCompile(`^fsap-[0-9a-f]{8,40}$`)

// VolumeHandle is a parsed EFS volume id.
type VolumeHandle struct {
	FileSystemID string
	// SubPath is the directory to mount, relative to the access point's
	// root when there is one; "" is the root.
	SubPath       string
	AccessPointID string
}

// String returns the handle in the form CreateVolume gives.
func (h VolumeHandle) String() string {
	if h.SubPath == "" && h.AccessPointID == "" {
		return h.FileSystemID
	}
	return h.FileSystemID + ":" + h.SubPath + ":" + h.AccessPointID
}

// ParseVolumeHandle reads a volume id in any form the real driver
// accepts: [efs:]fs-ID[:[PATH][:[fsap-ID]]].
func ParseVolumeHandle(id string) (VolumeHandle, error) {
	tokens := strings.Split(id, ":")
	if tokens[0] == "efs" {
		tokens = tokens[1:]
	}
	if len(tokens) == 0 || tokens[0] == "" {
		return VolumeHandle{}, invalid("volume ID '%s' is invalid: Missing file system ID", id)
	}
	if len(tokens) > 3 {
		return VolumeHandle{}, invalid("volume ID '%s' is invalid: Expected at most three fields separated by ':'", id)
	}
	h := VolumeHandle{FileSystemID: tokens[0]}
	if !fileSystemIDRE.MatchString(h.FileSystemID) {
		return VolumeHandle{}, invalid("volume ID '%s' is invalid: Expected a file system ID of the form 'fs-[0-9a-f]{8,40}'", id)
	}
	if len(tokens) >= 2 && tokens[1] != "" {
		h.SubPath = path.Clean("/" + tokens[1])
		if h.SubPath == "/" {
			h.SubPath = ""
		}
	}
	if len(tokens) == 3 && tokens[2] != "" {
		h.AccessPointID = tokens[2]
		if !accessPointIDRE.MatchString(h.AccessPointID) {
			return VolumeHandle{}, invalid("volume ID '%s' has an invalid access point ID '%s': Expected it to be of the form 'fsap-[0-9a-f]{8,40}'", id, h.AccessPointID)
		}
	}
	return h, nil
}
