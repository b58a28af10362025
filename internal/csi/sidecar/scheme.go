package sidecar

import (
	"sync"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	snapshotscheme "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned/scheme"
	"k8s.io/client-go/kubernetes/scheme"
)

// schemeMu serializes what this package makes the libraries write into
// client-go's process-wide scheme.Scheme (NewProvisionController adds the
// core types each time; the snapshot controllers' events need the
// snapshot types), so that two clusters starting at once do not write
// its maps together. It is the package's one piece of global state, and
// guards a global the libraries own.
var schemeMu sync.Mutex

// withScheme runs f, which writes into scheme.Scheme, under schemeMu.
func withScheme(f func()) {
	schemeMu.Lock()
	defer schemeMu.Unlock()
	f()
}

// addSnapshotScheme registers the snapshot API's types into scheme.Scheme
// unless they are there, as csi-snapshotter and snapshot-controller do at
// start, so that their events can name VolumeSnapshots and
// VolumeSnapshotContents.
func addSnapshotScheme() error {
	var err error
	withScheme(func() {
		if !scheme.Scheme.Recognizes(snapshotv1.SchemeGroupVersion.WithKind("VolumeSnapshot")) {
			err = snapshotscheme.AddToScheme(scheme.Scheme)
		}
	})
	return err
}
