package ebs

import (
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"time"
)

// Store kinds owned by this package.
const (
	KindVolume   = "ebs-volume"
	KindSnapshot = "ebs-snapshot"
)

// Volume states (EC2's VolumeState). A deleted volume's record is removed,
// so "deleted" is only ever seen in a DeleteVolume answer.
const (
	StateCreating  = "creating"
	StateAvailable = "available"
	StateInUse     = "in-use"
	StateDeleting  = "deleting"
	StateDeleted   = "deleted"
	StateError     = "error"
)

// Attachment states (EC2's VolumeAttachmentState).
const (
	AttachAttaching = "attaching"
	AttachAttached  = "attached"
	AttachDetaching = "detaching"
	AttachDetached  = "detached"
)

// Modification states (EC2's VolumeModificationState).
const (
	ModModifying  = "modifying"
	ModOptimizing = "optimizing"
	ModCompleted  = "completed"
	ModFailed     = "failed"
)

// Snapshot states (EC2's SnapshotState).
const (
	SnapPending   = "pending"
	SnapCompleted = "completed"
	SnapError     = "error"
)

// Volume is the stored record of one volume.
type Volume struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	SizeGiB int    `json:"sizeGiB"`
	// IOPS is what EC2 reports: provisioned for gp3, io1 and io2, the
	// size's baseline for gp2, zero for the HDD and magnetic types.
	IOPS int `json:"iops,omitempty"`
	// Throughput in MiB/s, gp3 only.
	Throughput int    `json:"throughput,omitempty"`
	Encrypted  bool   `json:"encrypted,omitempty"`
	KMSKeyID   string `json:"kmsKeyId,omitempty"`
	AZ         string `json:"az"`
	AZID       string `json:"azId"`
	State      string `json:"state"`
	// StateMessage says why a volume is in the error state.
	StateMessage   string            `json:"stateMessage,omitempty"`
	CreateTime     time.Time         `json:"createTime"`
	SnapshotID     string            `json:"snapshotId,omitempty"`
	SourceVolumeID string            `json:"sourceVolumeId,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	MultiAttach    bool              `json:"multiAttach,omitempty"`
	Attachments    []Attachment      `json:"attachments,omitempty"`
	// Modification is the most recent ModifyVolume, if any.
	Modification *Modification `json:"modification,omitempty"`
	// ModificationStarts are the start times of the modifications of the
	// last day, for the rate limit.
	ModificationStarts []time.Time `json:"modificationStarts,omitempty"`
	ClientToken        string      `json:"clientToken,omitempty"`
	// InitializationRate is the volume initialization rate (MiB/s) asked
	// for a volume created from a snapshot.
	InitializationRate int `json:"initializationRate,omitempty"`
}

// Attachment is one attachment of a volume to an instance.
type Attachment struct {
	InstanceID          string    `json:"instanceId"`
	Device              string    `json:"device"`
	State               string    `json:"state"`
	AttachTime          time.Time `json:"attachTime"`
	DeleteOnTermination bool      `json:"deleteOnTermination,omitempty"`
}

// Modification is a volume modification (ModifyVolume). Its state is
// modifying while the data grows, then optimizing until OptimizeUntil,
// then completed: State returns the state at a given time.
type Modification struct {
	VolumeID      string    `json:"volumeId"`
	Phase         string    `json:"phase"` // modifying, optimizing or failed as stored
	StatusMessage string    `json:"statusMessage,omitempty"`
	StartTime     time.Time `json:"startTime"`
	OptimizeUntil time.Time `json:"optimizeUntil,omitzero"`

	OriginalSize        int    `json:"originalSize"`
	OriginalType        string `json:"originalType"`
	OriginalIOPS        int    `json:"originalIops,omitempty"`
	OriginalThroughput  int    `json:"originalThroughput,omitempty"`
	OriginalMultiAttach bool   `json:"originalMultiAttach,omitempty"`
	TargetSize          int    `json:"targetSize"`
	TargetType          string `json:"targetType"`
	TargetIOPS          int    `json:"targetIops,omitempty"`
	TargetThroughput    int    `json:"targetThroughput,omitempty"`
	TargetMultiAttach   bool   `json:"targetMultiAttach,omitempty"`
}

// State returns the modification's state at now.
func (m *Modification) State(now time.Time) string {
	switch {
	case m.Phase == ModModifying || m.Phase == ModFailed:
		return m.Phase
	case now.Before(m.OptimizeUntil):
		return ModOptimizing
	}
	return ModCompleted
}

// Progress returns the modification's progress in percent at now.
func (m *Modification) Progress(now time.Time) int {
	switch m.State(now) {
	case ModModifying, ModFailed:
		return 0
	case ModCompleted:
		return 100
	}
	total := m.OptimizeUntil.Sub(m.StartTime)
	if total <= 0 {
		return 100
	}
	return int(100 * now.Sub(m.StartTime) / total)
}

// EndTime returns when the modification completed, zero before.
func (m *Modification) EndTime(now time.Time) time.Time {
	if m.State(now) != ModCompleted {
		return time.Time{}
	}
	return m.OptimizeUntil
}

// Snapshot is the stored record of one snapshot.
type Snapshot struct {
	ID             string            `json:"id"`
	VolumeID       string            `json:"volumeId"`
	VolumeSizeGiB  int               `json:"volumeSizeGiB"`
	State          string            `json:"state"`
	StateMessage   string            `json:"stateMessage,omitempty"`
	StartTime      time.Time         `json:"startTime"`
	CompletionTime time.Time         `json:"completionTime,omitzero"`
	Description    string            `json:"description,omitempty"`
	Encrypted      bool              `json:"encrypted,omitempty"`
	KMSKeyID       string            `json:"kmsKeyId,omitempty"`
	AZ             string            `json:"az"`
	Tags           map[string]string `json:"tags,omitempty"`
	// DataBytes is the size of the data the snapshot holds (its
	// non-hole extents), EC2's FullSnapshotSizeInBytes.
	DataBytes int64 `json:"dataBytes,omitempty"`
}

// Progress is EC2's snapshot progress string.
func (s *Snapshot) Progress() string {
	if s.State == SnapCompleted {
		return "100%"
	}
	return "0%"
}

// AttachmentTo returns the volume's attachment to an instance, if any.
func (v *Volume) AttachmentTo(instanceID string) (Attachment, bool) {
	for _, a := range v.Attachments {
		if a.InstanceID == instanceID {
			return a, true
		}
	}
	return Attachment{}, false
}

// SizeBytes is the volume's size in bytes.
func (v *Volume) SizeBytes() int64 { return int64(v.SizeGiB) << 30 }

var (
	volumeIDRE   = regexp.MustCompile(`^vol-([0-9a-f]{8}|[0-9a-f]{17})$`)
	snapshotIDRE = regexp.MustCompile(`^snap-([0-9a-f]{8}|[0-9a-f]{17})$`)
)

// ValidVolumeID reports whether id has the form of an EC2 volume ID.
func ValidVolumeID(id string) bool { return volumeIDRE.MatchString(id) }

// ValidSnapshotID reports whether id has the form of an EC2 snapshot ID.
func ValidSnapshotID(id string) bool { return snapshotIDRE.MatchString(id) }

// newID returns prefix-17 random hex digits.
func newID(prefix string) string {
	var b [9]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return prefix + "-" + hex.EncodeToString(b[:])[:17]
}
