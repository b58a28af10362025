// Package ebs is berth's Elastic Block Store: volumes and snapshots as
// records in the store, each with real data behind it, the one layer the
// EC2 API (internal/ec2api) and the CSI driver (internal/csi/ebs) share.
//
// A volume is a record of kind "ebs-volume" (vol- and 17 hex digits) and
// a sparse file DIR/volumes/vol-X.img (DIR is Config.DataDir, DATA/ebs in
// the daemon) truncated to the volume's size;
// ModifyVolume grows the file. A snapshot is a record of kind
// "ebs-snapshot" and a copy of the volume's file that keeps its holes
// (FICLONE where the filesystem can share extents, else only the data
// extents found with SEEK_DATA/SEEK_HOLE are copied). A volume created
// from a snapshot, or cloned from another volume, starts as a copy of its
// source. When a node emulates a filesystem without loop devices, the
// volume's files live in a directory beside the image (vol-X.fs) and are
// copied and removed with it.
//
// The rules are EC2's, kept as data (limits.go for the volume types,
// attachlimits.go for the attachment limits of instance types), and the
// errors carry EC2's codes and messages (errors.go).
//
// Crash safety: a record and its file never disagree for long. Every
// operation that makes or changes data writes its record first in a
// transitional state (a volume creating, a modification "modifying", a
// snapshot pending), then writes the data (new files under a .tmp name,
// renamed when complete), then writes the final state; a deletion removes
// the record first, then the files. Reconcile, run at start, finishes
// what a crash interrupted (or marks it failed when its source is gone)
// and removes files that no record names. All record writes are conditional on the
// revision read and retried on conflict; attachments are checked and
// written under one lock, as one process owns a data directory.
package ebs
