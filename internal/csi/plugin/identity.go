package plugin

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Identity is the CSI Identity service of one driver: the controller and
// every node serve the same one, as the real drivers' single binaries do.
type Identity struct {
	csi.UnimplementedIdentityServer
	// Name is the driver's name (efs.csi.aws.com); Version its vendor
	// version.
	Name    string
	Version string
	// Manifest is GetPluginInfo's manifest (nil: none).
	Manifest map[string]string
	// Capabilities are the plugin capabilities reported, in order.
	Capabilities []*csi.PluginCapability
	// Ready makes Probe say ready explicitly; otherwise it leaves ready
	// unset, which CSI reads as ready too.
	Ready bool
}

var _ csi.IdentityServer = (*Identity)(nil)

// ServiceCapability is a plugin capability of the service type t.
func ServiceCapability(t csi.PluginCapability_Service_Type) *csi.PluginCapability {
	return &csi.PluginCapability{Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: t}}}
}

// OnlineExpansion is the capability of expanding volumes in use.
func OnlineExpansion() *csi.PluginCapability {
	return &csi.PluginCapability{Type: &csi.PluginCapability_VolumeExpansion_{VolumeExpansion: &csi.PluginCapability_VolumeExpansion{Type: csi.PluginCapability_VolumeExpansion_ONLINE}}}
}

// GetPluginInfo names the driver.
func (i *Identity) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: i.Name, VendorVersion: i.Version, Manifest: i.Manifest}, nil
}

// GetPluginCapabilities reports the driver's capabilities.
func (i *Identity) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{Capabilities: i.Capabilities}, nil
}

// Probe says the driver is ready: everything it needs is in process.
func (i *Identity) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	if i.Ready {
		return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
	}
	return &csi.ProbeResponse{}, nil
}
