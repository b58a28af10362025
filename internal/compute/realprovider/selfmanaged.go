package realprovider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	authnv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/ekstoken"
	"github.com/berthproject/berth/internal/kubeconfig"
)

// credentialsRefresh is how often a self-managed node's credentials file
// is brought up to date with its instance role's session (which the
// credentials cache renews before it expires).
const credentialsRefresh = time.Minute

// selfManaged prepares a self-managed instance's kubelet to authenticate
// as an EKS node's does, with no bootstrap token: a kubeconfig whose exec
// credential plugin (`berth node get-token`, in place of `aws eks
// get-token`) signs EKS tokens with the instance role's credentials, which
// berth keeps in a shared credentials file in the instance's directory
// as the instance metadata service keeps them for a machine. Before
// kubelet starts, a token of the role is presented to the cluster: a role
// no access entry maps fails here with the cluster's answer, as the
// node's kubelet would keep failing. It returns the kubeconfig and a
// function that stops refreshing the credentials.
func (p *Provider) selfManaged(ctx context.Context, in *compute.Instance, nodeName, server string, ca []byte) ([]byte, func(), error) {
	creds, err := in.RoleCredentials(ctx, server, ca, p.cfg.InstanceCredentials)
	if err != nil {
		return nil, nil, err
	}
	c, err := creds.Retrieve(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("no credentials from instance profile %s: %w", in.InstanceProfile.ARN, err)
	}
	if err := p.checkIdentity(ctx, in, c, nodeName, server, ca); err != nil {
		return nil, nil, err
	}

	dir := filepath.Join(p.cfg.DataDir, in.ID, "aws")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	credsFile, configFile := filepath.Join(dir, "credentials"), filepath.Join(dir, "config")
	if err := os.WriteFile(configFile, []byte("[default]\nregion = "+p.cfg.Region+"\n"), 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeCredentials(credsFile, c); err != nil {
		return nil, nil, err
	}
	kc, err := kubeconfig.ForExec(in.Cluster, server, ca, p.cfg.Kubelet[0],
		[]string{"node", "get-token", "--cluster-name", in.Cluster, "--region", p.cfg.Region},
		map[string]string{
			// Only the instance's credentials: none that berth's own
			// environment may hold, no instance metadata to ask.
			"AWS_SHARED_CREDENTIALS_FILE": credsFile,
			"AWS_CONFIG_FILE":             configFile,
			"AWS_PROFILE":                 "default",
			"AWS_ACCESS_KEY_ID":           "",
			"AWS_SECRET_ACCESS_KEY":       "",
			"AWS_SESSION_TOKEN":           "",
			"AWS_EC2_METADATA_DISABLED":   "true",
		})
	if err != nil {
		return nil, nil, err
	}

	refreshCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := c
		t := time.NewTicker(credentialsRefresh)
		defer t.Stop()
		for {
			select {
			case <-refreshCtx.Done():
				return
			case <-t.C:
			}
			c, err := creds.Retrieve(refreshCtx)
			if err != nil {
				p.log.Warn("refreshing a self-managed node's credentials", "instance", in.ID, "err", err)
				continue
			}
			if c.AccessKeyID == last.AccessKeyID && c.SessionToken == last.SessionToken {
				continue
			}
			if err := writeCredentials(credsFile, c); err != nil {
				p.log.Warn("refreshing a self-managed node's credentials", "instance", in.ID, "err", err)
				continue
			}
			last = c
		}
	}()
	return kc, func() { cancel(); <-done }, nil
}

// checkIdentity presents an EKS token of the instance role to the cluster
// and checks that it authenticates as the node: system:node:NAME.
func (p *Provider) checkIdentity(ctx context.Context, in *compute.Instance, c aws.Credentials, nodeName, server string, ca []byte) error {
	tok, err := ekstoken.Generate(ctx, c, in.Cluster, p.cfg.Region, "", time.Now())
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(&rest.Config{Host: server, BearerToken: tok,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca}, Timeout: 30 * time.Second})
	if err != nil {
		return err
	}
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	switch {
	case apierrors.IsUnauthorized(err):
		return in.Unmapped(err)
	case err != nil:
		return fmt.Errorf("authenticating to cluster %s: %w", in.Cluster, err)
	}
	if user, want := review.Status.UserInfo.Username, "system:node:"+nodeName; user != want {
		return fmt.Errorf("the role of instance profile %s authenticates to cluster %s as %s, not as the node %s: the node could not register (map it with an EC2_LINUX access entry)", in.InstanceProfile.ARN, in.Cluster, user, want)
	}
	return nil
}

// writeCredentials replaces a shared credentials file with c.
func writeCredentials(path string, c aws.Credentials) error {
	body := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", c.AccessKeyID, c.SecretAccessKey)
	if c.SessionToken != "" {
		body += "aws_session_token = " + c.SessionToken + "\n"
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
