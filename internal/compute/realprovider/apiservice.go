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
)

// apiServiceAddr is the address every real node has on its loopback
// interface for the API server: the last but one of the pod ranges,
// whose last /24 no node gets.
func (p *Provider) apiServiceAddr() netip.Addr {
	return addTo(p.cfg.PodRanges.Masked().Addr(), uint32(1)<<(32-p.cfg.PodRanges.Bits())-2)
}

// dnsAddr is the address every real node has on its loopback interface
// for the cluster DNS: the one before the API service address.
func (p *Provider) dnsAddr() netip.Addr {
	return addTo(p.cfg.PodRanges.Masked().Addr(), uint32(1)<<(32-p.cfg.PodRanges.Bits())-3)
}

// addTo adds n to an IPv4 address.
func addTo(a netip.Addr, n uint32) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) + n
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// ensureAPIEndpoints points the default/kubernetes Service at the API
// service address (kube-apiserver runs without an endpoint reconciler:
// its address is loopback, which pods cannot reach), so that pods on
// real nodes reach the API server as in-cluster clients expect.
func ensureAPIEndpoints(ctx context.Context, admin kubernetes.Interface, addr netip.Addr) error {
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelSkipMirror: "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: addr.String()}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}},
		}},
	}
	if cur, err := admin.CoreV1().Endpoints(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{}); err == nil {
		ep.ResourceVersion = cur.ResourceVersion
		if _, err := admin.CoreV1().Endpoints(metav1.NamespaceDefault).Update(ctx, ep, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("endpoints of default/kubernetes: %w", err)
		}
	} else if !apierrors.IsNotFound(err) {
		return err
	} else if _, err := admin.CoreV1().Endpoints(metav1.NamespaceDefault).Create(ctx, ep, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("endpoints of default/kubernetes: %w", err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes", discoveryv1.LabelManagedBy: "berth"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr.String()}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To[int32](443), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	return applySlice(ctx, admin, slice)
}

// applySlice creates or replaces an EndpointSlice.
func applySlice(ctx context.Context, admin kubernetes.Interface, slice *discoveryv1.EndpointSlice) error {
	slices := admin.DiscoveryV1().EndpointSlices(slice.Namespace)
	if cur, err := slices.Get(ctx, slice.Name, metav1.GetOptions{}); err == nil {
		slice.ResourceVersion = cur.ResourceVersion
		_, err = slices.Update(ctx, slice, metav1.UpdateOptions{})
		return err
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	_, err := slices.Create(ctx, slice, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
