package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkTokenReview measures TokenReviews of EKS tokens through a
// cluster's kube-apiserver, which asks berth's webhook: the same token
// again and again (kube-apiserver's cache answers after the first), and a
// fresh token each time (berth verifies every one).
func BenchmarkTokenReview(b *testing.B) {
	skipShort(b)
	d := startDaemon(b, "", "--log-level", "info")
	c := d.eks(b)
	ctx := context.Background()
	if _, err := c.CreateCluster(ctx, createInput("tr", d.subnets(b))); err != nil {
		b.Fatal(err)
	}
	cl := waitActive(b, c, "tr", 2*time.Minute)
	root := d.rootCreds(b)
	kc := tokenClient(b, cl, eksToken(b, root, "tr"))
	review := func(tok string) time.Duration {
		start := time.Now()
		out, err := kc.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tok}}, metav1.CreateOptions{})
		took := time.Since(start)
		if err != nil || !out.Status.Authenticated {
			b.Fatalf("token review: %v %+v", err, out)
		}
		return took
	}
	pct := func(ts []time.Duration, p float64) time.Duration {
		slices.Sort(ts)
		return ts[int(float64(len(ts)-1)*p)]
	}
	for range b.N {
		tok := eksToken(b, root, "tr")
		review(tok)
		var cached []time.Duration
		for range 2000 {
			cached = append(cached, review(tok))
		}
		var fresh []time.Duration
		for range 300 {
			fresh = append(fresh, review(eksToken(b, root, "tr")))
		}
		b.ReportMetric(float64(pct(cached, 0.5).Microseconds())/1000, "cached-p50-ms")
		b.ReportMetric(float64(pct(cached, 0.99).Microseconds())/1000, "cached-p99-ms")
		b.ReportMetric(float64(pct(fresh, 0.5).Microseconds())/1000, "fresh-p50-ms")
		b.ReportMetric(float64(pct(fresh, 0.99).Microseconds())/1000, "fresh-p99-ms")
	}
}
