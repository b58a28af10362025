// Package clusterdns answers a cluster's DNS queries as CoreDNS does on
// EKS (the kubernetes plugin over cluster.local, everything else
// forwarded): Services by name (ClusterIP, headless endpoints,
// ExternalName), headless endpoints by hostname, SRV records of named
// ports and pod names of the insecure form a-b-c-d.NS.pod. berth serves it
// to the pods of real nodes, which have no CoreDNS pods to run (no
// registry is reachable for its image); it is a dns.Handler (miekg/dns)
// over informers of Services and EndpointSlices.
package clusterdns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
)

// TTL is the time to live of the cluster's records, CoreDNS's default.
const TTL = 5

// Config configures a Server.
type Config struct {
	// Client reads the cluster's Services and EndpointSlices.
	Client kubernetes.Interface
	// Domain is the cluster domain (default cluster.local).
	Domain string
	// Upstream are the servers (HOST:PORT) names outside the domain go
	// to; none: such names fail (SERVFAIL).
	Upstream []string
	Logger   *slog.Logger
}

// Server is a cluster's DNS.
type Server struct {
	cfg       Config
	zone      string // "cluster.local."
	services  corelisters.ServiceLister
	slices    discoverylisters.EndpointSliceLister
	client    *dns.Client
	stop      context.CancelFunc
	log       *slog.Logger
	soaSerial uint32
}

// Start starts the informers and returns once they have synced.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Client == nil {
		return nil, errors.New("clusterdns: Client is required")
	}
	if cfg.Domain == "" {
		cfg.Domain = "cluster.local"
	}
	if _, ok := dns.IsDomainName(cfg.Domain); !ok {
		return nil, fmt.Errorf("clusterdns: %q is not a domain name", cfg.Domain)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(cfg.Client, 0)
	s := &Server{
		cfg: cfg, zone: dns.Fqdn(strings.ToLower(cfg.Domain)),
		services: f.Core().V1().Services().Lister(),
		slices:   f.Discovery().V1().EndpointSlices().Lister(),
		client:   &dns.Client{Timeout: 2 * time.Second},
		stop:     cancel, log: cfg.Logger,
		soaSerial: uint32(time.Now().Unix()),
	}
	f.Start(runCtx.Done())
	syncCtx, syncCancel := context.WithTimeout(ctx, time.Minute)
	defer syncCancel()
	for typ, ok := range f.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			cancel()
			return nil, fmt.Errorf("clusterdns: %v informer did not sync", typ)
		}
	}
	return s, nil
}

// Stop stops the informers.
func (s *Server) Stop() { s.stop() }

// ServeDNS answers one query.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	if len(r.Question) != 1 || r.Opcode != dns.OpcodeQuery {
		m.SetRcode(r, dns.RcodeNotImplemented)
		_ = w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	if name != s.zone && !strings.HasSuffix(name, "."+s.zone) {
		s.forward(w, r)
		return
	}
	m.SetReply(r)
	m.Authoritative = true
	rrs, exists := s.lookup(strings.TrimSuffix(strings.TrimSuffix(name, s.zone), "."), q)
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME {
			m.Answer = append(m.Answer, rr)
		}
	}
	if !exists {
		m.Rcode = dns.RcodeNameError
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{s.soa()}
	}
	_ = w.WriteMsg(m)
}

// lookup finds the records of name (the labels before the zone, lower
// case) and whether the name exists at all.
func (s *Server) lookup(name string, q dns.Question) ([]dns.RR, bool) {
	var l []string
	if name != "" {
		l = strings.Split(name, ".")
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: TTL}
	}
	a := func(ip string) dns.RR {
		return &dns.A{Hdr: hdr(dns.TypeA), A: net.ParseIP(ip).To4()}
	}
	switch {
	case len(l) == 0, len(l) == 1 && (l[0] == "svc" || l[0] == "pod"):
		return nil, true
	case len(l) == 2 && (l[1] == "svc" || l[1] == "pod"):
		return nil, true // a namespace's subdomain
	case len(l) == 3 && l[2] == "pod":
		// a-b-c-d.NS.pod: the address itself (CoreDNS "pods insecure").
		ip, err := netip.ParseAddr(strings.ReplaceAll(l[0], "-", "."))
		if err != nil || !ip.Is4() {
			return nil, false
		}
		return []dns.RR{a(ip.String())}, true
	case len(l) == 3 && l[2] == "svc":
		svc, err := s.services.Services(l[1]).Get(l[0])
		if err != nil {
			return nil, false
		}
		switch {
		case svc.Spec.Type == corev1.ServiceTypeExternalName:
			return []dns.RR{&dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: dns.Fqdn(svc.Spec.ExternalName)}}, true
		case svc.Spec.ClusterIP == corev1.ClusterIPNone:
			var rrs []dns.RR
			for _, ep := range readyEndpoints(svc, s.slicesOf(svc)) {
				for _, addr := range ep.Addresses {
					rrs = append(rrs, a(addr))
				}
			}
			return rrs, true
		case net.ParseIP(svc.Spec.ClusterIP).To4() != nil:
			return []dns.RR{a(svc.Spec.ClusterIP)}, true
		}
		return nil, true
	case len(l) == 4 && l[3] == "svc":
		// HOSTNAME.SVC.NS.svc: a headless Service's endpoint.
		svc, err := s.services.Services(l[2]).Get(l[1])
		if err != nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
			return nil, false
		}
		for _, ep := range readyEndpoints(svc, s.slicesOf(svc)) {
			if ep.Hostname != nil && strings.EqualFold(*ep.Hostname, l[0]) && len(ep.Addresses) > 0 {
				return []dns.RR{a(ep.Addresses[0])}, true
			}
		}
		return nil, false
	case len(l) == 5 && l[4] == "svc" && strings.HasPrefix(l[0], "_") && strings.HasPrefix(l[1], "_"):
		// _PORT._PROTO.SVC.NS.svc: SRV of a named port.
		svc, err := s.services.Services(l[3]).Get(l[2])
		if err != nil {
			return nil, false
		}
		port, proto := l[0][1:], strings.ToUpper(l[1][1:])
		target := l[2] + "." + l[3] + ".svc." + s.zone
		headless := svc.Spec.ClusterIP == corev1.ClusterIPNone
		var slices []*discoveryv1.EndpointSlice
		if headless {
			slices = s.slicesOf(svc)
		}
		var rrs []dns.RR
		for _, p := range svc.Spec.Ports {
			if !strings.EqualFold(p.Name, port) || string(p.Protocol) != proto {
				continue
			}
			if !headless {
				rrs = append(rrs, &dns.SRV{Hdr: hdr(dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(p.Port), Target: target})
				continue
			}
			epPort := uint16(endpointPort(slices, p.Name, p.TargetPort.IntValue(), p.Port))
			for _, ep := range readyEndpoints(svc, slices) {
				host := strings.ReplaceAll(ep.Addresses[0], ".", "-")
				if ep.Hostname != nil {
					host = *ep.Hostname
				}
				rrs = append(rrs, &dns.SRV{Hdr: hdr(dns.TypeSRV), Priority: 0, Weight: 100, Port: epPort, Target: host + "." + target})
			}
		}
		return rrs, len(rrs) > 0
	}
	return nil, false
}

// readyEndpoints are the ready endpoints of a Service's EndpointSlices.
func readyEndpoints(svc *corev1.Service, slices []*discoveryv1.EndpointSlice) []discoveryv1.Endpoint {
	var out []discoveryv1.Endpoint
	for _, sl := range slices {
		if sl.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		for _, ep := range sl.Endpoints {
			if len(ep.Addresses) > 0 && (ep.Conditions.Ready == nil || *ep.Conditions.Ready || svc.Spec.PublishNotReadyAddresses) {
				out = append(out, ep)
			}
		}
	}
	return out
}

func (s *Server) slicesOf(svc *corev1.Service) []*discoveryv1.EndpointSlice {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc.Name})
	l, err := s.slices.EndpointSlices(svc.Namespace).List(sel)
	if err != nil {
		return nil
	}
	return l
}

// endpointPort is the port of a headless Service's endpoints named name:
// the slices say it; the target port or the port itself otherwise.
func endpointPort(slices []*discoveryv1.EndpointSlice, name string, target int, port int32) int32 {
	for _, sl := range slices {
		for _, p := range sl.Ports {
			if p.Name != nil && *p.Name == name && p.Port != nil {
				return *p.Port
			}
		}
	}
	if target > 0 {
		return int32(target)
	}
	return port
}

// soa is the zone's SOA record, for answers without records.
func (s *Server) soa() dns.RR {
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: s.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: TTL},
		Ns:  "ns.dns." + s.zone, Mbox: "hostmaster." + s.zone,
		Serial: s.soaSerial, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: TTL,
	}
}

// forward sends a query outside the zone to the upstream servers in turn
// and relays the first answer.
func (s *Server) forward(w dns.ResponseWriter, r *dns.Msg) {
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	c := *s.client
	c.Net = network
	for _, up := range s.cfg.Upstream {
		resp, _, err := c.Exchange(r, up)
		if err != nil {
			s.log.Debug("forwarding a DNS query", "name", r.Question[0].Name, "upstream", up, "err", err)
			continue
		}
		resp.Id = r.Id
		_ = w.WriteMsg(resp)
		return
	}
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeServerFailure)
	_ = w.WriteMsg(m)
}

// HostUpstream reads the name servers of a resolv.conf (the host's
// /etc/resolv.conf), as HOST:PORT.
func HostUpstream(path string) []string {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(cc.Servers))
	for _, srv := range cc.Servers {
		out = append(out, net.JoinHostPort(srv, cc.Port))
	}
	return out
}

var _ dns.Handler = (*Server)(nil)
