package nodeconfig_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/nodeconfig"
)

const caPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

var caB64 = base64.StdEncoding.EncodeToString([]byte(caPEM))

var al2023 = `---
apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  cluster:
    name: demo
    apiServerEndpoint: https://127.0.0.1:24001
    certificateAuthority: ` + caB64 + `
    cidr: 10.100.0.0/16
  kubelet:
    config:
      maxPods: 17
    flags:
      - --node-labels=team=a,tier=web
      - --register-with-taints=dedicated=gpu:NoSchedule
`

const mimeDoc = `MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/x-shellscript; charset="us-ascii"

#!/bin/bash
echo hello

--BOUNDARY
Content-Type: application/node.eks.aws

%s
--BOUNDARY
Content-Type: application/node.eks.aws

---
apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  kubelet:
    flags:
      - --node-labels=extra=yes

--BOUNDARY--
`

var script = `#!/bin/bash
set -ex
/etc/eks/bootstrap.sh demo \
  --b64-cluster-ca ` + caB64 + ` \
  --apiserver-endpoint https://127.0.0.1:24001 \
  --kubelet-extra-args '--node-labels=team=b --register-with-taints=spot=true:PreferNoSchedule --max-pods=11' && echo done
`

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func TestParse(t *testing.T) {
	want2023 := &nodeconfig.Config{
		ClusterName: "demo", APIServerEndpoint: "https://127.0.0.1:24001", CertificateAuthority: []byte(caPEM),
		CIDR: "10.100.0.0/16", Labels: map[string]string{"team": "a", "tier": "web"},
		Taints: []nodeconfig.Taint{{Key: "dedicated", Value: "gpu", Effect: "NoSchedule"}}, MaxPods: 17, Source: "NodeConfig",
	}
	wantMIME := *want2023
	wantMIME.Labels = map[string]string{"team": "a", "tier": "web", "extra": "yes"}
	wantScript := &nodeconfig.Config{
		ClusterName: "demo", APIServerEndpoint: "https://127.0.0.1:24001", CertificateAuthority: []byte(caPEM),
		Labels: map[string]string{"team": "b"}, Taints: []nodeconfig.Taint{{Key: "spot", Value: "true", Effect: "PreferNoSchedule"}},
		MaxPods: 11, Source: "bootstrap.sh",
	}
	tests := []struct {
		name string
		data []byte
		want *nodeconfig.Config
	}{
		{"AL2023 NodeConfig", []byte(al2023), want2023},
		{"MIME multi-part", []byte(strings.ReplaceAll(mimeDoc, "%s", al2023)), &wantMIME},
		{"bootstrap.sh", []byte(script), wantScript},
		{"gzip", gz(al2023), want2023},
		{"bootstrap.sh name only", []byte("#!/bin/sh\n/etc/eks/bootstrap.sh demo\n"), &nodeconfig.Config{ClusterName: "demo", Source: "bootstrap.sh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := nodeconfig.Parse(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"missing cluster fields", "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n    name: demo\n",
			"Apiserver endpoint is missing in cluster configuration\nCertificate authority is missing in cluster configuration\nCIDR is missing in cluster configuration"},
		{"wrong kind", "apiVersion: node.eks.aws/v1alpha1\nkind: Other\n", "unknown document"},
		{"CA not base64", strings.Replace(al2023, caB64, "not%base64", 1), "not base64"},
		{"bad taint effect", strings.Replace(al2023, "gpu:NoSchedule", "gpu:Never", 1), `effect "Never"`},
		{"bad label", strings.Replace(al2023, "team=a", "te am=a", 1), `node label key "te am"`},
		{"bad max pods", strings.Replace(al2023, "maxPods: 17", "maxPods: -1", 1), "maxPods"},
		{"script without name", "#!/bin/sh\n/etc/eks/bootstrap.sh --apiserver-endpoint x\n", "cluster name is missing"},
		{"unterminated quote", "#!/bin/sh\n/etc/eks/bootstrap.sh demo --kubelet-extra-args '--max-pods=3\n", "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := nodeconfig.Parse([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	for _, data := range []string{"", "#!/bin/bash\necho hi\n", "just text"} {
		if _, err := nodeconfig.Parse([]byte(data)); !errors.Is(err, nodeconfig.ErrNoConfig) {
			t.Errorf("Parse(%q) = %v, want ErrNoConfig", data, err)
		}
	}
}
