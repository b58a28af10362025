package efs

import (
	"context"
	"net"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"

	"github.com/berthproject/berth/internal/csi/plugin"
)

// DriverName is the CSI driver's name.
const DriverName = "efs.csi.aws.com"

// Version is the vendor version the driver reports.
const Version = "berth"

// TopologyZoneKey is the topology key of the zone, as the real driver
// reports it.
const TopologyZoneKey = "topology.kubernetes.io/zone"

// identity is the CSI Identity service; the controller and every node
// serve the same one, as the real driver's single binary does.
func identity() *plugin.Identity {
	return &plugin.Identity{Name: DriverName, Version: Version, Capabilities: []*csi.PluginCapability{
		plugin.ServiceCapability(csi.PluginCapability_Service_CONTROLLER_SERVICE),
		plugin.ServiceCapability(csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS),
	}}
}

// serve runs a gRPC server with the identity service and register's
// services on lis until ctx is done.
func serve(ctx context.Context, lis net.Listener, register func(*grpc.Server)) error {
	return plugin.Serve(ctx, lis, identity(), register)
}
