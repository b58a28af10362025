package realprovider

import (
	"context"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestEnsureKubeDNS(t *testing.T) {
	ctx := context.Background()
	addr := netip.MustParseAddr("100.64.255.253")
	admin := fake.NewSimpleClientset(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: "172.20.0.1"}})
	for range 2 { // and again, as the next node does
		ip, err := ensureKubeDNS(ctx, admin, addr)
		if err != nil || ip != netip.MustParseAddr("172.20.0.10") {
			t.Fatalf("ensureKubeDNS = %v, %v; want 172.20.0.10", ip, err)
		}
	}
	svc, err := admin.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil || svc.Spec.Selector["k8s-app"] != "kube-dns" || len(svc.Spec.Ports) != 2 {
		t.Fatalf("kube-dns = %+v, %v", svc, err)
	}
	slice, err := admin.DiscoveryV1().EndpointSlices("kube-system").Get(ctx, "kube-dns-berth", metav1.GetOptions{})
	if err != nil || slice.Labels[discoveryv1.LabelServiceName] != "kube-dns" || len(slice.Endpoints) != 1 ||
		slice.Endpoints[0].Addresses[0] != addr.String() || len(slice.Ports) != 2 || *slice.Ports[0].Name != "dns" {
		t.Fatalf("slice = %+v, %v", slice, err)
	}

	// A cluster's own kube-dns is kept, whatever its address.
	own := fake.NewSimpleClientset(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.100.7.7", Ports: []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}}})
	if ip, err := ensureKubeDNS(ctx, own, addr); err != nil || ip.String() != "10.100.7.7" {
		t.Errorf("ensureKubeDNS with the cluster's own kube-dns = %v, %v", ip, err)
	}
	// One without port 53 cannot be pointed at berth's DNS.
	odd := fake.NewSimpleClientset(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.100.7.7", Ports: []corev1.ServicePort{{Name: "x", Port: 80}}}})
	if _, err := ensureKubeDNS(ctx, odd, addr); err == nil {
		t.Error("a kube-dns without port 53 accepted")
	}
}

func TestAddresses(t *testing.T) {
	p := &Provider{cfg: Config{PodRanges: netip.MustParsePrefix("100.64.0.0/16")}}
	if p.apiServiceAddr().String() != "100.64.255.254" || p.dnsAddr().String() != "100.64.255.253" {
		t.Errorf("addresses %s %s", p.apiServiceAddr(), p.dnsAddr())
	}
}
