// Package plugin is what berth's CSI drivers serve the same way: the
// Identity service (the driver's name, version, manifest and plugin
// capabilities), the gRPC server that runs it beside a controller or node
// service until its context ends, and, for the file-system drivers (EFS,
// FSx for Lustre) that publish directories with a bindmount.Mounter, the
// undoing of a publish.
package plugin
