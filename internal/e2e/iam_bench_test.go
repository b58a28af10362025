package e2e

import (
	"bufio"
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
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
	// The next warm control plane starts after the create: let it settle
	// so that it does not share the cores with the measurement.
	d.waitWarm(b)
	time.Sleep(5 * time.Second)
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
		before := authnHistogram(b, kc)
		for range 2000 {
			cached = append(cached, review(tok))
		}
		after := authnHistogram(b, kc)
		b.ReportMetric(histogramP99(before, after)*1000, "authn-filter-p99-le-ms")
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

// authnHistogram reads kube-apiserver's histogram of its authentication
// filter: cumulative counts by upper bound in seconds.
func authnHistogram(b *testing.B, kc *kubernetes.Clientset) map[float64]float64 {
	b.Helper()
	raw, err := kc.RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	out := map[float64]float64{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	const prefix = `apiserver_request_filter_duration_seconds_bucket{filter="authentication",le="`
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		le, count, _ := strings.Cut(rest, `"} `)
		bound, err1 := strconv.ParseFloat(le, 64)
		n, err2 := strconv.ParseFloat(count, 64)
		if err1 == nil && err2 == nil {
			out[bound] = n
		}
	}
	return out
}

// histogramP99 is the smallest bucket bound under which 99 % of the
// requests between two readings fell.
func histogramP99(before, after map[float64]float64) float64 {
	var bounds []float64
	for le := range after {
		bounds = append(bounds, le)
	}
	slices.Sort(bounds)
	total := after[bounds[len(bounds)-1]] - before[bounds[len(bounds)-1]]
	for _, le := range bounds {
		if after[le]-before[le] >= 0.99*total {
			return le
		}
	}
	return bounds[len(bounds)-1]
}
