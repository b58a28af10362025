package nodeconfig

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// Config is what a node agent needs to join a cluster.
type Config struct {
	// ClusterName is the EKS cluster's name.
	ClusterName string
	// APIServerEndpoint and CertificateAuthority (PEM) may be empty in
	// the bootstrap.sh form, which looks them up with DescribeCluster.
	APIServerEndpoint    string
	CertificateAuthority []byte
	// CIDR is the cluster's Service CIDR (NodeConfig's spec.cluster.cidr).
	CIDR   string
	Labels map[string]string
	Taints []Taint
	// MaxPods is the kubelet's maxPods; 0 means the AMI's default for the
	// instance type.
	MaxPods int
	// Source says which form the configuration came in: "NodeConfig" or
	// "bootstrap.sh".
	Source string
}

// Taint is a kubelet --register-with-taints entry.
type Taint struct {
	Key, Value, Effect string
}

// ErrNoConfig means the user data holds no node configuration: the
// instance joins no cluster.
var ErrNoConfig = errors.New("nodeconfig: no NodeConfig or bootstrap.sh call in the user data")

// Parse reads decoded user data. It returns ErrNoConfig when there is no
// node configuration in it, and a descriptive error when there is one
// that the AMI would refuse.
func Parse(data []byte) (*Config, error) {
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("nodeconfig: gzip user data: %w", err)
		}
		if data, err = io.ReadAll(io.LimitReader(zr, 1<<20)); err != nil {
			return nil, fmt.Errorf("nodeconfig: gzip user data: %w", err)
		}
	}
	if isMIME(data) {
		return parseMIME(data)
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("#!")) {
		return parseScript(data)
	}
	if bytes.Contains(data, []byte("node.eks.aws/")) {
		return parseNodeConfigs([][]byte{data})
	}
	return nil, ErrNoConfig
}

func isMIME(data []byte) bool {
	head := data[:min(len(data), 1024)]
	return bytes.Contains(bytes.ToLower(head), []byte("mime-version:")) ||
		bytes.HasPrefix(bytes.ToLower(bytes.TrimSpace(head)), []byte("content-type: multipart/"))
}

// parseMIME reads a multi-part document: NodeConfig parts are merged in
// order, as nodeadm merges them; a shell part may call bootstrap.sh.
func parseMIME(data []byte) (*Config, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("nodeconfig: MIME user data: %w", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mediaType, "multipart/") || params["boundary"] == "" {
		return nil, fmt.Errorf("nodeconfig: MIME user data: Content-Type %q is not multipart with a boundary", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var configs [][]byte
	var script *Config
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("nodeconfig: MIME user data: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(part, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("nodeconfig: MIME part: %w", err)
		}
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "base64") {
			if body, err = base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(body), nil))); err != nil {
				return nil, fmt.Errorf("nodeconfig: MIME part: %w", err)
			}
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "application/node.eks.aws":
			configs = append(configs, body)
		case "text/x-shellscript":
			if c, err := parseScript(body); err == nil && script == nil {
				script = c
			} else if err != nil && !errors.Is(err, ErrNoConfig) {
				return nil, err
			}
		}
	}
	if len(configs) > 0 {
		return parseNodeConfigs(configs)
	}
	if script != nil {
		return script, nil
	}
	return nil, ErrNoConfig
}

// nodeConfig is the part of nodeadm's NodeConfig that berth reads.
type nodeConfig struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Cluster struct {
			Name                 string `json:"name"`
			APIServerEndpoint    string `json:"apiServerEndpoint"`
			CertificateAuthority string `json:"certificateAuthority"`
			CIDR                 string `json:"cidr"`
		} `json:"cluster"`
		Kubelet struct {
			Config map[string]any `json:"config"`
			Flags  []string       `json:"flags"`
		} `json:"kubelet"`
	} `json:"spec"`
}

// parseNodeConfigs merges the NodeConfig documents (later ones override
// the members they set; kubelet flags add up) and validates the result
// as nodeadm does.
func parseNodeConfigs(parts [][]byte) (*Config, error) {
	c := &Config{Source: "NodeConfig"}
	var ca string
	var flags []string
	for _, p := range parts {
		for _, doc := range splitYAML(p) {
			var nc nodeConfig
			if err := yaml.Unmarshal(doc, &nc); err != nil {
				return nil, fmt.Errorf("nodeconfig: NodeConfig: %w", err)
			}
			if nc.APIVersion == "" && nc.Kind == "" {
				continue
			}
			if !strings.HasPrefix(nc.APIVersion, "node.eks.aws/") || nc.Kind != "NodeConfig" {
				return nil, fmt.Errorf("nodeconfig: unknown document %s %s: want node.eks.aws/v1alpha1 NodeConfig", nc.APIVersion, nc.Kind)
			}
			cl := nc.Spec.Cluster
			c.ClusterName = cmp.Or(cl.Name, c.ClusterName)
			c.APIServerEndpoint = cmp.Or(cl.APIServerEndpoint, c.APIServerEndpoint)
			ca = cmp.Or(cl.CertificateAuthority, ca)
			c.CIDR = cmp.Or(cl.CIDR, c.CIDR)
			if v, ok := nc.Spec.Kubelet.Config["maxPods"]; ok {
				n, ok := v.(float64)
				if !ok || n < 1 || n != float64(int(n)) {
					return nil, fmt.Errorf("nodeconfig: kubelet config maxPods %v is not a positive integer", v)
				}
				c.MaxPods = int(n)
			}
			flags = append(flags, nc.Spec.Kubelet.Flags...)
		}
	}
	var errs []error
	if c.ClusterName == "" {
		errs = append(errs, errors.New("Name is missing in cluster configuration"))
	}
	if c.APIServerEndpoint == "" {
		errs = append(errs, errors.New("Apiserver endpoint is missing in cluster configuration"))
	}
	if ca == "" {
		errs = append(errs, errors.New("Certificate authority is missing in cluster configuration"))
	}
	if c.CIDR == "" {
		errs = append(errs, errors.New("CIDR is missing in cluster configuration"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("nodeconfig: invalid NodeConfig: %w", err)
	}
	var err error
	if c.CertificateAuthority, err = decodeCA(ca); err != nil {
		return nil, err
	}
	if err := c.kubeletFlags(flags); err != nil {
		return nil, err
	}
	return c, nil
}

// splitYAML splits a YAML stream at its document markers.
func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if strings.TrimRight(sc.Text(), " \t") == "---" {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.Write(sc.Bytes())
		cur.WriteByte('\n')
	}
	return append(docs, cur.Bytes())
}

// decodeCA reads the base64 of a PEM CA bundle, as both forms carry it.
func decodeCA(b64 string) ([]byte, error) {
	if b64 == "" {
		return nil, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, fmt.Errorf("nodeconfig: certificate authority is not base64: %w", err)
	}
	if !bytes.Contains(raw, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, errors.New("nodeconfig: certificate authority is not a PEM certificate")
	}
	return raw, nil
}

// parseScript finds the bootstrap.sh call of a shell script.
func parseScript(data []byte) (*Config, error) {
	// Join continued lines first.
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	for line := range strings.SplitSeq(text, "\n") {
		i := strings.Index(line, "/etc/eks/bootstrap.sh")
		if i < 0 || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		args, err := splitShell(line[i+len("/etc/eks/bootstrap.sh"):])
		if err != nil {
			return nil, fmt.Errorf("nodeconfig: bootstrap.sh call: %w", err)
		}
		return parseBootstrapArgs(args)
	}
	return nil, ErrNoConfig
}

// parseBootstrapArgs reads bootstrap.sh's arguments: the cluster name and
// the options it knows.
func parseBootstrapArgs(args []string) (*Config, error) {
	c := &Config{Source: "bootstrap.sh"}
	var ca, extra string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == ";" || a == "&" || a == "|" {
			break
		}
		if !strings.HasPrefix(a, "--") {
			if c.ClusterName == "" {
				c.ClusterName = a
			}
			continue
		}
		name, value, hasValue := strings.Cut(a, "=")
		if !hasValue {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("nodeconfig: bootstrap.sh option %s needs a value", name)
			}
			i++
			value = args[i]
		}
		switch name {
		case "--apiserver-endpoint":
			c.APIServerEndpoint = value
		case "--b64-cluster-ca":
			ca = value
		case "--kubelet-extra-args":
			extra = value
		case "--service-ipv4-cidr":
			c.CIDR = value
		}
	}
	if c.ClusterName == "" {
		return nil, errors.New("nodeconfig: bootstrap.sh: the cluster name is missing")
	}
	var err error
	if c.CertificateAuthority, err = decodeCA(ca); err != nil {
		return nil, err
	}
	flags, err := splitShell(extra)
	if err != nil {
		return nil, fmt.Errorf("nodeconfig: --kubelet-extra-args: %w", err)
	}
	if err := c.kubeletFlags(flags); err != nil {
		return nil, err
	}
	return c, nil
}

// kubeletFlags applies the kubelet flags berth models; others are
// accepted and have no effect on a simulated node.
func (c *Config) kubeletFlags(flags []string) error {
	for i := 0; i < len(flags); i++ {
		name, value, ok := strings.Cut(flags[i], "=")
		if !ok && i+1 < len(flags) && !strings.HasPrefix(flags[i+1], "--") {
			i++
			value = flags[i]
		}
		switch name {
		case "--node-labels":
			labels, err := ParseLabels(value)
			if err != nil {
				return err
			}
			if c.Labels == nil {
				c.Labels = map[string]string{}
			}
			for k, v := range labels {
				c.Labels[k] = v
			}
		case "--register-with-taints":
			taints, err := ParseTaints(value)
			if err != nil {
				return err
			}
			c.Taints = append(c.Taints, taints...)
		case "--max-pods":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				return fmt.Errorf("nodeconfig: --max-pods %q is not a positive integer", value)
			}
			c.MaxPods = n
		}
	}
	return nil
}

// ParseLabels reads kubelet's --node-labels: key=value pairs separated by
// commas, checked as Kubernetes checks labels.
func ParseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for kv := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return nil, fmt.Errorf("nodeconfig: node label %q is not key=value", kv)
		}
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			return nil, fmt.Errorf("nodeconfig: node label key %q: %s", k, strings.Join(msgs, "; "))
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			return nil, fmt.Errorf("nodeconfig: node label value %q: %s", v, strings.Join(msgs, "; "))
		}
		out[k] = v
	}
	return out, nil
}

// ParseTaints reads kubelet's --register-with-taints: key[=value]:Effect
// entries separated by commas.
func ParseTaints(s string) ([]Taint, error) {
	var out []Taint
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for spec := range strings.SplitSeq(s, ",") {
		spec = strings.TrimSpace(spec)
		kv, effect, ok := strings.Cut(spec, ":")
		if !ok {
			return nil, fmt.Errorf("nodeconfig: taint %q is not key[=value]:effect", spec)
		}
		switch effect {
		case "NoSchedule", "PreferNoSchedule", "NoExecute":
		default:
			return nil, fmt.Errorf("nodeconfig: taint %q: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", spec, effect)
		}
		k, v, _ := strings.Cut(kv, "=")
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			return nil, fmt.Errorf("nodeconfig: taint key %q: %s", k, strings.Join(msgs, "; "))
		}
		if v != "" {
			if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
				return nil, fmt.Errorf("nodeconfig: taint value %q: %s", v, strings.Join(msgs, "; "))
			}
		}
		out = append(out, Taint{Key: k, Value: v, Effect: effect})
	}
	return out, nil
}

// splitShell splits a command line as a POSIX shell does for words:
// single and double quotes, backslash escapes; no expansion.
func splitShell(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("unterminated double quote")
			}
			inWord = true
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case ch == ' ' || ch == '\t' || ch == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == ';' || ch == '&' || ch == '|':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			words = append(words, string(ch))
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
