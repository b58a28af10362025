package realprovider

import (
	"context"
	"net/netip"
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/compute/sim"
)

func newTestProvider(t *testing.T, dir string, ranges netip.Prefix) (*Provider, error) {
	t.Helper()
	return New(Config{
		DataDir: dir, SocketDir: dir,
		Join:    func(context.Context, string) (string, []byte, string, error) { return "", nil, "", nil },
		Admin:   func(context.Context, string) (kubernetes.Interface, error) { return nil, nil },
		Spec:    func(*compute.Instance) (sim.NodeSpec, error) { return sim.NodeSpec{}, nil },
		Kubelet: []string{"berth", "kubelet"}, PodRanges: ranges,
	})
}

func TestPodRanges(t *testing.T) {
	dir := t.TempDir()
	p, err := newTestProvider(t, dir, netip.MustParsePrefix("100.64.0.0/22"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.apiServiceAddr(); got != netip.MustParseAddr("100.64.3.254") {
		t.Errorf("API service address %s", got)
	}
	var got []netip.Prefix
	for _, id := range []string{"i-1", "i-2", "i-3"} {
		r, err := p.podRange(id)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	// The last /24 is the API service address's: three nodes fill a /22.
	if got[0].String() != "100.64.0.0/24" || got[2].String() != "100.64.2.0/24" {
		t.Errorf("ranges %v", got)
	}
	if _, err := p.podRange("i-4"); err == nil {
		t.Error("a fourth /24 of a /22")
	}
	// Kept across restarts, and given back.
	again, err := newTestProvider(t, dir, netip.MustParsePrefix("100.64.0.0/22"))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := again.podRange("i-2"); r != got[1] {
		t.Errorf("after a restart i-2 has %s, want %s", r, got[1])
	}
	again.releaseRange("i-2")
	if r, err := again.podRange("i-4"); err != nil || r != got[1] {
		t.Errorf("the released range went to %s (%v)", r, err)
	}
	for _, bad := range []string{"100.64.0.0/24", "fd00::/64"} {
		if _, err := newTestProvider(t, t.TempDir(), netip.MustParsePrefix(bad)); err == nil {
			t.Errorf("pod ranges %s accepted", bad)
		}
	}
}
