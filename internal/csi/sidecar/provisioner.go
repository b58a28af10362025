package sidecar

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	ctrl "github.com/kubernetes-csi/external-provisioner/v6/pkg/controller"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/util/workqueue"
	csitrans "k8s.io/csi-translation-lib"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

// External-provisioner's settings that are not its flags' defaults.
const (
	// volumeNamePrefix is --volume-name-prefix: volumes are named
	// pvc-<claim UID>.
	volumeNamePrefix = "pvc"
	// snapshotSweep is --snapshot-orphan-sweep-interval.
	snapshotSweep = 5 * time.Minute
)

// provisioner sets up external-provisioner as its
// cmd/csi-provisioner/csi-provisioner.go does, with
// --extra-create-metadata, --default-fstype from the Config, topology
// (the drivers report accessibility constraints), no capacity tracking,
// no node deployment and no leader election.
func (s *sidecars) provisioner(ctx context.Context) error {
	cfg := s.cfg
	// The in-tree plugin a migrated driver replaces (kubernetes.io/aws-ebs
	// for ebs.csi.aws.com): its claims are the driver's too.
	translator := csitrans.New()
	var migratedFrom string
	if translator.IsMigratedCSIDriverByName(cfg.Driver) {
		name, err := translator.GetInTreeNameFromCSIName(cfg.Driver)
		if err != nil {
			return fmt.Errorf("in-tree plugin of %s: %w", cfg.Driver, err)
		}
		migratedFrom = name
	}

	scLister := s.factory.Storage().V1().StorageClasses().Lister()
	claimLister := s.factory.Core().V1().PersistentVolumeClaims().Lister()
	var vaLister storagelisters.VolumeAttachmentLister
	if s.controller[csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME] {
		// A volume is not deleted while a VolumeAttachment uses it.
		vaLister = s.factory.Storage().V1().VolumeAttachments().Lister()
	}
	var (
		nodeLister    corelisters.NodeLister
		csiNodeLister storagelisters.CSINodeLister
		pvcNodeStore  *ctrl.InMemoryStore
	)
	if ctrl.SupportsTopology(s.plugin) {
		csiNodeLister = s.factory.Storage().V1().CSINodes().Lister()
		nodeLister = s.factory.Core().V1().Nodes().Lister()
		pvcNodeStore = ctrl.NewInMemoryStore()
	}
	claimInformer := s.factory.Core().V1().PersistentVolumeClaims().Informer()

	identity := strconv.FormatInt(time.Now().UnixMilli(), 10) + "-" + strconv.Itoa(rand.IntN(10000)) + "-" + cfg.Driver
	options := []func(*controller.ProvisionController) error{
		controller.LeaderElection(false),
		controller.FailedProvisionThreshold(0),
		controller.FailedDeleteThreshold(0),
		controller.RateLimiter(workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryStart, retryMax)),
		controller.Threadiness(provisionWorkers),
		controller.CreateProvisionedPVLimiter(workqueue.DefaultTypedControllerRateLimiter[string]()),
		controller.ClaimsInformer(claimInformer),
		controller.RetryIntervalMax(retryMax),
		controller.AddFinalizer(true),
	}
	if migratedFrom != "" {
		options = append(options, controller.AdditionalProvisionerNames([]string{migratedFrom}))
	}

	// The pvcNodeStore is passed as an interface: a nil *InMemoryStore
	// must stay a nil interface.
	var topology ctrl.TopologyProvider
	if pvcNodeStore != nil {
		topology = pvcNodeStore
	}
	provisioner := ctrl.NewCSIProvisioner(
		cfg.Kube,
		provisionTimeout,
		identity,
		volumeNamePrefix,
		-1, // --volume-name-uuid-length: the whole UID
		s.conn,
		s.snap,
		cfg.Driver,
		s.plugin,
		s.controller,
		migratedFrom,
		false, // --strict-topology
		true,  // --immediate-topology
		translator,
		scLister,
		csiNodeLister,
		nodeLister,
		claimLister,
		vaLister,
		nil,  // reference grants: CrossNamespaceVolumeDataSource is off
		true, // --extra-create-metadata
		cfg.DefaultFSType,
		nil,   // no node deployment
		false, // --controller-publish-readonly
		true,  // --prevent-volume-mode-conversion
		topology,
	)

	// NewProvisionController registers core types into client-go's
	// scheme.Scheme.
	var pc *controller.ProvisionController
	withScheme(func() { pc = controller.NewProvisionController(ctx, cfg.Kube, cfg.Driver, provisioner, options...) })

	cloning := ctrl.NewCloningProtectionController(cfg.Kube, claimLister, claimInformer,
		workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryStart, retryMax),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "claims"}),
		s.controller)
	var finalizers *ctrl.SnapshotFinalizerController
	if cfg.Snapshots {
		finalizers = ctrl.NewSnapshotFinalizerController(s.snap, claimLister, s.controller, snapshotSweep)
	}

	s.started = append(s.started, "external-provisioner")
	s.runs = append(s.runs, func(ctx context.Context, wg *sync.WaitGroup) {
		// The library runs its claim informer only when it made it: this
		// one is the shared factory's, started by Run.
		if !waitSynced(ctx, s.factory) {
			return
		}
		if cloning != nil { // nil for a driver that does not clone
			go cloning.Run(ctx, 1, nil) // --cloning-protection-threads
		}
		if finalizers != nil { // nil for a driver that does not snapshot
			go finalizers.Run(ctx, nil)
		}
		var workers sync.WaitGroup
		pc.ControllerWaitGroup(&workers)
		pc.Run(ctx)
		workers.Wait()
	})
	return nil
}

// waitSynced waits for the informers of f that were asked for to sync,
// as csi-provisioner does before it runs its controllers.
func waitSynced(ctx context.Context, f informers.SharedInformerFactory) bool {
	for _, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return false
		}
	}
	return true
}
