package sidecar

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-lib-utils/rpc"
	resizectrl "github.com/kubernetes-csi/external-resizer/v2/pkg/controller"
	resizecsi "github.com/kubernetes-csi/external-resizer/v2/pkg/csi"
	"github.com/kubernetes-csi/external-resizer/v2/pkg/features"
	"github.com/kubernetes-csi/external-resizer/v2/pkg/modifier"
	"github.com/kubernetes-csi/external-resizer/v2/pkg/modifycontroller"
	"github.com/kubernetes-csi/external-resizer/v2/pkg/resizer"
	"google.golang.org/grpc"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/util/workqueue"
)

// resizer sets up external-resizer (github.com/kubernetes-csi/
// external-resizer/v2) as its cmd/csi-resizer/main.go does: claims whose
// requested size grows past their volume's become ControllerExpandVolume
// calls, the PersistentVolume's capacity follows, and the claim waits in
// FileSystemResizePending when the driver says the node must grow the
// filesystem. For a driver that modifies volumes (EBS), the modify
// controller turns a claim's VolumeAttributesClass into
// ControllerModifyVolume calls, as csi-resizer runs it too.
//
// Unlike csi-resizer's default, volumes in use are not handled
// specially (--handle-volume-inuse-error=false): berth's drivers expand
// online, and the option watches every pod of the cluster.
func (s *sidecars) resizer(ctx context.Context) error {
	cfg := s.cfg
	client := &resizeClient{conn: s.conn, ctrl: csi.NewControllerClient(s.conn)}
	r, err := resizer.NewResizerFromClient(client, resizeTimeout, cfg.Kube, cfg.Driver)
	switch {
	case errors.Is(err, resizer.ResizeNotSupportErr):
		r = nil
	case err != nil:
		return fmt.Errorf("resizer of %s: %w", cfg.Driver, err)
	}
	m, err := modifier.NewModifierFromClient(client, resizeTimeout, cfg.Kube, s.factory, false, cfg.Driver)
	switch {
	case errors.Is(err, modifier.ModifyNotSupportErr):
		m = nil
	case err != nil:
		return fmt.Errorf("modifier of %s: %w", cfg.Driver, err)
	}
	if r != nil {
		rc := resizectrl.NewResizeController(r.Name(), r, cfg.Kube, resync, s.factory,
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryStart, retryMax),
			false, // --handle-volume-inuse-error
			retryMax)
		s.started = append(s.started, "external-resizer")
		s.runs = append(s.runs, func(ctx context.Context, wg *sync.WaitGroup) { rc.Run(workers, ctx, wg) })
	}
	if m != nil && utilfeature.DefaultFeatureGate.Enabled(features.VolumeAttributesClass) {
		mc := modifycontroller.NewModifyController(m.Name(), m, cfg.Kube, resync, retryMax, false, s.factory,
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryStart, retryMax))
		s.started = append(s.started, "external-resizer modify")
		s.runs = append(s.runs, func(ctx context.Context, wg *sync.WaitGroup) { mc.Run(workers, ctx, wg) })
	}
	return nil
}

// resizeClient is external-resizer's CSI client over Run's connection.
// The library's own (resizecsi.New) dials the socket itself and exits the
// process when the connection is lost; its methods are these.
type resizeClient struct {
	conn *grpc.ClientConn
	ctrl csi.ControllerClient
}

var _ resizecsi.Client = (*resizeClient)(nil)

func (c *resizeClient) GetDriverName(ctx context.Context) (string, error) {
	return rpc.GetDriverName(ctx, c.conn)
}

func (c *resizeClient) SupportsPluginControllerService(ctx context.Context) (bool, error) {
	caps, err := rpc.GetPluginCapabilities(ctx, c.conn)
	if err != nil {
		return false, fmt.Errorf("error getting plugin capabilities: %w", err)
	}
	return caps[csi.PluginCapability_Service_CONTROLLER_SERVICE], nil
}

func (c *resizeClient) controllerCap(ctx context.Context, t csi.ControllerServiceCapability_RPC_Type) (bool, error) {
	caps, err := rpc.GetControllerCapabilities(ctx, c.conn)
	if err != nil {
		return false, fmt.Errorf("error getting controller capabilities: %w", err)
	}
	return caps[t], nil
}

func (c *resizeClient) SupportsControllerResize(ctx context.Context) (bool, error) {
	return c.controllerCap(ctx, csi.ControllerServiceCapability_RPC_EXPAND_VOLUME)
}

// SupportsNodeResize is false: the socket serves no node service (the
// nodes' simulated kubelets run it). The library asks only of drivers
// without controller expansion, and then runs a resizer that merely
// hands the growth to the nodes.
func (c *resizeClient) SupportsNodeResize(context.Context) (bool, error) { return false, nil }

func (c *resizeClient) SupportsControllerModify(ctx context.Context) (bool, error) {
	return c.controllerCap(ctx, csi.ControllerServiceCapability_RPC_MODIFY_VOLUME)
}

func (c *resizeClient) SupportsControllerSingleNodeMultiWriter(ctx context.Context) (bool, error) {
	return c.controllerCap(ctx, csi.ControllerServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER)
}

func (c *resizeClient) Expand(ctx context.Context, volumeID string, requestBytes int64, secrets map[string]string, capability *csi.VolumeCapability) (int64, bool, error) {
	resp, err := c.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
		VolumeId:         volumeID,
		CapacityRange:    &csi.CapacityRange{RequiredBytes: requestBytes},
		Secrets:          secrets,
		VolumeCapability: capability,
	})
	if err != nil {
		return 0, false, err
	}
	return resp.GetCapacityBytes(), resp.GetNodeExpansionRequired(), nil
}

func (c *resizeClient) Modify(ctx context.Context, volumeID string, secrets map[string]string, mutableParameters map[string]string) error {
	_, err := c.ctrl.ControllerModifyVolume(ctx, &csi.ControllerModifyVolumeRequest{
		VolumeId:          volumeID,
		Secrets:           secrets,
		MutableParameters: mutableParameters,
	})
	return err
}

// CloseConnection does nothing: Run owns the connection.
func (c *resizeClient) CloseConnection() {}
