// Package fsx is berth's fsx.csi.aws.com: the Amazon FSx for Lustre CSI
// driver, a real gRPC server on the CSI spec over internal/fsx, shaped as
// the upstream aws-fsx-csi-driver behaves.
//
// The Controller makes one Lustre file system per volume. CreateVolume
// takes the real driver's StorageClass parameters (subnetId,
// securityGroupIds, deploymentType, perUnitStorageThroughput, storageType,
// driveCacheType, kmsKeyId, automaticBackupRetentionDays,
// dailyAutomaticBackupStartTime, copyTagsToBackups, dataCompressionType,
// weeklyMaintenanceStartTime, fileSystemTypeVersion, extraTags, efaEnabled,
// metadataConfigurationMode, metadataIops; autoImportPolicy, s3ImportPath
// and s3ExportPath are known but refused, as berth has no S3), refuses
// other keys, rounds the requested size up to a valid Lustre capacity as
// the real driver does (1,200 GiB when none is asked), tags the file
// system CSIVolumeName=NAME and finds it again by that tag, so that a
// repeated CreateVolume returns the same volume and one with another size
// is AlreadyExists. The volume id is the file system id; the volume
// context carries dnsname and mountname. ControllerExpandVolume grows the
// file system (online; no node step). There is no attach.
//
// The Node stages and publishes: NodeStageVolume bind mounts the file
// system's directory at the staging path (checking the volume context's
// dnsname and mountname against the file system, as a Lustre mount
// would), NodePublishVolume bind mounts the staging path at the target
// (read-only when asked). NodeGetVolumeStats reports the file system's
// capacity and the bytes its files take. The upstream node plugin mounts
// the Lustre client directly in NodePublishVolume, without staging; berth
// stages, which the CO handles the same way.
//
// FSx for Lustre is not available to Fargate pods; the Fargate scheduler
// refuses them.
package fsx
