package sidecar

import (
	"context"
	"sync"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/external-attacher/v4/pkg/attacher"
	attachctrl "github.com/kubernetes-csi/external-attacher/v4/pkg/controller"
	"k8s.io/client-go/util/workqueue"
	csitrans "k8s.io/csi-translation-lib"
	"k8s.io/klog/v2"
)

// attacher sets up external-attacher as its cmd/csi-attacher/main.go
// does: VolumeAttachments of the driver (kube-controller-manager's
// attach-detach controller makes them) become ControllerPublishVolume
// calls with the node id from the node's CSINode, and their status
// carries the publish context; deleting one unpublishes. A driver
// without ControllerPublish gets the trivial handler, which marks its
// attachments attached.
func (s *sidecars) attacher(ctx context.Context) {
	cfg := s.cfg
	var handler attachctrl.Handler
	listsPublished := false
	if s.controller[csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME] {
		timeout := attachTimeout
		handler = attachctrl.NewCSIHandler(
			cfg.Kube,
			cfg.Driver,
			attacher.NewAttacher(s.conn),
			attacher.NewVolumeLister(s.conn, 0), // --max-entries: no limit
			s.factory.Core().V1().PersistentVolumes().Lister(),
			s.factory.Storage().V1().CSINodes().Lister(),
			s.factory.Storage().V1().VolumeAttachments().Lister(),
			&timeout,
			s.controller[csi.ControllerServiceCapability_RPC_PUBLISH_READONLY],
			s.controller[csi.ControllerServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER],
			csitrans.New(),
			"", // --default-fstype
		)
		// With ListVolumes' published nodes, attachments are reconciled
		// with what the driver says is attached.
		listsPublished = s.controller[csi.ControllerServiceCapability_RPC_LIST_VOLUMES] &&
			s.controller[csi.ControllerServiceCapability_RPC_LIST_VOLUMES_PUBLISHED_NODES]
	} else {
		handler = attachctrl.NewTrivialHandler(cfg.Kube)
	}
	c := attachctrl.NewCSIAttachController(
		klog.FromContext(ctx),
		cfg.Kube,
		cfg.Driver,
		handler,
		s.factory.Storage().V1().VolumeAttachments(),
		s.factory.Core().V1().PersistentVolumes(),
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryStart, retryMax),
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryStart, retryMax),
		listsPublished,
		attachReconcile,
	)
	s.started = append(s.started, "external-attacher")
	s.runs = append(s.runs, func(ctx context.Context, wg *sync.WaitGroup) { c.Run(ctx, workers, wg) })
}
