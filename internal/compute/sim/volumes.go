package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// CSIDriver is a CSI driver whose node plugin the Cluster's nodes run, as
// kubelet runs a registered plugin: it registers the node in the
// cluster's CSINode with the plugin's node id, topology and volume limit,
// labels the node with the topology, and stages and publishes the CSI
// volumes of a pod before the pod runs, unpublishing and unstaging them
// after.
type CSIDriver struct {
	Name string
	// Attach means the driver needs ControllerPublish: a volume is staged
	// once its VolumeAttachment (made by kube-controller-manager's
	// attach-detach controller) is attached.
	Attach bool
	// Node returns the driver's node plugin for a node; nil, nil when the
	// driver does not run on that node (EBS on a Fargate node).
	Node func(spec NodeSpec) (csi.NodeServer, error)
}

// plugin is a driver's node plugin on one node.
type plugin struct {
	driver CSIDriver
	server csi.NodeServer
	nodeID string
	stage  bool
	expand bool
	stats  bool // NodeGetVolumeStats
}

// mounted is a volume published for a pod.
type mounted struct {
	driver, handle, staging, target string
	// namespace, claim and pv name the volume, for expansion; podName
	// and volume (the pod's name for it) for its stats.
	namespace, claim, pv string
	podName, volume      string
	capability           *csi.VolumeCapability
}

// errVolumesPending means a pod's volumes are not ready (not bound, not
// attached, the plugin not registered yet); the pod waits.
var errVolumesPending = errors.New("sim: volumes not ready")

// AddCSIDriver runs a driver's node plugin on every node, now and joining
// later. Adding a driver that runs changes nothing.
func (c *Cluster) AddCSIDriver(ctx context.Context, d CSIDriver) error {
	c.mu.Lock()
	if c.drivers == nil {
		c.drivers = map[string]CSIDriver{}
	}
	c.drivers[d.Name] = d
	nodes := make([]*node, 0, len(c.nodes))
	for _, n := range c.nodes {
		nodes = append(nodes, n)
	}
	c.mu.Unlock()
	var errs []error
	for _, n := range nodes {
		if err := c.registerPlugins(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RemoveCSIDriver stops a driver's node plugins: nodes drop it from their
// CSINode. Volumes published stay until their pods go.
func (c *Cluster) RemoveCSIDriver(ctx context.Context, name string) error {
	c.mu.Lock()
	delete(c.drivers, name)
	nodes := make([]*node, 0, len(c.nodes))
	for _, n := range c.nodes {
		nodes = append(nodes, n)
	}
	c.mu.Unlock()
	var errs []error
	for _, n := range nodes {
		n.volMu.Lock()
		_, had := n.plugins[name]
		delete(n.plugins, name)
		n.volMu.Unlock()
		if had {
			errs = append(errs, c.writeCSINode(ctx, n))
		}
	}
	return errors.Join(errs...)
}

func (c *Cluster) driverList() []CSIDriver {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]CSIDriver, 0, len(c.drivers))
	for _, d := range c.drivers {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b CSIDriver) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// registerPlugins starts the node plugins of the drivers the node does
// not run yet, as kubelet's plugin registration: NodeGetInfo and
// NodeGetCapabilities, the topology labels on the Node, the driver in
// the node's CSINode.
func (c *Cluster) registerPlugins(ctx context.Context, n *node) error {
	labels := map[string]string{}
	added := false
	for _, d := range c.driverList() {
		n.volMu.Lock()
		_, runs := n.plugins[d.Name]
		n.volMu.Unlock()
		if runs {
			continue
		}
		server, err := d.Node(n.spec)
		if err != nil {
			return fmt.Errorf("sim: %s node plugin on %s: %w", d.Name, n.spec.Name, err)
		}
		if server == nil {
			continue
		}
		info, err := server.NodeGetInfo(ctx, &csi.NodeGetInfoRequest{})
		if err != nil {
			return fmt.Errorf("sim: %s NodeGetInfo on %s: %w", d.Name, n.spec.Name, err)
		}
		caps, err := server.NodeGetCapabilities(ctx, &csi.NodeGetCapabilitiesRequest{})
		if err != nil {
			return fmt.Errorf("sim: %s NodeGetCapabilities on %s: %w", d.Name, n.spec.Name, err)
		}
		p := &plugin{driver: d, server: server, nodeID: info.GetNodeId()}
		for _, cp := range caps.GetCapabilities() {
			switch cp.GetRpc().GetType() {
			case csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME:
				p.stage = true
			case csi.NodeServiceCapability_RPC_EXPAND_VOLUME:
				p.expand = true
			case csi.NodeServiceCapability_RPC_GET_VOLUME_STATS:
				p.stats = true
			}
		}
		n.volMu.Lock()
		if n.plugins == nil {
			n.plugins = map[string]*plugin{}
		}
		n.plugins[d.Name] = p
		n.info[d.Name] = info
		n.volMu.Unlock()
		for k, v := range info.GetAccessibleTopology().GetSegments() {
			labels[k] = v
		}
		added = true
	}
	if !added {
		return nil
	}
	if len(labels) > 0 {
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
		if err != nil {
			return err
		}
		if _, err := n.core.Nodes().Patch(ctx, n.spec.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("sim: topology labels of %s: %w", n.spec.Name, err)
		}
	}
	return c.writeCSINode(ctx, n)
}

// writeCSINode makes the node's CSINode list the drivers it runs, as
// kubelet keeps it, owned by the Node.
func (c *Cluster) writeCSINode(ctx context.Context, n *node) error {
	n.volMu.Lock()
	var drivers []storagev1.CSINodeDriver
	for name, p := range n.plugins {
		info := n.info[name]
		d := storagev1.CSINodeDriver{Name: name, NodeID: p.nodeID}
		for k := range info.GetAccessibleTopology().GetSegments() {
			d.TopologyKeys = append(d.TopologyKeys, k)
		}
		slices.Sort(d.TopologyKeys)
		if m := info.GetMaxVolumesPerNode(); m > 0 {
			d.Allocatable = &storagev1.VolumeNodeResources{Count: ptr.To(int32(m))}
		}
		drivers = append(drivers, d)
	}
	n.volMu.Unlock()
	slices.SortFunc(drivers, func(a, b storagev1.CSINodeDriver) int { return strings.Compare(a.Name, b.Name) })
	csiNodes := n.storage.CSINodes()
	for range 5 {
		cur, err := csiNodes.Get(ctx, n.spec.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			obj := &storagev1.CSINode{
				ObjectMeta: metav1.ObjectMeta{Name: n.spec.Name, OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Node", Name: n.spec.Name, UID: n.uid,
				}}},
				Spec: storagev1.CSINodeSpec{Drivers: drivers},
			}
			_, err = csiNodes.Create(ctx, obj, metav1.CreateOptions{})
		case err == nil:
			cur.Spec.Drivers = drivers
			_, err = csiNodes.Update(ctx, cur, metav1.UpdateOptions{})
		}
		if err == nil {
			return nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("sim: CSINode of %s: %w", n.spec.Name, err)
		}
	}
	return fmt.Errorf("sim: CSINode of %s: conflicts", n.spec.Name)
}

// nodeDir is where a node keeps its volumes' paths, as /var/lib/kubelet.
func (c *Cluster) nodeDir(n *node) string {
	return filepath.Join(c.cfg.DataDir, n.spec.Name)
}

// attachmentName is the VolumeAttachment name kube-controller-manager
// gives a CSI volume (by its handle) on a node.
func attachmentName(handle, driver, node string) string {
	sum := sha256.Sum256([]byte(handle + driver + node))
	return "csi-" + hex.EncodeToString(sum[:])
}

// csiVolumes returns the CSI persistent volumes of a pod with their pod
// volume; ok is false while a claim is not bound.
func (c *Cluster) csiVolumes(ctx context.Context, n *node, pod *corev1.Pod) (vols []corev1.Volume, pvs []*corev1.PersistentVolume, err error) {
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		pvc, err := n.core.PersistentVolumeClaims(pod.Namespace).Get(ctx, v.PersistentVolumeClaim.ClaimName, metav1.GetOptions{})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: claim %s: %v", errVolumesPending, v.PersistentVolumeClaim.ClaimName, err)
		}
		if pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound {
			return nil, nil, fmt.Errorf("%w: claim %s is not bound", errVolumesPending, pvc.Name)
		}
		pv, err := n.core.PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: volume %s: %v", errVolumesPending, pvc.Spec.VolumeName, err)
		}
		if pv.Spec.CSI == nil {
			continue
		}
		vols = append(vols, v)
		pvs = append(pvs, pv)
	}
	return vols, pvs, nil
}

// hasClaims reports whether a pod has persistent volume claims.
func hasClaims(pod *corev1.Pod) bool {
	return slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.PersistentVolumeClaim != nil })
}

// mountVolumes stages and publishes the CSI volumes of a pod, as kubelet's
// volume manager does before the pod's containers start. It is
// idempotent; errVolumesPending means try again later.
func (c *Cluster) mountVolumes(ctx context.Context, n *node, pod *corev1.Pod) error {
	if !hasClaims(pod) {
		return nil
	}
	vols, pvs, err := c.csiVolumes(ctx, n, pod)
	if err != nil {
		return err
	}
	for i, pv := range pvs {
		src := pv.Spec.CSI
		n.volMu.Lock()
		p := n.plugins[src.Driver]
		done := slices.ContainsFunc(n.mounts[pod.UID], func(m mounted) bool { return m.driver == src.Driver && m.handle == src.VolumeHandle })
		n.volMu.Unlock()
		if done {
			continue
		}
		if p == nil {
			// A registration that failed earlier is tried again.
			if err := c.registerPlugins(ctx, n); err != nil {
				return err
			}
			n.volMu.Lock()
			p = n.plugins[src.Driver]
			n.volMu.Unlock()
		}
		if p == nil {
			return fmt.Errorf("%w: driver %s is not registered on node %s", errVolumesPending, src.Driver, n.spec.Name)
		}
		var publishContext map[string]string
		if p.driver.Attach {
			va, err := n.storage.VolumeAttachments().Get(ctx, attachmentName(src.VolumeHandle, src.Driver, n.spec.Name), metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("%w: volume %s on %s: %v", errVolumesPending, pv.Name, n.spec.Name, err)
			}
			if !va.Status.Attached {
				return fmt.Errorf("%w: volume %s is not attached to %s yet", errVolumesPending, pv.Name, n.spec.Name)
			}
			publishContext = va.Status.AttachmentMetadata
		}
		capability := volumeCapability(pv)
		sum := sha256.Sum256([]byte(src.VolumeHandle))
		staging := filepath.Join(c.nodeDir(n), "plugins", "kubernetes.io", "csi", src.Driver, hex.EncodeToString(sum[:]), "globalmount")
		if p.stage {
			if err := os.MkdirAll(staging, 0o750); err != nil {
				return err
			}
			if _, err := p.server.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{
				VolumeId: src.VolumeHandle, PublishContext: publishContext, StagingTargetPath: staging,
				VolumeCapability: capability, VolumeContext: src.VolumeAttributes,
			}); err != nil {
				return fmt.Errorf("staging volume %s: %w", pv.Name, err)
			}
		} else {
			staging = ""
		}
		kind := "volumes"
		if capability.GetBlock() != nil {
			kind = "volumeDevices"
		}
		target := filepath.Join(c.nodeDir(n), "pods", string(pod.UID), kind, "kubernetes.io~csi", pv.Name, "mount")
		if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
			return err
		}
		readOnly := src.ReadOnly || vols[i].PersistentVolumeClaim.ReadOnly
		if _, err := p.server.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
			VolumeId: src.VolumeHandle, PublishContext: publishContext, StagingTargetPath: staging, TargetPath: target,
			VolumeCapability: capability, Readonly: readOnly, VolumeContext: src.VolumeAttributes,
		}); err != nil {
			return fmt.Errorf("publishing volume %s: %w", pv.Name, err)
		}
		n.volMu.Lock()
		if n.mounts == nil {
			n.mounts = map[types.UID][]mounted{}
		}
		n.mounts[pod.UID] = append(n.mounts[pod.UID], mounted{driver: src.Driver, handle: src.VolumeHandle, staging: staging, target: target,
			namespace: pod.Namespace, claim: vols[i].PersistentVolumeClaim.ClaimName, pv: pv.Name, capability: capability,
			podName: pod.Name, volume: vols[i].Name})
		n.volMu.Unlock()
	}
	return nil
}

// volumeCapability is the CSI capability of a persistent volume.
func volumeCapability(pv *corev1.PersistentVolume) *csi.VolumeCapability {
	mode := csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER
	for _, m := range pv.Spec.AccessModes {
		switch m {
		case corev1.ReadWriteMany:
			mode = csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
		case corev1.ReadOnlyMany:
			if mode != csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER {
				mode = csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
			}
		case corev1.ReadWriteOncePod:
			mode = csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER
		}
	}
	c := &csi.VolumeCapability{AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode}}
	if pv.Spec.VolumeMode != nil && *pv.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		c.AccessType = &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}}
		return c
	}
	c.AccessType = &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{
		FsType: pv.Spec.CSI.FSType, MountFlags: pv.Spec.MountOptions,
	}}
	return c
}

// unmountVolumes unpublishes the volumes of a pod and unstages those no
// other pod of the node uses, as kubelet does once the pod's containers
// stopped.
func (c *Cluster) unmountVolumes(ctx context.Context, n *node, uid types.UID) error {
	n.volMu.Lock()
	ms := n.mounts[uid]
	n.volMu.Unlock()
	var errs []error
	for _, m := range ms {
		n.volMu.Lock()
		p := n.plugins[m.driver]
		n.volMu.Unlock()
		if p == nil {
			continue
		}
		if _, err := p.server.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: m.handle, TargetPath: m.target}); err != nil {
			errs = append(errs, fmt.Errorf("unpublishing %s: %w", m.handle, err))
			continue
		}
		n.volMu.Lock()
		n.mounts[uid] = slices.DeleteFunc(n.mounts[uid], func(x mounted) bool { return x == m })
		inUse := false
		for _, others := range n.mounts {
			if slices.ContainsFunc(others, func(x mounted) bool { return x.driver == m.driver && x.handle == m.handle }) {
				inUse = true
			}
		}
		n.volMu.Unlock()
		if m.staging != "" && !inUse {
			if _, err := p.server.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: m.handle, StagingTargetPath: m.staging}); err != nil {
				errs = append(errs, fmt.Errorf("unstaging %s: %w", m.handle, err))
			}
		}
	}
	n.volMu.Lock()
	if len(n.mounts[uid]) == 0 {
		delete(n.mounts, uid)
	}
	n.volMu.Unlock()
	if len(ms) > 0 {
		_ = os.RemoveAll(filepath.Join(c.nodeDir(n), "pods", string(uid)))
	}
	return errors.Join(errs...)
}

// unmountAll takes every volume of a node down: the node went away, and
// its mounts with it.
func (c *Cluster) unmountAll(n *node) {
	n.volMu.Lock()
	uids := make([]types.UID, 0, len(n.mounts))
	for uid := range n.mounts {
		uids = append(uids, uid)
	}
	n.volMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, uid := range uids {
		if err := c.unmountVolumes(ctx, n, uid); err != nil {
			c.log.Warn("unmounting the volumes of a stopped node", "node", n.spec.Name, "pod", uid, "err", err)
		}
	}
}

// resizeCheckInterval is how often a running pod's claims are checked
// for a filesystem resize to finish, as kubelet's volume manager does on
// its pod syncs.
const resizeCheckInterval = 5 * time.Second

// expandVolumes finishes the resize of the mounted volumes of a pod whose
// claims wait for it (the FileSystemResizePending condition the resizer
// set after ControllerExpandVolume): NodeExpandVolume, then the claim's
// status capacity, as kubelet does for volumes in use.
func (c *Cluster) expandVolumes(ctx context.Context, n *node, pod *corev1.Pod) error {
	n.volMu.Lock()
	ms := slices.Clone(n.mounts[pod.UID])
	n.volMu.Unlock()
	var errs []error
	for _, m := range ms {
		pvc, err := n.core.PersistentVolumeClaims(m.namespace).Get(ctx, m.claim, metav1.GetOptions{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !slices.ContainsFunc(pvc.Status.Conditions, func(c corev1.PersistentVolumeClaimCondition) bool {
			return c.Type == corev1.PersistentVolumeClaimFileSystemResizePending && c.Status == corev1.ConditionTrue
		}) {
			continue
		}
		pv, err := n.core.PersistentVolumes().Get(ctx, m.pv, metav1.GetOptions{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		size := pv.Spec.Capacity[corev1.ResourceStorage]
		n.volMu.Lock()
		p := n.plugins[m.driver]
		n.volMu.Unlock()
		if p != nil && p.expand {
			if _, err := p.server.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{
				VolumeId: m.handle, VolumePath: m.target, StagingTargetPath: m.staging, VolumeCapability: m.capability,
				CapacityRange: &csi.CapacityRange{RequiredBytes: size.Value()},
			}); err != nil {
				errs = append(errs, fmt.Errorf("expanding volume %s: %w", m.pv, err))
				continue
			}
		}
		pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: size}
		pvc.Status.Conditions = slices.DeleteFunc(pvc.Status.Conditions, func(c corev1.PersistentVolumeClaimCondition) bool {
			return c.Type == corev1.PersistentVolumeClaimFileSystemResizePending || c.Type == corev1.PersistentVolumeClaimResizing
		})
		delete(pvc.Status.AllocatedResourceStatuses, corev1.ResourceStorage)
		if _, err := n.core.PersistentVolumeClaims(m.namespace).UpdateStatus(ctx, pvc, metav1.UpdateOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("reporting the expansion of %s: %w", m.claim, err))
		}
	}
	return errors.Join(errs...)
}
