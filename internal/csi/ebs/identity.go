package ebs

import (
	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/berthproject/berth/internal/csi/plugin"
)

// Version is the driver version berth reports.
const Version = "berth"

// NewIdentity returns the CSI Identity service of a server that serves a
// controller (when controller is true) and a node (when node is not
// nil). It places volumes by topology and expands them online. Its
// manifest says how the node (if any) turns volumes into filesystems:
// "berth.dev/node-mode" is loop, bind or symlink, and
// "berth.dev/emulation" says why a node emulates.
func NewIdentity(controller bool, node *Node) *plugin.Identity {
	id := &plugin.Identity{Name: DriverName, Version: Version, Manifest: map[string]string{}, Ready: true,
		Capabilities: []*csi.PluginCapability{
			plugin.ServiceCapability(csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS),
			plugin.OnlineExpansion(),
		}}
	if controller {
		id.Capabilities = append(id.Capabilities, plugin.ServiceCapability(csi.PluginCapability_Service_CONTROLLER_SERVICE))
	}
	if node != nil {
		id.Manifest["berth.dev/node-mode"] = string(node.Mode())
		if node.Mode().Emulated() {
			id.Manifest["berth.dev/emulation"] = node.ModeReason()
		}
	}
	return id
}
