package clusterdns

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// serve runs h on a loopback UDP port and returns its address.
func serve(t *testing.T, h dns.Handler) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: h}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestServer(t *testing.T) {
	client := fake.NewSimpleClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.100.12.34", Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "data"},
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{
				{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "default"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "db-1", Namespace: "data",
			Labels: map[string]string{discoveryv1.LabelServiceName: "db"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("pg"), Port: ptr.To[int32](5432)}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"100.64.0.5"}, Hostname: ptr.To("db-0"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
				{Addresses: []string{"100.64.1.7"}, Hostname: ptr.To("db-1"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
				{Addresses: []string{"100.64.2.9"}, Hostname: ptr.To("db-2"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
			}},
	)
	// An upstream for names outside the cluster.
	upstream := serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if r.Question[0].Name == "example.com." {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("93.184.216.34")}}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	}))
	s, err := Start(context.Background(), Config{Client: client, Upstream: []string{upstream}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	addr := serve(t, s)

	ask := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		r, err := dns.Exchange(m, addr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return r
	}
	values := func(r *dns.Msg) []string {
		var out []string
		for _, rr := range r.Answer {
			switch rr := rr.(type) {
			case *dns.A:
				out = append(out, rr.A.String())
			case *dns.CNAME:
				out = append(out, "CNAME "+rr.Target)
			case *dns.SRV:
				out = append(out, rr.Target+":"+itoa(rr.Port))
			}
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
		want  []string
	}{
		{"web.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.100.12.34"}},
		{"WEB.Default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.100.12.34"}},
		{"web.default.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"db.data.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"100.64.0.5", "100.64.1.7"}},
		{"db-1.db.data.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"100.64.1.7"}},
		{"db-9.db.data.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"_http._tcp.web.default.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess, []string{"web.default.svc.cluster.local.:80"}},
		{"_pg._tcp.db.data.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess, []string{"db-0.db.data.svc.cluster.local.:5432", "db-1.db.data.svc.cluster.local.:5432"}},
		{"ext.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"CNAME example.com."}},
		{"100-64-3-4.default.pod.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"100.64.3.4"}},
		{"nope.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil},
		{"web.default.svc.cluster.local.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"example.com.", dns.TypeA, dns.RcodeSuccess, []string{"93.184.216.34"}},
		{"nope.example.", dns.TypeA, dns.RcodeNameError, nil},
	} {
		r := ask(tc.name, tc.qtype)
		if r.Rcode != tc.rcode || !slices.Equal(values(r), tc.want) {
			t.Errorf("%s %s: rcode %s answers %v, want %s %v", tc.name, dns.TypeToString[tc.qtype],
				dns.RcodeToString[r.Rcode], values(r), dns.RcodeToString[tc.rcode], tc.want)
		}
		if strings.HasSuffix(tc.name, ".cluster.local.") && len(r.Answer) == 0 && (len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA) {
			t.Errorf("%s: no SOA in the authority section of an empty answer: %v", tc.name, r.Ns)
		}
	}

	// A Service created later is found once the informer has it.
	if _, err := client.CoreV1().Services("default").Create(context.Background(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.100.0.99"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if r := ask("late.default.svc.cluster.local.", dns.TypeA); slices.Equal(values(r), []string{"10.100.0.99"}) {
			break
		} else if i == 100 {
			t.Fatalf("late service: %v", r)
		}
		<-timeAfter()
	}
}

func TestHostUpstream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(path, []byte("search example.com\nnameserver 10.0.0.2\nnameserver 127.0.0.53\n"), 0o600)
	if got := HostUpstream(path); !slices.Equal(got, []string{"10.0.0.2:53", "127.0.0.53:53"}) {
		t.Errorf("HostUpstream = %v", got)
	}
	if got := HostUpstream(filepath.Join(t.TempDir(), "missing")); got != nil {
		t.Errorf("HostUpstream of a missing file = %v", got)
	}
}

func TestStartInvalid(t *testing.T) {
	if _, err := Start(context.Background(), Config{}); err == nil {
		t.Error("no client accepted")
	}
	if _, err := Start(context.Background(), Config{Client: fake.NewSimpleClientset(), Domain: "bad..domain"}); err == nil {
		t.Error("bad domain accepted")
	}
}

func itoa(v uint16) string { return strconv.Itoa(int(v)) }

func timeAfter() <-chan time.Time { return time.After(20 * time.Millisecond) }
