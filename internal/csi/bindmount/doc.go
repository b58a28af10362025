// Package bindmount publishes directories at CSI target paths for the
// node side of berth's file-system CSI drivers (EFS, FSx for Lustre): a
// bind mount where the process may mount (root, CAP_SYS_ADMIN), else a
// symbolic link, which serves the same data to whoever follows it but
// cannot be read-only and is not a mount point. Mode says which one a
// Mounter uses; it decides once, by trying.
package bindmount
