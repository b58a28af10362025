package components

import (
	"context"
	"sync"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/kubernetes/pkg/controller/certificates/approver"
	"k8s.io/kubernetes/pkg/controller/certificates/signer"

	"github.com/berthproject/berth/internal/pki"
)

// csrWorkers is how many CertificateSigningRequests the kubelet client
// CSR approver and signer each handle at once. kube-controller-manager
// runs both with 5 workers (an approval is a SubjectAccessReview and a
// write, a signature a write): under a 1,000-node join each capped joins
// near 35 a second, every node's CSR waiting 1.5 to 2 s for its approval
// and as long again for its certificate.
const csrWorkers = 32

// signingDuration is the lifetime of the certificates they sign:
// kube-controller-manager's --cluster-signing-duration default.
const signingDuration = 365 * 24 * time.Hour

// runCSRControllers runs kube-controller-manager's CSR approving
// controller and its kubernetes.io/kube-apiserver-client-kubelet signer
// (the same code) with more workers, in place of kube-controller-manager's
// own, which controllerManagerArgs turns off. Nodes join through them.
func runCSRControllers(ctx context.Context, kubeconfig string, p pki.Paths) error {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	rc.QPS, rc.Burst = 500, 1000
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.UserAgent = "kube-controller-manager/certificate-controller (berth)"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	f := informers.NewSharedInformerFactory(client, 0)
	csrs := f.Certificates().V1().CertificateSigningRequests()
	ac := approver.NewCSRApprovingController(ctx, client, csrs)
	sc, err := signer.NewKubeletClientCSRSigningController(ctx, client, csrs, p.CACert, p.CAKey, signingDuration)
	if err != nil {
		return err
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	var wg sync.WaitGroup
	wg.Go(func() { ac.Run(ctx, csrWorkers) })
	wg.Go(func() { sc.Run(ctx, csrWorkers) })
	wg.Wait()
	return nil
}
