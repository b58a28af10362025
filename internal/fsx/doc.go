// Package fsx is berth's Amazon FSx for Lustre: Lustre file systems as
// the FSx API defines them, kept as records in berth's store, each with a
// directory tree of real data, DIR/fs-ID (Config.Dir).
//
// The rules are FSx's for Lustre: deployment types SCRATCH_1, SCRATCH_2,
// PERSISTENT_1 and PERSISTENT_2; storage capacities of 1,200 GiB, 2,400
// GiB and then increments of 2,400 GiB (3,600 for SCRATCH_1; for
// PERSISTENT_1 HDD, increments of 6,000 GiB at 12 MB/s/TiB and 1,800 GiB
// at 40); PerUnitStorageThroughput from the set each deployment and
// storage type allows and nowhere else; exactly one subnet of berth's VPC;
// backups, KMS keys and copy-tags-to-backups for persistent file systems
// only; ClientRequestToken idempotency (the same token with other
// parameters is IncompatibleParameterError); the account's total storage
// quota. RoundCapacity rounds a size up to a valid capacity, as the FSx
// CSI driver does.
//
// A new file system is CREATING when the call returns and AVAILABLE once
// Config.CreateDelay has passed (zero by default). Its DNS name is
// fs-ID.fsx.REGION.amazonaws.com and its mount name "fsx" for SCRATCH_1
// and eight random characters otherwise. Storage capacity increases
// (UpdateFileSystem) take effect at once and are reported as a completed
// FILE_SYSTEM_UPDATE administrative action.
//
// Errors are *apierror.Error values whose Kind is the FSx error code;
// internal/fsxapi turns them into wire errors.
package fsx
