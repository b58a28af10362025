package sim

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/container-storage-interface/spec/lib/go/csi"
	"net/http"
	"net/netip"
	"time"

	"golang.org/x/oauth2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	storagev1client "k8s.io/client-go/kubernetes/typed/storage/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	"k8s.io/utils/ptr"
)

// NodeSpec describes a node to join.
type NodeSpec struct {
	// Name is the Node name, ip-10-0-1-23.ec2.internal.
	Name string
	// ProviderID is spec.providerID, aws:///us-east-1a/i-0123456789abcdef0.
	ProviderID string
	// InternalIP is the node's address in Subnet.
	InternalIP netip.Addr
	// Subnet is the node's subnet. Pod IPs are allocated from it, unique
	// within the Cluster, skipping the addresses AWS reserves.
	Subnet netip.Prefix
	// Capacity and Allocatable are reported in node status. Allocatable
	// defaults to Capacity, and both get "pods: 110" unless they set pods.
	Capacity, Allocatable corev1.ResourceList
	// Labels are set at registration, on top of kubernetes.io/hostname,
	// kubernetes.io/os=linux and kubernetes.io/arch=amd64 (which Labels may
	// override). NodeRestriction decides which labels a node may set.
	Labels map[string]string
	// Taints are set at registration (kubelet's --register-with-taints);
	// NodeRestriction forbids a node from changing them later.
	Taints []corev1.Taint
	// KubeletVersion is reported in node status; empty means the
	// Cluster's ClusterConfig.KubeletVersion.
	KubeletVersion string
	// PodsUseNodeIP gives every pod of the node the node's own address,
	// as on a Fargate node, whose one pod owns the node's network
	// interface.
	PodsUseNodeIP bool

	// How the node authenticates, in this order: Token, a source of
	// bearer tokens (an EKS node's `aws eks get-token` tokens, made with
	// its instance role); ClientCert and ClientKey (PEM), a kubelet
	// client certificate from an earlier join; else TLS bootstrapping
	// with the Cluster's bootstrap token, after which OnCertificate, when
	// set, receives the new certificate and key to keep.
	Token         oauth2.TokenSource
	ClientCert    []byte
	ClientKey     []byte
	OnCertificate func(cert, key []byte)
}

func (s NodeSpec) validate() error {
	var errs []error
	if msgs := validation.IsDNS1123Subdomain(s.Name); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("node name %q: %v", s.Name, msgs))
	}
	if !s.Subnet.IsValid() || !s.Subnet.Addr().Is4() || s.Subnet.Bits() > 28 {
		errs = append(errs, fmt.Errorf("subnet %s is not an IPv4 prefix of /28 or larger", s.Subnet))
	}
	if !s.InternalIP.IsValid() {
		errs = append(errs, errors.New("internal IP not set"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sim: invalid node spec: %w", err)
	}
	return nil
}

// AddNode joins a node and returns when its Node and Lease exist: it
// obtains a client certificate through TLS bootstrapping, registers the
// Node (or reports it Ready again if it exists) and creates its Lease.
// From then on, while Start runs, the node renews its Lease, reports its
// status and runs the pods bound to it. Adding a node that is already
// managed does nothing.
func (c *Cluster) AddNode(ctx context.Context, spec NodeSpec) error {
	if err := spec.validate(); err != nil {
		return err
	}
	if c.node(spec.Name) != nil {
		return nil
	}
	// Before any pod can be given the node's address. When the instance
	// layer shares the allocator, it already holds it under its own name.
	c.ips.Reserve(nodeOwner(spec.Name), spec.InternalIP)
	began := c.clock.Now()
	n, err := c.join(ctx, spec)
	if err != nil {
		if c.node(spec.Name) == nil {
			c.ips.Release(nodeOwner(spec.Name))
		}
		return fmt.Errorf("sim: joining node %s: %w", spec.Name, err)
	}
	c.mu.Lock()
	if _, ok := c.nodes[spec.Name]; ok {
		c.mu.Unlock()
		n.http.CloseIdleConnections()
		return nil
	}
	n.started = began
	c.nodes[spec.Name] = n
	c.mu.Unlock()
	if err := c.registerPlugins(ctx, n); err != nil {
		// Tried again when a pod needs a volume.
		c.log.Warn("registering CSI node plugins", "node", spec.Name, "err", err)
	}
	c.heartbeats.AddAfter(spec.Name, leaseRenewInterval)
	// Pods may have been bound before the node was managed (DaemonSets
	// are quick); their events were ignored then.
	pods, _ := c.pods.GetIndexer().ByIndex(byNode, spec.Name)
	for _, obj := range pods {
		if key, err := metaKey(obj); err == nil {
			c.podQueue.Add(key)
		}
	}
	c.log.Debug("node joined", "node", spec.Name, "took", c.clock.Since(began))
	return nil
}

// join authenticates the node (TLS bootstrapping unless it has a token
// source or a certificate) and registers it.
func (c *Cluster) join(ctx context.Context, spec NodeSpec) (*node, error) {
	tlsConfig := rest.TLSClientConfig{CAData: c.cfg.CAData}
	var wrap transport.WrapperFunc
	switch {
	case spec.Token != nil:
		wrap = transport.ResettableTokenSourceWrapTransport(transport.NewCachedTokenSource(spec.Token))
	case len(spec.ClientCert) > 0:
		tlsConfig.CertData, tlsConfig.KeyData = spec.ClientCert, spec.ClientKey
	case c.cfg.BootstrapToken == "":
		return nil, errors.New("sim: the node has no credentials: no token source, certificate or bootstrap token")
	default:
		began := c.clock.Now()
		certPEM, keyPEM, err := c.requestCertificate(ctx, spec.Name)
		if err != nil {
			return nil, err
		}
		c.log.Debug("node certificate issued", "node", spec.Name, "took", c.clock.Since(began))
		tlsConfig.CertData, tlsConfig.KeyData = certPEM, keyPEM
		if spec.OnCertificate != nil {
			spec.OnCertificate(certPEM, keyPEM)
		}
	}
	cfg := &rest.Config{
		Host:            c.cfg.Server,
		TLSClientConfig: tlsConfig,
		WrapTransport:   wrap,
		// Writes are limited by the Cluster's own limiter, where it
		// matters; a client-side limit per node would only add latency.
		QPS:           -1,
		UserAgent:     "berth-sim-kubelet/" + c.cfg.KubeletVersion,
		ContentConfig: kubeletContent,
		// A Proxy function keeps this transport out of client-go's
		// process-wide TLS transport cache, which never forgets an entry:
		// every node has its own certificate, and nodes come and go.
		Proxy: http.ProxyFromEnvironment,
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	core, err := corev1client.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	coord, err := coordinationv1client.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	storage, err := storagev1client.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	n := &node{spec: spec, http: hc, core: core, leases: coord.Leases(corev1.NamespaceNodeLease), storage: storage,
		info: map[string]*csi.NodeGetInfoResponse{}}
	if err := c.watchOwnPods(cfg, hc, spec.Name); err != nil {
		hc.CloseIdleConnections()
		return nil, err
	}
	if err := c.register(ctx, n); err != nil {
		hc.CloseIdleConnections()
		return nil, err
	}
	if err := c.renewLease(ctx, n); err != nil {
		hc.CloseIdleConnections()
		return nil, err
	}
	return n, nil
}

// register creates the Node with its status, as kubelet's registration
// does, or brings the status of an existing one up to date.
func (c *Cluster) register(ctx context.Context, n *node) error {
	now := c.clock.Now()
	obj := c.nodeObject(n.spec, now)
	created, err := n.core.Nodes().Create(ctx, obj, metav1.CreateOptions{})
	switch {
	case err == nil:
		n.uid = created.UID
		n.lastStatus = now
		return nil
	case !apierrors.IsAlreadyExists(err):
		return fmt.Errorf("registering node: %w", err)
	}
	existing, err := n.core.Nodes().Get(ctx, n.spec.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading existing node: %w", err)
	}
	n.uid = existing.UID
	return c.reportStatus(ctx, n)
}

// nodeObject is the Node that kubelet would register for spec.
func (c *Cluster) nodeObject(spec NodeSpec, now time.Time) *corev1.Node {
	labels := map[string]string{
		corev1.LabelHostname:   spec.Name,
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: "amd64",
	}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        spec.Name,
			Labels:      labels,
			Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
		},
		Spec: corev1.NodeSpec{
			ProviderID: spec.ProviderID,
			Taints:     spec.Taints,
		},
		Status: c.nodeStatus(spec, labels[corev1.LabelArchStable], now),
	}
}

func (c *Cluster) nodeStatus(spec NodeSpec, arch string, now time.Time) corev1.NodeStatus {
	capacity := spec.Capacity.DeepCopy()
	if capacity == nil {
		capacity = corev1.ResourceList{}
	}
	allocatable := spec.Allocatable.DeepCopy()
	if allocatable == nil {
		allocatable = capacity.DeepCopy()
	}
	for _, l := range []corev1.ResourceList{capacity, allocatable} {
		if _, ok := l[corev1.ResourcePods]; !ok {
			l[corev1.ResourcePods] = resource.MustParse("110")
		}
	}
	// Stable per node name, as a machine's IDs are.
	sum := sha256.Sum256([]byte(spec.Name))
	id := hex.EncodeToString(sum[:16])
	return corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: allocatable,
		Phase:       corev1.NodeRunning,
		Conditions:  nodeConditions(now),
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: spec.InternalIP.String()},
			{Type: corev1.NodeHostName, Address: spec.Name},
			{Type: corev1.NodeInternalDNS, Address: spec.Name},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               id,
			SystemUUID:              id,
			BootID:                  id,
			KernelVersion:           "6.12.0-berth-sim",
			OSImage:                 "Amazon Linux 2023 (berth simulated)",
			ContainerRuntimeVersion: "containerd://1.7.27",
			KubeletVersion:          cmp.Or(spec.KubeletVersion, c.cfg.KubeletVersion),
			OperatingSystem:         "linux",
			Architecture:            arch,
		},
	}
}

// nodeConditions are the conditions of a healthy node, heartbeat now.
func nodeConditions(now time.Time) []corev1.NodeCondition {
	t := metav1.NewTime(now)
	cond := func(typ corev1.NodeConditionType, status corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: typ, Status: status, Reason: reason, Message: msg, LastHeartbeatTime: t, LastTransitionTime: t}
	}
	return []corev1.NodeCondition{
		cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
	}
}

// reportStatus writes the node's status: a heartbeat of its conditions.
// Unchanged conditions keep their lastTransitionTime; others get now.
func (c *Cluster) reportStatus(ctx context.Context, n *node) error {
	now := c.clock.Now()
	current, err := n.core.Nodes().Get(ctx, n.spec.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading node: %w", err)
	}
	conds := nodeConditions(now)
	for i := range conds {
		for _, old := range current.Status.Conditions {
			if old.Type == conds[i].Type && old.Status == conds[i].Status {
				conds[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": conds}})
	if err != nil {
		return err
	}
	if _, err := n.core.Nodes().Patch(ctx, n.spec.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("reporting node status: %w", err)
	}
	n.lastStatus = now
	return nil
}

// renewLease creates or renews the node's Lease, as kubelet's lease
// controller does: Update of the last Lease seen, Get on a conflict.
func (c *Cluster) renewLease(ctx context.Context, n *node) error {
	now := metav1.NewMicroTime(c.clock.Now())
	if n.lease == nil {
		// A new node's Lease does not exist yet: create first.
		created, err := n.leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name:      n.spec.Name,
				Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Node", Name: n.spec.Name, UID: n.uid,
				}},
			},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(n.spec.Name),
				LeaseDurationSeconds: ptr.To(int32(leaseDuration / time.Second)),
				RenewTime:            &now,
			},
		}, metav1.CreateOptions{})
		if err == nil {
			n.lease = created
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating lease: %w", err)
		}
		if n.lease, err = n.leases.Get(ctx, n.spec.Name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("reading lease: %w", err)
		}
	}
	lease := n.lease.DeepCopy()
	lease.Spec.HolderIdentity = ptr.To(n.spec.Name)
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(leaseDuration / time.Second))
	lease.Spec.RenewTime = &now
	updated, err := n.leases.Update(ctx, lease, metav1.UpdateOptions{})
	if err != nil {
		n.lease = nil // read it again next time
		return fmt.Errorf("renewing lease: %w", err)
	}
	n.lease = updated
	return nil
}

// processHeartbeat handles one due node: renews its Lease and, every
// statusReportFrequency, reports its status. A removed node drops out.
func (c *Cluster) processHeartbeat(ctx context.Context) bool {
	name, shutdown := c.heartbeats.Get()
	if shutdown {
		return false
	}
	defer c.heartbeats.Done(name)
	n := c.node(name)
	if n == nil {
		return true
	}
	next := leaseRenewInterval
	err := c.renewLease(ctx, n)
	if err == nil && c.clock.Since(n.lastStatus) >= statusReportFrequency {
		err = c.reportStatus(ctx, n)
	}
	if err != nil {
		if ctx.Err() != nil {
			return true
		}
		c.log.Debug("node heartbeat failed", "node", name, "err", err)
		next = heartbeatRetry
	}
	// A node removed meanwhile must not come back.
	if c.node(name) == n {
		c.heartbeats.AddAfter(name, next)
	}
	return true
}
