package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-logr/logr"
	snapclientset "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
	snapinformers "github.com/kubernetes-csi/external-snapshotter/client/v8/informers/externalversions"
	commonctrl "github.com/kubernetes-csi/external-snapshotter/v8/pkg/common-controller"
	"github.com/kubernetes-csi/external-snapshotter/v8/pkg/metrics"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// SnapshotControllerConfig is the common snapshot controller of one
// cluster.
type SnapshotControllerConfig struct {
	// Kube is a client of the cluster with the rights of an admin.
	// Required.
	Kube kubernetes.Interface
	// KubeConfig is the admin's configuration of the same cluster.
	// Required.
	KubeConfig *rest.Config
	Logger     *slog.Logger
}

// RunSnapshotController runs the common snapshot-controller
// (external-snapshotter's pkg/common-controller, which EKS runs in the
// cluster as the snapshot-controller add-on) until ctx is done, as its
// cmd/snapshot-controller/main.go runs it without leader election: it
// binds VolumeSnapshots to VolumeSnapshotContents, makes a content for a
// dynamic snapshot for the driver's csi-snapshotter to cut, and deletes
// contents by their deletion policy. It waits for the snapshot CRDs
// (InstallSnapshotCRDs) first. Run it once per cluster, whatever the
// number of drivers.
func RunSnapshotController(ctx context.Context, cfg SnapshotControllerConfig) error {
	if cfg.Kube == nil || cfg.KubeConfig == nil {
		return errors.New("sidecar: Kube and KubeConfig are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(demote{cfg.Logger.Handler()}))
	snap, err := snapclientset.NewForConfig(cfg.KubeConfig)
	if err != nil {
		return fmt.Errorf("snapshot client: %w", err)
	}
	if err := addSnapshotScheme(); err != nil {
		return fmt.Errorf("registering the snapshot types: %w", err)
	}
	if err := waitForSnapshotAPI(ctx, snap); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	factory := snapinformers.NewSharedInformerFactory(snap, snapshotResync)
	core := informers.NewSharedInformerFactory(cfg.Kube, snapshotResync)
	limiter := func() workqueue.TypedRateLimiter[string] {
		return workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryStart, retryMax)
	}
	c := commonctrl.NewCSISnapshotCommonController(
		snap,
		cfg.Kube,
		factory.Snapshot().V1().VolumeSnapshots(),
		factory.Snapshot().V1().VolumeSnapshotContents(),
		factory.Snapshot().V1().VolumeSnapshotClasses(),
		nil, nil, nil, // no volume group snapshots
		core.Core().V1().PersistentVolumeClaims(),
		core.Core().V1().PersistentVolumes(),
		nil, // no distributed snapshotting
		metrics.NewMetricsManager(),
		snapshotResync,
		limiter(), limiter(), limiter(), limiter(),
		false, // --enable-distributed-snapshotting
		true,  // --prevent-volume-mode-conversion
		false, // volume group snapshots
	)
	factory.Start(ctx.Done())
	core.Start(ctx.Done())
	var wg sync.WaitGroup
	cfg.Logger.Debug("snapshot controller running")
	c.Run(workers, ctx.Done(), &wg)
	wg.Wait()
	factory.Shutdown()
	core.Shutdown()
	return nil
}

// waitForSnapshotAPI waits until the three snapshot resources can be
// listed, as snapshot-controller does at start (it gives up after 30
// seconds; this waits for ctx).
func waitForSnapshotAPI(ctx context.Context, snap snapclientset.Interface) error {
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		one := metav1.ListOptions{Limit: 1}
		if _, err := snap.SnapshotV1().VolumeSnapshots("").List(ctx, one); err != nil {
			return false, nil
		}
		if _, err := snap.SnapshotV1().VolumeSnapshotContents().List(ctx, one); err != nil {
			return false, nil
		}
		if _, err := snap.SnapshotV1().VolumeSnapshotClasses().List(ctx, one); err != nil {
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the snapshot API: %w", err)
	}
	return nil
}
