// Package efs is berth's Amazon EFS: file systems, access points and
// mount targets as EFS's API defines them, kept as records in berth's
// store, with real data behind them.
//
// A file system is a directory tree, DIR/fs-ID (Config.Dir), created with
// the record and removed when the file system is deleted. An access point
// is a view into it: its root directory is created inside the file system,
// with the owner and mode of its CreationInfo, when the access point is
// created (EFS creates it on the first mount; the result is the same). A
// mount target takes an address in a subnet of berth's default VPC, one
// per Availability Zone and file system.
//
// The rules are EFS's: CreationToken and ClientToken idempotency,
// performance and throughput modes, One Zone file systems, the
// access point quota per file system (10,000, as EFS has it today), one
// mount target per zone, no deletion of a file system that still has
// mount targets, and the error names and messages of the EFS model
// (FileSystemNotFound, FileSystemAlreadyExists, FileSystemInUse, ...).
// Errors are *apierror.Error values whose Kind is the EFS error code;
// internal/efsapi turns them into wire errors.
//
// Life cycle: a new file system, access point or mount target is
// "creating" when the call returns, as on EFS, and "available" once
// Config.CreateDelay has passed (zero by default: the next read sees it
// available). DeleteFileSystem marks the file system "deleting", removes
// its data and then its records; a deletion that a crash interrupted is
// finished by the next DeleteFileSystem call or when the service first
// touches the store after a restart.
package efs
