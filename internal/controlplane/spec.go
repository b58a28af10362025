package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// Spec is everything a control-plane process needs to know about its
// cluster. The daemon writes it as JSON into the cluster directory; the
// child reads it.
type Spec struct {
	Name                 string `json:"name"`
	Dir                  string `json:"dir"`
	Version              string `json:"version"`
	APIServerPort        int    `json:"apiServerPort"`
	EtcdClientPort       int    `json:"etcdClientPort"`
	EtcdPeerPort         int    `json:"etcdPeerPort"`
	ServiceCIDR          string `json:"serviceCidr"`
	ServiceAccountIssuer string `json:"serviceAccountIssuer"`
	// AuthWebhookURL and AuthWebhookCA (PEM), when set, are berth's token
	// authentication and authorization webhook for this control plane.
	AuthWebhookURL string `json:"authWebhookUrl,omitempty"`
	AuthWebhookCA  string `json:"authWebhookCa,omitempty"`
	// NodeProxySocket, when set, is the unix socket of berth's node proxy,
	// kube-apiserver's way to kubelets.
	NodeProxySocket string `json:"nodeProxySocket,omitempty"`
}

// Validate checks a spec.
func (s Spec) Validate() error {
	var errs []error
	if s.Name == "" || s.Dir == "" || s.Version == "" || s.ServiceCIDR == "" || s.ServiceAccountIssuer == "" {
		errs = append(errs, errors.New("name, dir, version, serviceCidr and serviceAccountIssuer are required"))
	}
	for _, p := range []int{s.APIServerPort, s.EtcdClientPort, s.EtcdPeerPort} {
		if p <= 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("port %d out of range", p))
		}
	}
	return errors.Join(errs...)
}

// SpecFile is the name of the spec inside a cluster directory.
const SpecFile = "controlplane.json"

// WriteSpec writes s into its directory atomically.
func WriteSpec(s Spec) (string, error) {
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(s.Dir, SpecFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return "", fmt.Errorf("writing %s: %w", tmp, err)
	}
	return path, os.Rename(tmp, path)
}

// ReadSpec reads and validates a spec file.
func ReadSpec(path string) (Spec, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, err
	}
	var s Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return Spec{}, fmt.Errorf("decoding %s: %w", path, err)
	}
	if err := s.Validate(); err != nil {
		return Spec{}, fmt.Errorf("invalid spec %s: %w", path, err)
	}
	return s, nil
}

// PortRange is where FreePorts looks: below Linux's default ephemeral
// range (32768-60999), so outgoing connections never take a port a stopped
// cluster will want back.
type PortRange struct{ Lo, Hi int }

// DefaultPorts is the range berth uses unless told otherwise.
var DefaultPorts = PortRange{Lo: 24000, Hi: 31999}

// FreePorts returns n distinct loopback TCP ports from r that are not in
// used and that nothing listens on now.
func FreePorts(n int, used map[int]bool, r PortRange) ([]int, error) {
	var out []int
	for p := r.Lo; p <= r.Hi && len(out) < n; p++ {
		if used[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		out = append(out, p)
	}
	if len(out) < n {
		return nil, fmt.Errorf("controlplane: fewer than %d free loopback ports in %d-%d", n, r.Lo, r.Hi)
	}
	return out, nil
}
