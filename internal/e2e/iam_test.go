package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berthproject/berth/internal/ekstoken"
)

// awsConfig is an SDK configuration for the daemon with the given keys.
func (d *daemon) awsConfig(t testing.TB, c aws.Credentials) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.StaticCredentialsProvider{Value: c}),
		config.WithBaseEndpoint("http://"+d.listen),
		config.WithSharedConfigFiles(nil), config.WithSharedCredentialsFiles(nil),
	)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// rootCreds reads the root key berth wrote.
func (d *daemon) rootCreds(t testing.TB) aws.Credentials {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithSharedCredentialsFiles([]string{filepath.Join(d.dataDir, "credentials")}),
		config.WithSharedConfigFiles([]string{filepath.Join(d.dataDir, "config")}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eksToken makes a bearer token as `aws eks get-token` does, with the
// SDK's signer: a presigned STS GetCallerIdentity with the cluster's name
// signed in x-k8s-aws-id.
func eksToken(t testing.TB, c aws.Credentials, clusterName string) string {
	t.Helper()
	tok, err := ekstoken.Generate(context.Background(), c, clusterName, "us-east-1", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tokenClient is a client of the cluster that authenticates with an EKS
// bearer token, as kubectl does with the kubeconfig update-kubeconfig
// writes.
func tokenClient(t testing.TB, cl *ekstypes.Cluster, token string) *kubernetes.Clientset {
	t.Helper()
	ca, err := base64.StdEncoding.DecodeString(aws.ToString(cl.CertificateAuthority.Data))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: aws.ToString(cl.Endpoint), BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: ca}, QPS: 1000, Burst: 2000})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func wantStatus(t *testing.T, what string, err error, check func(error) bool) {
	t.Helper()
	if !check(err) {
		t.Errorf("%s: %v", what, err)
	}
}

// TestIAMClusterAccess walks issue 6's story: an IAM user with a key, an
// access entry with the view policy in one namespace; that user lists pods
// there, not elsewhere, and cannot create; the cluster's creator (the root
// credential) can do everything; a deleted key and a token for another
// cluster are refused; an assumed role's session works through its role's
// entry; and `aws eks get-token` tokens work when the CLI is there.
func TestIAMClusterAccess(t *testing.T) {
	skipShort(t)
	d := startDaemon(t, "")
	ctx := context.Background()
	root := d.rootCreds(t)
	c := d.eks(t)
	if _, err := c.CreateCluster(ctx, createInput("auth", d.subnets(t))); err != nil {
		t.Fatal(err)
	}
	cl := waitActive(t, c, "auth", 2*time.Minute)

	// The creator is cluster admin through its access entry.
	admin := tokenClient(t, cl, eksToken(t, root, "auth"))
	for _, ns := range []string{"team-a", "other"} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creator creating namespace %s: %v", ns, err)
		}
	}

	// An IAM user with a key, viewer of team-a.
	ic := iam.NewFromConfig(d.awsConfig(t, root))
	u, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("viewer")})
	if err != nil {
		t.Fatal(err)
	}
	k, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("viewer")})
	if err != nil {
		t.Fatal(err)
	}
	viewer := aws.Credentials{AccessKeyID: aws.ToString(k.AccessKey.AccessKeyId), SecretAccessKey: aws.ToString(k.AccessKey.SecretAccessKey)}
	who, err := sts.NewFromConfig(d.awsConfig(t, viewer)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(who.Arn) != aws.ToString(u.User.Arn) {
		t.Fatalf("GetCallerIdentity as the viewer: %v %v", who, err)
	}

	// No access entry yet: refused.
	_, err = tokenClient(t, cl, eksToken(t, viewer, "auth")).CoreV1().Pods("team-a").List(ctx, metav1.ListOptions{})
	wantStatus(t, "viewer without an entry", err, apierrors.IsUnauthorized)

	if _, err := c.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String("auth"), PrincipalArn: u.User.Arn}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AssociateAccessPolicy(ctx, &eks.AssociateAccessPolicyInput{
		ClusterName: aws.String("auth"), PrincipalArn: u.User.Arn,
		PolicyArn:   aws.String("arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"),
		AccessScope: &ekstypes.AccessScope{Type: ekstypes.AccessScopeTypeNamespace, Namespaces: []string{"team-a"}},
	}); err != nil {
		t.Fatal(err)
	}
	nextSecond() // not the refused token again
	vc := tokenClient(t, cl, eksToken(t, viewer, "auth"))
	if _, err := vc.CoreV1().Pods("team-a").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("viewer listing pods in team-a: %v", err)
	}
	_, err = vc.CoreV1().Pods("other").List(ctx, metav1.ListOptions{})
	wantStatus(t, "viewer listing pods in other", err, apierrors.IsForbidden)
	_, err = vc.CoreV1().Pods("team-a").Create(ctx, newPod("team-a", "p", nil, bareCtr("", "")), metav1.CreateOptions{})
	wantStatus(t, "viewer creating a pod", err, apierrors.IsForbidden)
	_, err = vc.CoreV1().Secrets("team-a").List(ctx, metav1.ListOptions{})
	wantStatus(t, "viewer listing secrets", err, apierrors.IsForbidden)
	// (The namespace's default service account may take a moment.)
	if err := eventually(30*time.Second, func() error {
		_, err := admin.CoreV1().Pods("team-a").Create(ctx, newPod("team-a", "p", nil, bareCtr("", "")), metav1.CreateOptions{})
		return err
	}); err != nil {
		t.Errorf("creator creating a pod: %v", err)
	}

	// A token for another cluster is refused.
	_, err = tokenClient(t, cl, eksToken(t, viewer, "elsewhere")).CoreV1().Pods("team-a").List(ctx, metav1.ListOptions{})
	wantStatus(t, "token for another cluster", err, apierrors.IsUnauthorized)

	// An assumed role's session, through the role's entry.
	role, err := ic.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName:                 aws.String("ops"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String("auth"), PrincipalArn: role.Role.Arn}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AssociateAccessPolicy(ctx, &eks.AssociateAccessPolicyInput{
		ClusterName: aws.String("auth"), PrincipalArn: role.Role.Arn,
		PolicyArn:   aws.String("arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"),
		AccessScope: &ekstypes.AccessScope{Type: ekstypes.AccessScopeTypeCluster},
	}); err != nil {
		t.Fatal(err)
	}
	// Root may not assume roles, as on AWS: a user of the account does.
	if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("operator")}); err != nil {
		t.Fatal(err)
	}
	ok, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("operator")})
	if err != nil {
		t.Fatal(err)
	}
	operator := aws.Credentials{AccessKeyID: aws.ToString(ok.AccessKey.AccessKeyId), SecretAccessKey: aws.ToString(ok.AccessKey.SecretAccessKey)}
	assumed, err := sts.NewFromConfig(d.awsConfig(t, operator)).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: role.Role.Arn, RoleSessionName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	ops := aws.Credentials{AccessKeyID: aws.ToString(assumed.Credentials.AccessKeyId), SecretAccessKey: aws.ToString(assumed.Credentials.SecretAccessKey),
		SessionToken: aws.ToString(assumed.Credentials.SessionToken)}
	oc := tokenClient(t, cl, eksToken(t, ops, "auth"))
	if _, err := oc.CoreV1().ConfigMaps("other").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); err != nil {
		t.Errorf("role session with the edit policy creating a ConfigMap: %v", err)
	}
	_, err = oc.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "mine"}}, metav1.CreateOptions{})
	wantStatus(t, "role session with the edit policy creating a ClusterRole", err, apierrors.IsForbidden)

	// A deleted key stops working: a new token of it is refused.
	if _, err := ic.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("viewer"), AccessKeyId: k.AccessKey.AccessKeyId}); err != nil {
		t.Fatal(err)
	}
	nextSecond()
	_, err = tokenClient(t, cl, eksToken(t, viewer, "auth")).CoreV1().Pods("team-a").List(ctx, metav1.ListOptions{})
	wantStatus(t, "deleted key", err, apierrors.IsUnauthorized)

	// The AWS CLI's own tokens, when it is installed.
	if awsCLI, err := exec.LookPath("aws"); err == nil {
		cmd := exec.Command(awsCLI, "eks", "get-token", "--cluster-name", "auth", "--output", "json")
		cmd.Env = append(os.Environ(),
			"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(d.dataDir, "credentials"),
			"AWS_CONFIG_FILE="+filepath.Join(d.dataDir, "config"),
			"AWS_PROFILE=default")
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Logf("aws eks get-token: %s", ee.Stderr)
			}
			t.Fatal(err)
		}
		var cred struct {
			Status struct {
				Token string `json:"token"`
			} `json:"status"`
		}
		if err := json.Unmarshal(out, &cred); err != nil || !strings.HasPrefix(cred.Status.Token, "k8s-aws-v1.") {
			t.Fatalf("aws eks get-token printed %s (%v)", out, err)
		}
		if _, err := tokenClient(t, cl, cred.Status.Token).CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("the CLI's token: %v", err)
		}
	} else {
		t.Log("no aws CLI on PATH: its token not tried")
	}
}

// nextSecond waits for the next second. Tokens are signed to the second,
// and kube-apiserver caches a token's review (two minutes, as EKS's
// does, and a while for a refusal): a token of the same second as one
// used before is that token, answered from the cache.
func nextSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
}
