// Package ebs is berth's EBS CSI driver, ebs.csi.aws.com: the Identity,
// Controller and Node services of the CSI spec, served over gRPC on a
// unix socket (Server) or called in process.
//
// The Controller works on berth's EBS service (internal/ebs) in process,
// so what it provisions is what EC2's DescribeVolumes shows. It takes the
// StorageClass parameters of the real aws-ebs-csi-driver (type, iops,
// iopsPerGB, allowAutoIOPSPerGBIncrease, throughput, encrypted, kmsKeyId,
// fsType, the mkfs options, tagSpecification_N, ...; params.go) and
// refuses unknown ones, tags volumes as that driver does (CSIVolumeName
// finds a volume again by its CSI name), places volumes in the zone the
// topology asks for, restores snapshots and clones volumes, and attaches
// a volume to the node's instance on ControllerPublishVolume with the
// device names the real driver uses.
//
// A Node is built per node (the instance id is its node id) and works on
// the volume's data: on a machine with root, loop devices and mkfs
// (ModeLoop), staging attaches the volume's file to a loop device, formats
// it when blank and mounts it, publishing bind-mounts it, raw block
// volumes bind-mount the loop device, expansion grows the loop device and
// the filesystem. Without them the node emulates (ModeBind: a directory
// per volume bind-mounted; ModeSymlink, without mount rights: symbolic
// links) and says so in its Mode and in the plugin manifest.
package ebs
