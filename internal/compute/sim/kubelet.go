package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// KubeletPort is the port of a simulated node's kubelet endpoint, as in
// the Node's status.daemonEndpoints.
const KubeletPort = 10250

// ErrNoNode means that no node of the Cluster serves an address.
var ErrNoNode = errors.New("sim: no simulated node serves this address")

// DialKubelet connects to the kubelet endpoint of the node whose
// InternalIP and kubelet port addr ("IP:10250") names, as kube-apiserver
// reaches a kubelet for logs, proxying and stats: it is served in memory
// with TLS, and asks for a client certificate of the cluster's CA (the
// kube-apiserver's kubelet client certificate). ErrNoNode when no node of
// the Cluster has that address.
func (c *Cluster) DialKubelet(addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not IP:PORT", ErrNoNode, addr)
	}
	if ap.Port() != KubeletPort {
		return nil, fmt.Errorf("%w: %s (kubelets listen on %d)", ErrNoNode, addr, KubeletPort)
	}
	n := c.nodeByIP(ap.Addr())
	if n == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoNode, addr)
	}
	srv, err := c.kubeletServer()
	if err != nil {
		return nil, err
	}
	client, server := net.Pipe()
	if !srv.add(&nodeConn{Conn: server, node: n}) {
		client.Close()
		server.Close()
		return nil, errors.New("sim: the simulation has stopped")
	}
	return client, nil
}

// nodeByIP returns the node whose InternalIP is ip, or nil.
func (c *Cluster) nodeByIP(ip netip.Addr) *node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, n := range c.nodes {
		if n.spec.InternalIP == ip {
			return n
		}
	}
	return nil
}

// kubeletServer returns the Cluster's kubelet endpoint, started on first
// use: one HTTPS server for every node, fed connections by DialKubelet.
func (c *Cluster) kubeletServer() (*kubeletListener, error) {
	c.kubeletOnce.Do(func() {
		cert, err := selfSignedServing()
		if err != nil {
			c.kubeletErr = fmt.Errorf("sim: kubelet serving certificate: %w", err)
			return
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(c.cfg.CAData) {
			c.kubeletErr = errors.New("sim: the cluster CA is not PEM")
			return
		}
		ln := &kubeletListener{conns: make(chan net.Conn), done: make(chan struct{})}
		srv := &http.Server{
			Handler:           c.kubeletMux(),
			ReadHeaderTimeout: 10 * time.Second,
			ConnContext: func(ctx context.Context, conn net.Conn) context.Context {
				if tc, ok := conn.(*tls.Conn); ok {
					if nc, ok := tc.NetConn().(*nodeConn); ok {
						return context.WithValue(ctx, nodeKey{}, nc.node)
					}
				}
				return ctx
			},
			// TLS handshake failures (a client without the cluster's
			// certificate) are the client's to report.
			ErrorLog: log.New(io.Discard, "", 0),
		}
		tlsLn := tls.NewListener(ln, &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
		})
		go func() {
			<-c.life.Done()
			ln.Close()
			srv.Close()
		}()
		go srv.Serve(tlsLn)
		c.kubelet = ln
	})
	return c.kubelet, c.kubeletErr
}

// selfSignedServing makes the serving certificate a kubelet without a
// signed one makes for itself. kube-apiserver does not check it (berth
// sets no --kubelet-certificate-authority, as EKS does not).
func selfSignedServing() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "berth-sim-kubelet@" + strconv.FormatInt(now.Unix(), 10)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// nodeConn is a connection to one node's kubelet endpoint.
type nodeConn struct {
	net.Conn
	node *node
}

type nodeKey struct{}

// kubeletListener hands DialKubelet's connections to the server.
type kubeletListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func (l *kubeletListener) add(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *kubeletListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *kubeletListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *kubeletListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "sim-kubelet" }

// kubeletMux serves the parts of kubelet's API that a simulated node can
// answer truthfully: health, its pods, the stats summary (volume stats
// from the CSI node plugins; simulated containers use no CPU or memory,
// so those are absent), the kubelet_volume_stats metrics, and container
// logs, which are empty because simulated containers write nothing.
func (c *Cluster) kubeletMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /pods", c.withNode(c.servePods))
	mux.HandleFunc("GET /stats/summary", c.withNode(c.serveSummary))
	mux.HandleFunc("GET /metrics", c.withNode(c.serveMetrics))
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", c.withNode(c.serveLogs))
	return mux
}

func (c *Cluster) withNode(h func(http.ResponseWriter, *http.Request, *node)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, _ := r.Context().Value(nodeKey{}).(*node)
		if n == nil || c.node(n.spec.Name) != n {
			http.Error(w, "node is not running", http.StatusServiceUnavailable)
			return
		}
		h(w, r, n)
	}
}

// nodePods are the pods bound to a node, by name.
func (c *Cluster) nodePods(n *node) []*corev1.Pod {
	objs, _ := c.pods.GetIndexer().ByIndex(byNode, n.spec.Name)
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			pods = append(pods, p)
		}
	}
	slices.SortFunc(pods, func(a, b *corev1.Pod) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return pods
}

func (c *Cluster) servePods(w http.ResponseWriter, _ *http.Request, n *node) {
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	for _, p := range c.nodePods(n) {
		list.Items = append(list.Items, *p)
	}
	writeJSON(w, list)
}

func (c *Cluster) serveLogs(w http.ResponseWriter, r *http.Request, n *node) {
	ns, name, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	pods := c.nodePods(n)
	i := slices.IndexFunc(pods, func(p *corev1.Pod) bool { return p.Namespace == ns && p.Name == name })
	if i < 0 {
		http.Error(w, fmt.Sprintf("pod %q in namespace %q not found on node %s", name, ns, n.spec.Name), http.StatusNotFound)
		return
	}
	pod := pods[i]
	known := func(cs []corev1.Container) bool {
		return slices.ContainsFunc(cs, func(x corev1.Container) bool { return x.Name == container })
	}
	if !known(pod.Spec.Containers) && !known(pod.Spec.InitContainers) {
		http.Error(w, fmt.Sprintf("container %s is not valid for pod %s", container, name), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
}

// volumeStat is one published volume's usage.
type volumeStat struct {
	namespace, pod, volume, claim string
	usage                         []*csi.VolumeUsage
}

// volumeStats asks the node plugins for the usage of the volumes
// published on a node, as kubelet's CSI volume metrics do; a plugin
// without GET_VOLUME_STATS, or one that fails, is left out.
func (c *Cluster) volumeStats(ctx context.Context, n *node) map[string][]volumeStat {
	type item struct {
		m      mounted
		plugin *plugin
	}
	n.volMu.Lock()
	var items []item
	for _, ms := range n.mounts {
		for _, m := range ms {
			if p := n.plugins[m.driver]; p != nil && p.stats {
				items = append(items, item{m, p})
			}
		}
	}
	n.volMu.Unlock()
	out := map[string][]volumeStat{}
	for _, it := range items {
		res, err := it.plugin.server.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{
			VolumeId: it.m.handle, VolumePath: it.m.target, StagingTargetPath: it.m.staging,
		})
		if err != nil {
			c.log.Debug("volume stats", "node", n.spec.Name, "volume", it.m.pv, "err", err)
			continue
		}
		key := it.m.namespace + "/" + it.m.podName
		out[key] = append(out[key], volumeStat{namespace: it.m.namespace, pod: it.m.podName, volume: it.m.volume,
			claim: it.m.claim, usage: res.GetUsage()})
	}
	return out
}

func (c *Cluster) serveSummary(w http.ResponseWriter, r *http.Request, n *node) {
	withVolumes := r.URL.Query().Get("only_cpu_and_memory") != "true"
	start := metav1.NewTime(n.started)
	summary := statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: n.spec.Name, StartTime: start},
		Pods: []statsv1alpha1.PodStats{}}
	var vols map[string][]volumeStat
	if withVolumes {
		vols = c.volumeStats(r.Context(), n)
	}
	for _, p := range c.nodePods(n) {
		ps := statsv1alpha1.PodStats{PodRef: statsv1alpha1.PodReference{Name: p.Name, Namespace: p.Namespace, UID: string(p.UID)}}
		if p.Status.StartTime != nil {
			ps.StartTime = *p.Status.StartTime
		}
		ps.Containers = []statsv1alpha1.ContainerStats{}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Running != nil {
				ps.Containers = append(ps.Containers, statsv1alpha1.ContainerStats{Name: cs.Name, StartTime: cs.State.Running.StartedAt})
			}
		}
		for _, v := range vols[p.Namespace+"/"+p.Name] {
			vs := statsv1alpha1.VolumeStats{Name: v.volume, PVCRef: &statsv1alpha1.PVCReference{Name: v.claim, Namespace: v.namespace}}
			vs.Time = metav1.Now()
			for _, u := range v.usage {
				total, avail, used := uint64(u.GetTotal()), uint64(u.GetAvailable()), uint64(u.GetUsed())
				switch u.GetUnit() {
				case csi.VolumeUsage_BYTES:
					vs.CapacityBytes, vs.AvailableBytes, vs.UsedBytes = &total, &avail, &used
				case csi.VolumeUsage_INODES:
					vs.Inodes, vs.InodesFree, vs.InodesUsed = &total, &avail, &used
				}
			}
			ps.VolumeStats = append(ps.VolumeStats, vs)
		}
		summary.Pods = append(summary.Pods, ps)
	}
	writeJSON(w, summary)
}

// The kubelet_volume_stats gauges, named and labelled as kubelet's.
var volumeGauges = []struct {
	name, help string
	unit       csi.VolumeUsage_Unit
	value      func(*csi.VolumeUsage) int64
}{
	{"kubelet_volume_stats_capacity_bytes", "Capacity in bytes of the volume", csi.VolumeUsage_BYTES, (*csi.VolumeUsage).GetTotal},
	{"kubelet_volume_stats_available_bytes", "Number of available bytes in the volume", csi.VolumeUsage_BYTES, (*csi.VolumeUsage).GetAvailable},
	{"kubelet_volume_stats_used_bytes", "Number of used bytes in the volume", csi.VolumeUsage_BYTES, (*csi.VolumeUsage).GetUsed},
	{"kubelet_volume_stats_inodes", "Maximum number of inodes in the volume", csi.VolumeUsage_INODES, (*csi.VolumeUsage).GetTotal},
	{"kubelet_volume_stats_inodes_free", "Number of free inodes in the volume", csi.VolumeUsage_INODES, (*csi.VolumeUsage).GetAvailable},
	{"kubelet_volume_stats_inodes_used", "Number of used inodes in the volume", csi.VolumeUsage_INODES, (*csi.VolumeUsage).GetUsed},
}

// volumeCollector exports one scrape's volume stats.
type volumeCollector struct{ stats map[string][]volumeStat }

func (volumeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range volumeGauges {
		ch <- prometheus.NewDesc(g.name, "[ALPHA] "+g.help, []string{"namespace", "persistentvolumeclaim"}, nil)
	}
}

func (vc volumeCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[string]bool{} // a claim used by two pods is one series
	for _, vs := range vc.stats {
		for _, v := range vs {
			if seen[v.namespace+"/"+v.claim] {
				continue
			}
			seen[v.namespace+"/"+v.claim] = true
			for _, g := range volumeGauges {
				for _, u := range v.usage {
					if u.GetUnit() == g.unit {
						ch <- prometheus.MustNewConstMetric(
							prometheus.NewDesc(g.name, "[ALPHA] "+g.help, []string{"namespace", "persistentvolumeclaim"}, nil),
							prometheus.GaugeValue, float64(g.value(u)), v.namespace, v.claim)
					}
				}
			}
		}
	}
}

func (c *Cluster) serveMetrics(w http.ResponseWriter, r *http.Request, n *node) {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(volumeCollector{stats: c.volumeStats(r.Context(), n)}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(raw)
}
