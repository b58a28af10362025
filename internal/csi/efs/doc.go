// Package efs is berth's efs.csi.aws.com: the Amazon EFS CSI driver, a
// real gRPC server on the CSI spec over internal/efs, shaped as the
// upstream aws-efs-csi-driver behaves.
//
// The Controller provisions dynamically through access points: CreateVolume
// takes the StorageClass parameters of the real driver (provisioningMode
// efs-ap, fileSystemId, directoryPerms, uid, gid, gidRangeStart,
// gidRangeEnd, basePath, subPathPattern, ensureUniqueDirectory,
// reuseAccessPoint, az, enableTagging, enforceZoneAffinity, and the
// csi.storage.k8s.io/ keys the provisioner passes), refuses any other key,
// and makes one access point per volume, with a GID from the range when
// none is given, as the real driver allocates them. The volume id is
// fs-ID::fsap-ID. Capacity means nothing to EFS: the volume reports the
// size requested (recorded in the access point's berth.dev/csi-capacity
// tag, so that a second request of the same name with another size is
// AlreadyExists, as the CSI spec wants). DeleteVolume deletes the access
// point, and its root directory too when ControllerConfig.DeleteRootDir is
// set (the real driver's delete-access-point-root-dir). EFS has no attach:
// there is no ControllerPublishVolume.
//
// The Node publishes without staging, as the real driver: NodePublishVolume
// bind mounts the file system's directory, or an access point's root
// directory, or a sub path of either, at the target path; the volume
// handles of static volumes are accepted in every form the real driver
// takes (fs-ID, fs-ID:/path, fs-ID::fsap-ID, fs-ID:/path:fsap-ID, each
// optionally prefixed efs:). A file system must have a mount target to be
// mounted, as on AWS (one in the node's zone is preferred). Mount options
// are read as the real driver reads them: ro (or the request's readonly)
// makes the mount read-only; tls, iam, noresvport and the like are
// accepted and mean nothing here; accesspoint= must agree with the volume
// handle; crossaccount is refused.
//
// What is emulated: an access point's PosixUser is not enforced on the
// files (a bind mount carries the caller's identity; the root directory
// has the owner and mode of its CreationInfo). Where the process may not
// mount, volumes are published as symbolic links (see
// internal/csi/bindmount; Node.Mode reports which).
package efs
