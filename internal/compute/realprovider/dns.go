package realprovider

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/berthproject/berth/internal/clusterdns"
)

// resolvConf is where the host's name servers are, to which the cluster
// DNS forwards names outside the cluster domain.
const resolvConf = "/etc/resolv.conf"

// clusterDNS is the DNS berth serves a cluster's real nodes.
type clusterDNS struct {
	server *clusterdns.Server
	ip     netip.Addr // the kube-dns Service's ClusterIP
}

// prepareCluster sets up what a cluster's real nodes share, once, with
// its first real node: the default/kubernetes endpoints at the API
// service address, and the cluster's DNS: the kube-dns Service
// (kube-system, as EKS's CoreDNS has it) whose endpoint is the DNS
// address on every real node's loopback, and the server that answers
// there. It returns the DNS.
func (p *Provider) prepareCluster(ctx context.Context, cluster string, admin kubernetes.Interface) (*clusterDNS, error) {
	p.dnsMu.Lock()
	defer p.dnsMu.Unlock()
	if d := p.dns[cluster]; d != nil {
		return d, nil
	}
	if err := ensureAPIEndpoints(ctx, admin, p.apiServiceAddr()); err != nil {
		return nil, err
	}
	ip, err := ensureKubeDNS(ctx, admin, p.dnsAddr())
	if err != nil {
		return nil, fmt.Errorf("the kube-dns Service: %w", err)
	}
	srv, err := clusterdns.Start(ctx, clusterdns.Config{Client: admin, Upstream: clusterdns.HostUpstream(resolvConf),
		Logger: p.log.With("cluster", cluster)})
	if err != nil {
		return nil, err
	}
	d := &clusterDNS{server: srv, ip: ip}
	p.dns[cluster] = d
	return d, nil
}

// stopDNS stops the DNS of a cluster that has no real node left, or of
// every cluster when cluster is empty; the cluster's next real node
// prepares it again.
func (p *Provider) stopDNS(cluster string) {
	p.mu.Lock()
	for _, rn := range p.nodes {
		if cluster != "" && rn.cluster == cluster {
			p.mu.Unlock()
			return
		}
	}
	p.mu.Unlock()
	p.dnsMu.Lock()
	defer p.dnsMu.Unlock()
	for name, d := range p.dns {
		if cluster == "" || name == cluster {
			d.server.Stop()
			delete(p.dns, name)
		}
	}
}

// ensureKubeDNS makes the kube-dns Service if the cluster has none (at
// the tenth address of the service range, as EKS puts it) and points it
// at addr with an EndpointSlice of berth's; it returns the Service's
// ClusterIP, which kubelets give pods as their name server.
func ensureKubeDNS(ctx context.Context, admin kubernetes.Interface, addr netip.Addr) (netip.Addr, error) {
	svc, err := admin.CoreV1().Services(metav1.NamespaceSystem).Get(ctx, "kube-dns", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		svc, err = createKubeDNS(ctx, admin)
	}
	if err != nil {
		return netip.Addr{}, err
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || !ip.Is4() {
		return netip.Addr{}, fmt.Errorf("kube-system/kube-dns has ClusterIP %q, not an IPv4 address", svc.Spec.ClusterIP)
	}
	var ports []discoveryv1.EndpointPort
	for _, sp := range svc.Spec.Ports {
		if sp.Port == 53 {
			ports = append(ports, discoveryv1.EndpointPort{Name: ptr.To(sp.Name), Port: ptr.To[int32](53), Protocol: ptr.To(sp.Protocol)})
		}
	}
	if len(ports) == 0 {
		return netip.Addr{}, fmt.Errorf("kube-system/kube-dns has no port 53")
	}
	return ip, applySlice(ctx, admin, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns-berth", Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{discoveryv1.LabelServiceName: "kube-dns", discoveryv1.LabelManagedBy: "berth"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr.String()}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       ports,
	})
}

// createKubeDNS creates the kube-dns Service as EKS's CoreDNS has it.
func createKubeDNS(ctx context.Context, admin kubernetes.Interface) (*corev1.Service, error) {
	k8s, err := admin.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	first, err := netip.ParseAddr(k8s.Spec.ClusterIP)
	if err != nil || !first.Is4() {
		return nil, fmt.Errorf("default/kubernetes has ClusterIP %q, not an IPv4 address", k8s.Spec.ClusterIP)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS",
				"eks.amazonaws.com/component": "kube-dns"}},
		Spec: corev1.ServiceSpec{
			Selector:  map[string]string{"k8s-app": "kube-dns"},
			ClusterIP: addTo(first, 9).String(), // x.y.0.10 of x.y.0.0/16
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP},
			},
		},
	}
	created, err := admin.CoreV1().Services(metav1.NamespaceSystem).Create(ctx, svc, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return admin.CoreV1().Services(metav1.NamespaceSystem).Get(ctx, "kube-dns", metav1.GetOptions{})
	}
	if apierrors.IsInvalid(err) {
		// The address is taken: any other.
		svc.Spec.ClusterIP = ""
		created, err = admin.CoreV1().Services(metav1.NamespaceSystem).Create(ctx, svc, metav1.CreateOptions{})
	}
	return created, err
}
