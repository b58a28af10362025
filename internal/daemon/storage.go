package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/berthproject/berth/internal/compute/sim"
	addonctl "github.com/berthproject/berth/internal/controllers/addon"
	"github.com/berthproject/berth/internal/csi/bindmount"
	csiebs "github.com/berthproject/berth/internal/csi/ebs"
	csiefs "github.com/berthproject/berth/internal/csi/efs"
	csifsx "github.com/berthproject/berth/internal/csi/fsx"
	"github.com/berthproject/berth/internal/csi/sidecar"
	"github.com/berthproject/berth/internal/ebs"
	"github.com/berthproject/berth/internal/efs"
	"github.com/berthproject/berth/internal/fsx"
)

// storageDrivers is what the storage add-ons install in a cluster: the
// CSIDriver objects as the EKS add-ons register them, the controller
// side (berth's CSI controllers behind the upstream sidecars), and the
// node plugins the simulated kubelets run.
type storageDrivers struct {
	dataDir string
	access  func(ctx context.Context, cluster string) (*rest.Config, error)
	volumes *ebs.Service
	efs     *efs.Service
	fsx     *fsx.Service
	mounter *bindmount.Mounter
	ebsMode csiebs.Mode
	log     *slog.Logger
}

// socketDir is a short directory for a cluster's CSI sockets (a unix
// socket path has 107 bytes at most; cluster names have up to 100).
func (s *storageDrivers) socketDir(cluster string) string {
	sum := sha256.Sum256([]byte(cluster))
	return filepath.Join(s.dataDir, "csi", hex.EncodeToString(sum[:6]))
}

// run runs one driver's sidecars for a cluster until ctx is done.
func (s *storageDrivers) run(ctx context.Context, cluster, driver string, attach, snapshots bool,
	ctrl csi.ControllerServer, id csi.IdentityServer) error {
	rc, err := s.access(ctx, cluster)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	dir := s.socketDir(cluster)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	log := s.log.With("cluster", cluster, "driver", driver)
	if snapshots {
		// The snapshot CRDs and the common snapshot controller, which the
		// EBS add-on brings on EKS, run with the driver's sidecars.
		if err := sidecar.InstallSnapshotCRDs(ctx, rc); err != nil {
			return err
		}
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			if err := sidecar.RunSnapshotController(ctx, sidecar.SnapshotControllerConfig{Kube: kube, KubeConfig: rc, Logger: log}); err != nil && ctx.Err() == nil {
				log.Warn("snapshot controller stopped", "err", err)
			}
		}()
	}
	return sidecar.Run(ctx, sidecar.Config{
		Kube: kube, KubeConfig: rc, Driver: driver, Controller: ctrl, Identity: id, SocketDir: dir,
		Attach: attach, Resize: true, Snapshots: snapshots, Logger: log,
	})
}

// instanceOf returns the instance id and zone of a node that is an EC2
// instance (providerID aws:///ZONE/i-...); ok is false for Fargate and
// agent nodes.
func instanceOf(spec sim.NodeSpec) (id, zone string, ok bool) {
	rest, found := strings.CutPrefix(spec.ProviderID, "aws:///")
	zone, id, _ = strings.Cut(rest, "/")
	if !found || !strings.HasPrefix(id, "i-") || spec.Labels["eks.amazonaws.com/compute-type"] == "fargate" {
		return "", "", false
	}
	return id, zone, true
}

func csiDriverObject(name string, attach bool, policy storagev1.FSGroupPolicy) storagev1.CSIDriver {
	return storagev1.CSIDriver{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: storagev1.CSIDriverSpec{
			AttachRequired: ptr.To(attach), PodInfoOnMount: ptr.To(false), FSGroupPolicy: ptr.To(policy),
			VolumeLifecycleModes: []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent},
		},
	}
}

// drivers returns the add-ons' drivers by add-on name.
func (s *storageDrivers) drivers() map[string]addonctl.Driver {
	return map[string]addonctl.Driver{
		"aws-ebs-csi-driver": {
			CSIDriver: csiDriverObject(csiebs.DriverName, true, storagev1.FileFSGroupPolicy),
			Node: sim.CSIDriver{Name: csiebs.DriverName, Attach: true, Node: func(spec sim.NodeSpec) (csi.NodeServer, error) {
				id, zone, ok := instanceOf(spec)
				if !ok {
					return nil, nil
				}
				return csiebs.NewNode(csiebs.NodeConfig{NodeID: id, Zone: zone, InstanceType: spec.Labels[corev1.LabelInstanceTypeStable],
					Volumes: s.volumes, Mode: s.ebsMode, Logger: s.log})
			}},
			Run: func(ctx context.Context, cluster string) error {
				ctrl, err := csiebs.NewController(csiebs.ControllerConfig{Volumes: s.volumes, ClusterID: cluster, Logger: s.log})
				if err != nil {
					return err
				}
				return s.run(ctx, cluster, csiebs.DriverName, true, true, ctrl, csiebs.NewIdentity(true, nil))
			},
		},
		"aws-efs-csi-driver": {
			CSIDriver: csiDriverObject(csiefs.DriverName, false, storagev1.NoneFSGroupPolicy),
			Node: sim.CSIDriver{Name: csiefs.DriverName, Node: func(spec sim.NodeSpec) (csi.NodeServer, error) {
				// EFS mounts on Fargate too.
				id, _, ok := instanceOf(spec)
				if !ok {
					id = spec.Name
				}
				return csiefs.NewNode(csiefs.NodeConfig{NodeID: id, Zone: spec.Labels[corev1.LabelTopologyZone], EFS: s.efs, Mounter: s.mounter, Logger: s.log})
			}},
			Run: func(ctx context.Context, cluster string) error {
				ctrl, err := csiefs.NewController(csiefs.ControllerConfig{EFS: s.efs, Cluster: cluster, Logger: s.log})
				if err != nil {
					return err
				}
				return s.run(ctx, cluster, csiefs.DriverName, false, false, ctrl, ctrl.Identity())
			},
		},
		"aws-fsx-csi-driver": {
			CSIDriver: csiDriverObject(csifsx.DriverName, false, storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy),
			Node: sim.CSIDriver{Name: csifsx.DriverName, Node: func(spec sim.NodeSpec) (csi.NodeServer, error) {
				id, _, ok := instanceOf(spec)
				if !ok {
					return nil, nil // not on Fargate
				}
				return csifsx.NewNode(csifsx.NodeConfig{NodeID: id, FSx: s.fsx, Mounter: s.mounter, Logger: s.log})
			}},
			Run: func(ctx context.Context, cluster string) error {
				ctrl, err := csifsx.NewController(csifsx.ControllerConfig{FSx: s.fsx, Logger: s.log})
				if err != nil {
					return err
				}
				return s.run(ctx, cluster, csifsx.DriverName, false, false, ctrl, ctrl.Identity())
			},
		},
	}
}
