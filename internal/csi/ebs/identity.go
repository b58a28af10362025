package ebs

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Version is the driver version berth reports.
const Version = "berth"

// Identity is the CSI Identity service. Its manifest says how the node
// (if any) turns volumes into filesystems: "berth.dev/node-mode" is
// loop, bind or symlink, and "berth.dev/emulation" says why a node
// emulates.
type Identity struct {
	csi.UnimplementedIdentityServer
	controller bool
	manifest   map[string]string
}

var _ csi.IdentityServer = (*Identity)(nil)

// NewIdentity returns the Identity of a server that serves a controller
// (when controller is true) and a node (when node is not nil).
func NewIdentity(controller bool, node *Node) *Identity {
	id := &Identity{controller: controller, manifest: map[string]string{}}
	if node != nil {
		id.manifest["berth.dev/node-mode"] = string(node.Mode())
		if node.Mode().Emulated() {
			id.manifest["berth.dev/emulation"] = node.ModeReason()
		}
	}
	return id
}

// GetPluginInfo names the driver.
func (i *Identity) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: DriverName, VendorVersion: Version, Manifest: i.manifest}, nil
}

// GetPluginCapabilities says the driver has a controller (when it
// serves one), places volumes by topology and expands them online.
func (i *Identity) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	out := &csi.GetPluginCapabilitiesResponse{Capabilities: []*csi.PluginCapability{
		{Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS}}},
		{Type: &csi.PluginCapability_VolumeExpansion_{VolumeExpansion: &csi.PluginCapability_VolumeExpansion{Type: csi.PluginCapability_VolumeExpansion_ONLINE}}},
	}}
	if i.controller {
		out.Capabilities = append(out.Capabilities, &csi.PluginCapability{
			Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: csi.PluginCapability_Service_CONTROLLER_SERVICE}}})
	}
	return out, nil
}

// Probe says the driver is ready: everything it needs is in process.
func (i *Identity) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
}
