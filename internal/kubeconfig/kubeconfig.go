// Package kubeconfig writes kubeconfig files for berth clusters.
package kubeconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"sort"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// componentName names the cluster, user and context of ForComponent.
const componentName = "default"

// Admin returns a kubeconfig for a user of the cluster clusterName whose API
// server is at server (an https URL). The user authenticates with the client
// certificate certPEM and its key keyPEM and trusts the CA certificate caPEM.
// All three are embedded; the kubeconfig refers to no files. The cluster, the
// user and the context are all named clusterName, and the context is current.
func Admin(clusterName, server string, caPEM, certPEM, keyPEM []byte) ([]byte, error) {
	if clusterName == "" {
		return nil, errors.New("building admin kubeconfig: empty cluster name")
	}
	out, err := admin(clusterName, server, caPEM, certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("building admin kubeconfig for cluster %s: %w", clusterName, err)
	}
	return out, nil
}

func admin(name, server string, caPEM, certPEM, keyPEM []byte) ([]byte, error) {
	if err := checkCluster(server, caPEM); err != nil {
		return nil, err
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return nil, fmt.Errorf("client certificate and key: %w", err)
	}
	return write(name, &clientcmdapi.Cluster{
		Server:                   server,
		CertificateAuthorityData: caPEM,
	}, &clientcmdapi.AuthInfo{
		ClientCertificateData: certPEM,
		ClientKeyData:         keyPEM,
	})
}

// ForComponent returns a kubeconfig for a control-plane component, such as
// kube-controller-manager or kube-scheduler, that reaches the API server at
// server with the client certificate certPEM and its key keyPEM, trusting
// the CA certificate caPEM. All three are embedded, so the kubeconfig stays
// valid wherever its cluster's directory moves. The cluster, user and
// context are named "default".
func ForComponent(server string, caPEM, certPEM, keyPEM []byte) ([]byte, error) {
	out, err := admin(componentName, server, caPEM, certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("building component kubeconfig for %s: %w", server, err)
	}
	return out, nil
}

// ForWebhook returns the kubeconfig kube-apiserver reads a webhook from
// (--authentication-token-webhook-config-file and the like): the webhook's
// https URL and the CA certificate caPEM it trusts for it, embedded. The
// cluster and context are named "webhook", its user "kube-apiserver".
func ForWebhook(server string, caPEM []byte) ([]byte, error) {
	if err := checkCluster(server, caPEM); err != nil {
		return nil, fmt.Errorf("building webhook kubeconfig for %s: %w", server, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["webhook"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["kube-apiserver"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["webhook"] = &clientcmdapi.Context{Cluster: "webhook", AuthInfo: "kube-apiserver"}
	cfg.CurrentContext = "webhook"
	return clientcmd.Write(*cfg)
}

// ForBootstrap returns the bootstrap kubeconfig a kubelet joins with
// (--bootstrap-kubeconfig): the cluster's endpoint and CA, embedded, and
// a bootstrap token, as user kubelet-bootstrap in the context bootstrap.
func ForBootstrap(clusterName, server string, caPEM []byte, token string) ([]byte, error) {
	if err := checkCluster(server, caPEM); err != nil {
		return nil, fmt.Errorf("building bootstrap kubeconfig for %s: %w", clusterName, err)
	}
	if clusterName == "" || token == "" {
		return nil, errors.New("building bootstrap kubeconfig: empty cluster name or token")
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[clusterName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["kubelet-bootstrap"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["bootstrap"] = &clientcmdapi.Context{Cluster: clusterName, AuthInfo: "kubelet-bootstrap"}
	cfg.CurrentContext = "bootstrap"
	return clientcmd.Write(*cfg)
}

// write encodes a kubeconfig with one cluster, one user and one current
// context, all called name.
func write(name string, cluster *clientcmdapi.Cluster, user *clientcmdapi.AuthInfo) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = cluster
	cfg.AuthInfos[name] = user
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	return clientcmd.Write(*cfg)
}

// checkCluster checks what every kubeconfig's cluster holds: the
// server's URL and a CA certificate in PEM.
func checkCluster(server string, caPEM []byte) error {
	if err := checkServer(server); err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(caPEM) {
		return errors.New("no PEM certificate in CA data")
	}
	return nil
}

// checkServer accepts an https URL with a host and nothing after the path.
func checkServer(server string) error {
	u, err := url.Parse(server)
	if err != nil {
		return fmt.Errorf("server URL: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("server URL %q: want https://host[:port][/path]", server)
	}
	return nil
}

// ForExec returns a kubeconfig whose user gets its bearer tokens from an
// exec credential plugin (client.authentication.k8s.io/v1), as the
// kubeconfig of an EKS node or of `aws eks update-kubeconfig` does: the
// plugin's command, arguments and environment.
func ForExec(clusterName, server string, caPEM []byte, command string, args []string, env map[string]string) ([]byte, error) {
	if err := checkCluster(server, caPEM); err != nil {
		return nil, fmt.Errorf("building kubeconfig for %s: %w", clusterName, err)
	}
	if clusterName == "" || command == "" {
		return nil, errors.New("building kubeconfig: empty cluster name or command")
	}
	exec := &clientcmdapi.ExecConfig{
		APIVersion:      "client.authentication.k8s.io/v1",
		Command:         command,
		Args:            args,
		InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		exec.Env = append(exec.Env, clientcmdapi.ExecEnvVar{Name: k, Value: env[k]})
	}
	return write(clusterName, &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}, &clientcmdapi.AuthInfo{Exec: exec})
}
