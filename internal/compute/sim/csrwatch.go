package sim

import (
	"context"
	"fmt"
	"sync"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// csrWatch waits for the certificates of many joining nodes with one
// watch: a kubelet waits for its CSR with a list and a watch of its own,
// which for a thousand nodes joining at once is a thousand lists and
// watches more than the API server needs to serve. It watches with the
// bootstrap token's identity, as kubelets do, and only CSRs of the kubelet
// client signer.
type csrWatch struct {
	once     sync.Once
	informer cache.SharedIndexInformer
	synced   chan struct{}

	mu      sync.Mutex
	waiters map[types.UID]chan csrResult
}

type csrResult struct {
	cert []byte
	err  error
}

func newCSRWatch(client kubernetes.Interface) *csrWatch {
	signer := fields.OneTermEqualSelector("spec.signerName", certificatesv1.KubeAPIServerClientKubeletSignerName).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = signer
			return client.CertificatesV1().CertificateSigningRequests().List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = signer
			return client.CertificatesV1().CertificateSigningRequests().Watch(ctx, o)
		},
	}
	w := &csrWatch{
		informer: cache.NewSharedIndexInformer(lw, &certificatesv1.CertificateSigningRequest{}, 0, cache.Indexers{}),
		synced:   make(chan struct{}),
		waiters:  map[types.UID]chan csrResult{},
	}
	// Only the fields a waiter reads are kept.
	_ = w.informer.SetTransform(func(obj any) (any, error) {
		if c, ok := obj.(*certificatesv1.CertificateSigningRequest); ok {
			c.ManagedFields = nil
			c.Spec.Request = nil
		}
		return obj, nil
	})
	return w
}

// start runs the watch until ctx is done; the first call starts it.
func (w *csrWatch) start(ctx context.Context) {
	w.once.Do(func() {
		// Adding a handler fails only on a stopped informer; this one
		// has not run yet.
		_, _ = w.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { w.observe(obj) },
			UpdateFunc: func(_, obj any) { w.observe(obj) },
		})
		go w.informer.RunWithContext(ctx)
		go func() {
			if cache.WaitForCacheSync(ctx.Done(), w.informer.HasSynced) {
				close(w.synced)
			}
		}()
	})
}

func (w *csrWatch) observe(obj any) {
	c, ok := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return
	}
	var res csrResult
	switch {
	case len(c.Status.Certificate) > 0:
		res.cert = c.Status.Certificate
	default:
		for _, cond := range c.Status.Conditions {
			if (cond.Type == certificatesv1.CertificateDenied || cond.Type == certificatesv1.CertificateFailed) && cond.Status == corev1.ConditionTrue {
				res.err = fmt.Errorf("certificate signing request %s %s: %s: %s", c.Name, cond.Type, cond.Reason, cond.Message)
			}
		}
		if res.err == nil {
			return
		}
	}
	w.mu.Lock()
	ch := w.waiters[c.UID]
	delete(w.waiters, c.UID)
	w.mu.Unlock()
	if ch != nil {
		ch <- res
	}
}

// expect registers a waiter for the CSR with the given UID, right after
// the CSR is created. A certificate issued before the waiter was there is
// found in the watch's cache by wait.
func (w *csrWatch) expect(uid types.UID) chan csrResult {
	ch := make(chan csrResult, 1)
	w.mu.Lock()
	w.waiters[uid] = ch
	w.mu.Unlock()
	return ch
}

// wait returns the certificate of the CSR named name with the given UID
// once it is issued.
func (w *csrWatch) wait(ctx context.Context, ch chan csrResult, name string, uid types.UID) ([]byte, error) {
	defer func() {
		w.mu.Lock()
		delete(w.waiters, uid)
		w.mu.Unlock()
	}()
	// Issued before the waiter was registered: the cache has it.
	select {
	case <-w.synced:
		if obj, ok, _ := w.informer.GetStore().GetByKey(name); ok {
			if c := obj.(*certificatesv1.CertificateSigningRequest); c.UID == uid && len(c.Status.Certificate) > 0 {
				return c.Status.Certificate, nil
			}
		}
	default:
	}
	select {
	case r := <-ch:
		return r.cert, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
