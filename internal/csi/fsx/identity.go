package fsx

import (
	"context"
	"net"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"

	"github.com/berthproject/berth/internal/csi/plugin"
)

// identity is the CSI Identity service, the same on the controller and
// every node: a controller service, and online expansion.
func identity() *plugin.Identity {
	return &plugin.Identity{Name: DriverName, Version: Version, Capabilities: []*csi.PluginCapability{
		plugin.ServiceCapability(csi.PluginCapability_Service_CONTROLLER_SERVICE),
		plugin.OnlineExpansion(),
	}}
}

// serve runs a gRPC server with the identity service and register's
// services on lis until ctx is done.
func serve(ctx context.Context, lis net.Listener, register func(*grpc.Server)) error {
	return plugin.Serve(ctx, lis, identity(), register)
}
