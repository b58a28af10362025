package kubeconfig_test

import (
	"fmt"

	"github.com/berthproject/berth/internal/kubeconfig"
)

func ExampleForComponent() {
	out, err := kubeconfig.ForComponent("https://127.0.0.1:6443",
		"/var/lib/berth/clusters/demo/pki/ca.crt",
		"/var/lib/berth/clusters/demo/pki/scheduler.crt",
		"/var/lib/berth/clusters/demo/pki/scheduler.key")
	if err != nil {
		panic(err)
	}
	fmt.Print(string(out))
	// Output:
	// apiVersion: v1
	// clusters:
	// - cluster:
	//     certificate-authority: /var/lib/berth/clusters/demo/pki/ca.crt
	//     server: https://127.0.0.1:6443
	//   name: default
	// contexts:
	// - context:
	//     cluster: default
	//     user: default
	//   name: default
	// current-context: default
	// kind: Config
	// users:
	// - name: default
	//   user:
	//     client-certificate: /var/lib/berth/clusters/demo/pki/scheduler.crt
	//     client-key: /var/lib/berth/clusters/demo/pki/scheduler.key
}
