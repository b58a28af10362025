package sidecar

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	snapinformers "github.com/kubernetes-csi/external-snapshotter/client/v8/informers/externalversions"
	snapctrl "github.com/kubernetes-csi/external-snapshotter/v8/pkg/sidecar-controller"
	"github.com/kubernetes-csi/external-snapshotter/v8/pkg/snapshotter"
	"k8s.io/client-go/util/workqueue"
)

// csi-snapshotter's settings that are not its flags' defaults.
const (
	// snapshotResync is csi-snapshotter's and snapshot-controller's
	// --resync-period.
	snapshotResync = 15 * time.Minute
	// snapshotNamePrefix is --snapshot-name-prefix: snapshots are named
	// snapshot-<VolumeSnapshot UID>.
	snapshotNamePrefix = "snapshot"
)

// snapshotter sets up csi-snapshotter (external-snapshotter's
// pkg/sidecar-controller) as its cmd/csi-snapshotter/main.go does, with
// --extra-create-metadata (the EBS driver tags snapshots with their
// VolumeSnapshot's name): VolumeSnapshotContents of the driver become
// CreateSnapshot and DeleteSnapshot calls. Volume group snapshots are
// off: berth's drivers have no group controller service.
func (s *sidecars) snapshotter(ctx context.Context) error {
	cfg := s.cfg
	if !s.controller[csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT] {
		return fmt.Errorf("sidecar: %s does not create snapshots", cfg.Driver)
	}
	if err := addSnapshotScheme(); err != nil {
		return fmt.Errorf("registering the snapshot types: %w", err)
	}
	factory := snapinformers.NewSharedInformerFactory(s.snap, snapshotResync)
	c := snapctrl.NewCSISnapshotSideCarController(
		s.snap,
		cfg.Kube,
		cfg.Driver,
		factory.Snapshot().V1().VolumeSnapshotContents(),
		factory.Snapshot().V1().VolumeSnapshotClasses(),
		snapshotter.NewSnapshotter(s.conn),
		nil, // no group snapshotter
		snapshotTimeout,
		snapshotResync,
		snapshotNamePrefix,
		-1, // --snapshot-name-uuid-length: the whole UID
		"groupsnapshot",
		-1,
		true, // --extra-create-metadata
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryStart, retryMax),
		false, // volume group snapshots
		nil,
		nil,
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryStart, retryMax),
	)
	s.started = append(s.started, "csi-snapshotter")
	s.runs = append(s.runs, func(ctx context.Context, wg *sync.WaitGroup) {
		factory.Start(ctx.Done())
		defer factory.Shutdown()
		c.Run(workers, ctx.Done(), wg)
	})
	return nil
}
