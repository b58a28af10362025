package eksapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/berthproject/berth/internal/addon"
	"github.com/berthproject/berth/internal/cluster"
	berthcreds "github.com/berthproject/berth/internal/credentials"
	"github.com/berthproject/berth/internal/eksapi"
	"github.com/berthproject/berth/internal/sigv4"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
	"github.com/berthproject/berth/internal/vpc"
)

// adFixture is the API with add-ons.
type adFixture struct {
	*fpFixture
	addons *addon.Service
}

func newAddonFixture(t *testing.T) *adFixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys := berthcreds.NewKeyring(st)
	key, err := keys.EnsureRoot(t.Context(), account)
	if err != nil {
		t.Fatal(err)
	}
	network := vpc.Default(account, "us-east-1")
	clusters, err := cluster.New(cluster.Config{Store: st, Network: network, Versions: versions.Builtin("1.37.2"), Account: account, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	addons, err := addon.New(addon.Config{Store: st, Clusters: clusters, Account: account, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := sigv4.New(sigv4.Config{Credentials: keys})
	if err != nil {
		t.Fatal(err)
	}
	// The hold is long enough that every test that describes an add-on
	// in a transitional state ends that state itself.
	h, err := eksapi.New(eksapi.Config{Clusters: clusters, Addons: addons, Auth: verifier, Changes: st, DescribeHold: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client := eks.New(eks.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(key.AccessKeyID, key.SecretAccessKey, ""),
	})
	base := &fixture{url: srv.URL, client: client, clusters: clusters, net: network, key: key}
	return &adFixture{fpFixture: &fpFixture{fixture: base}, addons: addons}
}

func TestAddonLifecycle(t *testing.T) {
	f := newAddonFixture(t)
	ctx := t.Context()
	f.activeCluster(t, "demo", f.subnets(2))

	in := &eks.CreateAddonInput{
		ClusterName:           aws.String("demo"),
		AddonName:             aws.String("aws-ebs-csi-driver"),
		ServiceAccountRoleArn: aws.String("arn:aws:iam::000000000000:role/ebs"),
		ResolveConflicts:      ekstypes.ResolveConflictsOverwrite,
		ConfigurationValues:   aws.String(`{"controller":{"replicaCount":2}}`),
		Tags:                  map[string]string{"owner": "me"},
		ClientRequestToken:    aws.String("t1"),
	}
	out, err := f.client.CreateAddon(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	a := out.Addon
	prefix := "arn:aws:eks:us-east-1:000000000000:addon/demo/aws-ebs-csi-driver/"
	if a.Status != ekstypes.AddonStatusCreating || *a.AddonName != "aws-ebs-csi-driver" || *a.ClusterName != "demo" || !strings.HasPrefix(*a.AddonArn, prefix) {
		t.Fatalf("created %+v", a)
	}
	if *a.AddonVersion != "v1.66.0-eksbuild.1" || *a.ServiceAccountRoleArn != "arn:aws:iam::000000000000:role/ebs" || *a.ConfigurationValues != `{"controller":{"replicaCount":2}}` ||
		a.Tags["owner"] != "me" || *a.Publisher != "eks" || *a.Owner != "aws" {
		t.Errorf("created %+v", a)
	}
	if a.CreatedAt == nil || time.Since(*a.CreatedAt) > time.Minute || a.ModifiedAt == nil || a.Health == nil || len(a.Health.Issues) != 0 {
		t.Errorf("createdAt %v modifiedAt %v health %+v", a.CreatedAt, a.ModifiedAt, a.Health)
	}

	// Same token: the same add-on. Another token: it exists.
	again, err := f.client.CreateAddon(ctx, in)
	if err != nil || *again.Addon.AddonArn != *a.AddonArn {
		t.Fatalf("idempotent create: %v", err)
	}
	in.ClientRequestToken = aws.String("t2")
	_, err = f.client.CreateAddon(ctx, in)
	var inUse *ekstypes.ResourceInUseException
	if !errors.As(err, &inUse) || *inUse.Message != "Addon already exists." || *inUse.ClusterName != "demo" || *inUse.AddonName != "aws-ebs-csi-driver" || httpStatus(err) != 409 {
		t.Fatalf("duplicate create: %v", err)
	}

	// The waiter returns on its first poll: DescribeAddon holds while the
	// add-on is CREATING, until the controller makes it ACTIVE.
	later(t, func() error { return f.addons.MarkActive(t.Context(), "demo", "aws-ebs-csi-driver") })
	start := time.Now()
	desc := &eks.DescribeAddonInput{ClusterName: aws.String("demo"), AddonName: aws.String("aws-ebs-csi-driver")}
	if err := eks.NewAddonActiveWaiter(f.client).Wait(ctx, desc, time.Minute); err != nil {
		t.Fatalf("wait addon-active: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the waiter took %v: it polled more than once", time.Since(start))
	}

	for _, n := range []string{"vpc-cni", "coredns"} {
		out, err := f.client.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String("demo"), AddonName: aws.String(n)})
		// berth keeps these as records only: ACTIVE at once.
		if err != nil || out.Addon.Status != ekstypes.AddonStatusActive {
			t.Fatalf("create %s: %v", n, err)
		}
	}
	var names []string
	pager := eks.NewListAddonsPaginator(f.client, &eks.ListAddonsInput{ClusterName: aws.String("demo"), MaxResults: aws.Int32(2)})
	pages := 0
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		names = append(names, page.Addons...)
	}
	if strings.Join(names, ",") != "aws-ebs-csi-driver,coredns,vpc-cni" || pages != 2 {
		t.Errorf("list = %v in %d pages", names, pages)
	}

	// An update, and DescribeUpdate and ListUpdates scoped to the add-on.
	upd, err := f.client.UpdateAddon(ctx, &eks.UpdateAddonInput{
		ClusterName: aws.String("demo"), AddonName: aws.String("aws-ebs-csi-driver"),
		AddonVersion: aws.String("v1.65.0-eksbuild.1"), ResolveConflicts: ekstypes.ResolveConflictsPreserve,
		ConfigurationValues: aws.String("node:\n  tolerateAllTaints: true\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	u := upd.Update
	if u.Type != ekstypes.UpdateTypeAddonUpdate || u.Status != ekstypes.UpdateStatusInProgress || len(u.Params) != 3 ||
		u.Params[0].Type != ekstypes.UpdateParamTypeAddonVersion || *u.Params[0].Value != "v1.65.0-eksbuild.1" {
		t.Errorf("update %+v", u)
	}
	du, err := f.client.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String("demo"), UpdateId: u.Id, AddonName: aws.String("aws-ebs-csi-driver")})
	if err != nil || *du.Update.Id != *u.Id || du.Update.Status != ekstypes.UpdateStatusInProgress {
		t.Errorf("describe update: %v %+v", err, du)
	}
	var nf *ekstypes.ResourceNotFoundException
	if _, err := f.client.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String("demo"), UpdateId: u.Id}); !errors.As(err, &nf) || *nf.Message != "No update found for ID: "+*u.Id {
		t.Errorf("describe add-on update as a cluster update: %v", err)
	}
	if _, err := f.client.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String("demo"), UpdateId: u.Id, AddonName: aws.String("kube-proxy")}); !errors.As(err, &nf) ||
		*nf.AddonName != "kube-proxy" || *nf.Message != "No addon: kube-proxy found in cluster: demo" {
		t.Errorf("describe update of a missing add-on: %v", err)
	}
	lu, err := f.client.ListUpdates(ctx, &eks.ListUpdatesInput{Name: aws.String("demo"), AddonName: aws.String("aws-ebs-csi-driver")})
	if err != nil || len(lu.UpdateIds) != 1 || lu.UpdateIds[0] != *u.Id {
		t.Errorf("list updates: %v %+v", err, lu)
	}
	if lu, err := f.client.ListUpdates(ctx, &eks.ListUpdatesInput{Name: aws.String("demo")}); err != nil || len(lu.UpdateIds) != 0 {
		t.Errorf("cluster updates: %v %+v", err, lu)
	}
	_, err = f.client.UpdateAddon(ctx, &eks.UpdateAddonInput{ClusterName: aws.String("demo"), AddonName: aws.String("aws-ebs-csi-driver")})
	if !errors.As(err, &inUse) || !strings.Contains(*inUse.Message, "currently in UPDATING state") {
		t.Errorf("second update: %v", err)
	}
	later(t, func() error { return f.addons.MarkActive(t.Context(), "demo", "aws-ebs-csi-driver") })
	d, err := f.client.DescribeAddon(ctx, desc)
	if err != nil || d.Addon.Status != ekstypes.AddonStatusActive || *d.Addon.AddonVersion != "v1.65.0-eksbuild.1" || *d.Addon.ConfigurationValues != "node:\n  tolerateAllTaints: true\n" {
		t.Fatalf("describe after update: %v %+v", err, d)
	}
	if du, err := f.client.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String("demo"), UpdateId: u.Id, AddonName: aws.String("aws-ebs-csi-driver")}); err != nil ||
		du.Update.Status != ekstypes.UpdateStatusSuccessful {
		t.Errorf("update after MarkActive: %v %+v", err, du)
	}

	// Tags on add-on ARNs.
	arn := a.AddonArn
	if _, err := f.client.TagResource(ctx, &eks.TagResourceInput{ResourceArn: arn, Tags: map[string]string{"x": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"owner"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := f.client.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil || len(tags.Tags) != 1 || tags.Tags["x"] != "1" {
		t.Errorf("tags %v %v", tags, err)
	}
	var br *ekstypes.BadRequestException
	if _, err := f.client.TagResource(ctx, &eks.TagResourceInput{ResourceArn: arn, Tags: map[string]string{"aws:a": "b"}}); !errors.As(err, &br) {
		t.Errorf("reserved tag: %v", err)
	}
	id := strings.TrimPrefix(*arn, prefix)
	var tnf *ekstypes.NotFoundException
	for _, bad := range []string{
		prefix + "00000000-0000-0000-0000-000000000000", // a deleted add-on of the same name
		"arn:aws:eks:us-east-1:000000000000:addon/demo/kube-proxy/" + id,
		"arn:aws:eks:us-east-1:000000000000:addon/demo/aws-ebs-csi-driver",
		"arn:aws:eks:us-east-1:000000000000:addon/nope/aws-ebs-csi-driver/" + id,
		"arn:aws:eks:us-east-1:000000000000:addon/demo//" + id,
	} {
		if _, err := f.client.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: aws.String(bad)}); !errors.As(err, &tnf) {
			t.Errorf("list tags of %s: %v", bad, err)
		}
		if _, err := f.client.TagResource(ctx, &eks.TagResourceInput{ResourceArn: aws.String(bad), Tags: map[string]string{"a": "b"}}); !errors.As(err, &tnf) {
			t.Errorf("tag %s: %v", bad, err)
		}
		if _, err := f.client.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: aws.String(bad), TagKeys: []string{"a"}}); !errors.As(err, &tnf) {
			t.Errorf("untag %s: %v", bad, err)
		}
	}
	// Cluster ARNs are still the cluster's.
	if _, err := f.client.TagResource(ctx, &eks.TagResourceInput{ResourceArn: aws.String("arn:aws:eks:us-east-1:000000000000:cluster/demo"), Tags: map[string]string{"c": "1"}}); err != nil {
		t.Errorf("tag the cluster: %v", err)
	}

	// A cluster with add-ons can be deleted: EKS deletes them with it.
	// (Deleting the add-ons first here, to test DeleteAddon.)
	del, err := f.client.DeleteAddon(ctx, &eks.DeleteAddonInput{ClusterName: aws.String("demo"), AddonName: aws.String("aws-ebs-csi-driver"), Preserve: true})
	if err != nil || del.Addon.Status != ekstypes.AddonStatusDeleting || *del.Addon.AddonArn != *arn {
		t.Fatalf("delete: %v", err)
	}
	if got, _, err := f.addons.Get(ctx, "demo", "aws-ebs-csi-driver"); err != nil || !got.Preserve {
		t.Errorf("preserve not recorded: %v %+v", err, got)
	}
	// The deleted waiter returns on its first poll too: the hold ends
	// when the record goes.
	later(t, func() error { return f.addons.FinishDelete(t.Context(), "demo", "aws-ebs-csi-driver") })
	start = time.Now()
	if err := eks.NewAddonDeletedWaiter(f.client).Wait(ctx, desc, time.Minute); err != nil {
		t.Fatalf("wait addon-deleted: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the waiter took %v: it polled more than once", time.Since(start))
	}
	// A records-only add-on goes at once.
	del, err = f.client.DeleteAddon(ctx, &eks.DeleteAddonInput{ClusterName: aws.String("demo"), AddonName: aws.String("coredns")})
	if err != nil || del.Addon.Status != ekstypes.AddonStatusDeleting {
		t.Fatalf("delete coredns: %v", err)
	}
	if _, err := f.client.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String("demo"), AddonName: aws.String("coredns")}); !errors.As(err, &nf) {
		t.Errorf("coredns after delete: %v", err)
	}
}

func TestAddonErrors(t *testing.T) {
	f := newAddonFixture(t)
	ctx := t.Context()
	f.activeCluster(t, "demo", f.subnets(2))
	create := func(name string, mod func(*eks.CreateAddonInput)) error {
		in := &eks.CreateAddonInput{ClusterName: aws.String("demo"), AddonName: aws.String(name)}
		if mod != nil {
			mod(in)
		}
		_, err := f.client.CreateAddon(ctx, in)
		return err
	}
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		msg    string
	}{
		{"unknown add-on", create("aws-load-balancer-controller", nil), 400, "InvalidParameterException",
			"Addon aws-load-balancer-controller specified is not supported in 1.37 kubernetes version"},
		{"unknown version", create("vpc-cni", func(in *eks.CreateAddonInput) { in.AddonVersion = aws.String("v9.9.9") }), 400, "InvalidParameterException", "Addon version specified is not supported"},
		{"configuration", create("aws-efs-csi-driver", func(in *eks.CreateAddonInput) { in.ConfigurationValues = aws.String(`{"podAnnotations":{}}`) }), 400, "InvalidParameterException",
			"ConfigurationValue provided in request is not supported: Json schema validation failed with error: [$.podAnnotations: is not defined in the schema and the schema does not allow additional properties]"},
		{"role", create("aws-efs-csi-driver", func(in *eks.CreateAddonInput) { in.ServiceAccountRoleArn = aws.String("efs") }), 400, "InvalidParameterException", "is not a valid IAM role ARN"},
		{"preserve on create", create("aws-efs-csi-driver", func(in *eks.CreateAddonInput) { in.ResolveConflicts = ekstypes.ResolveConflictsPreserve }), 400, "InvalidParameterException",
			"Preserve is not a supported value of resolveConflicts for CreateAddon"},
		{"pod identity", create("aws-efs-csi-driver", func(in *eks.CreateAddonInput) {
			in.PodIdentityAssociations = []ekstypes.AddonPodIdentityAssociations{{ServiceAccount: aws.String("efs-csi-controller-sa"), RoleArn: aws.String("arn:aws:iam::000000000000:role/efs")}}
		}), 400, "InvalidParameterException", "berth does not implement podIdentityAssociations for add-ons"},
		{"namespace", create("aws-efs-csi-driver", func(in *eks.CreateAddonInput) {
			in.NamespaceConfig = &ekstypes.AddonNamespaceConfigRequest{Namespace: aws.String("storage")}
		}), 400, "InvalidParameterException", `namespaceConfig "storage" is not supported`},
		{"missing cluster", func() error {
			_, err := f.client.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String("nope"), AddonName: aws.String("vpc-cni")})
			return err
		}(), 404, "ResourceNotFoundException", "No cluster found for name: nope."},
		{"describe missing", func() error {
			_, err := f.client.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String("demo"), AddonName: aws.String("vpc-cni")})
			return err
		}(), 404, "ResourceNotFoundException", "No addon: vpc-cni found in cluster: demo"},
		{"update missing", func() error {
			_, err := f.client.UpdateAddon(ctx, &eks.UpdateAddonInput{ClusterName: aws.String("demo"), AddonName: aws.String("vpc-cni")})
			return err
		}(), 404, "ResourceNotFoundException", "No addon: vpc-cni found in cluster: demo"},
		{"delete missing", func() error {
			_, err := f.client.DeleteAddon(ctx, &eks.DeleteAddonInput{ClusterName: aws.String("demo"), AddonName: aws.String("vpc-cni")})
			return err
		}(), 404, "ResourceNotFoundException", "No addon: vpc-cni found in cluster: demo"},
		{"list of a missing cluster", func() error {
			_, err := f.client.ListAddons(ctx, &eks.ListAddonsInput{ClusterName: aws.String("nope")})
			return err
		}(), 404, "ResourceNotFoundException", "No cluster found for name: nope."},
		{"bad page token", func() error {
			_, err := f.client.ListAddons(ctx, &eks.ListAddonsInput{ClusterName: aws.String("demo"), NextToken: aws.String("garbage!")})
			return err
		}(), 400, "InvalidParameterException", "The pagination token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if httpStatus(tc.err) != tc.status || apiCode(tc.err) != tc.code || !strings.Contains(tc.err.Error(), tc.msg) {
				t.Fatalf("got %v (status %d), want %d %s %q", tc.err, httpStatus(tc.err), tc.status, tc.code, tc.msg)
			}
		})
	}
	// The exception shapes carry the names.
	var ip *ekstypes.InvalidParameterException
	if err := create("aws-efs-csi-driver", func(in *eks.CreateAddonInput) { in.AddonVersion = aws.String("v0") }); !errors.As(err, &ip) ||
		*ip.ClusterName != "demo" || *ip.AddonName != "aws-efs-csi-driver" {
		t.Errorf("fields: %v", err)
	}
	var nf *ekstypes.ResourceNotFoundException
	if _, err := f.client.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String("demo"), AddonName: aws.String("coredns")}); !errors.As(err, &nf) ||
		*nf.ClusterName != "demo" || *nf.AddonName != "coredns" {
		t.Errorf("not found fields: %v", err)
	}

	// The wire: a bad preserve flag, and add-on routes of a handler
	// without add-ons.
	status, code, body := f.signed(t, http.MethodDelete, "/clusters/demo/addons/vpc-cni?preserve=maybe", nil)
	if status != 400 || code != "InvalidParameterException" || !strings.Contains(body["message"].(string), "preserve must be true or false") {
		t.Errorf("bad preserve: %d %s %v", status, code, body)
	}
	status, code, body = f.signed(t, http.MethodPost, "/clusters/demo/addons", []byte(`{"addonName": 5}`))
	if status != 400 || code != "BadRequestException" {
		t.Errorf("bad body: %d %s %v", status, code, body)
	}
	plain := newFixture(t)
	status, code, _ = plain.signed(t, http.MethodGet, "/addons/supported-versions", nil)
	if status != 404 || code != "UnknownOperationException" {
		t.Errorf("without add-ons: %d %s", status, code)
	}
}

func TestDescribeAddonVersionsAndConfiguration(t *testing.T) {
	f := newAddonFixture(t)
	ctx := t.Context()
	out, err := f.client.DescribeAddonVersions(ctx, &eks.DescribeAddonVersionsInput{KubernetesVersion: aws.String("1.37"), Types: []string{"storage"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Addons) != 3 || *out.Addons[0].AddonName != "aws-ebs-csi-driver" || *out.Addons[2].AddonName != "aws-fsx-csi-driver" {
		t.Fatalf("storage add-ons %+v", out.Addons)
	}
	ebs := out.Addons[0]
	if *ebs.Type != "storage" || *ebs.Owner != "aws" || *ebs.Publisher != "eks" || *ebs.DefaultNamespace != "kube-system" || len(ebs.AddonVersions) == 0 {
		t.Errorf("ebs %+v", ebs)
	}
	v := ebs.AddonVersions[0]
	if *v.AddonVersion != "v1.66.0-eksbuild.1" || !v.RequiresIamPermissions || v.RequiresConfiguration || len(v.Architecture) != 2 ||
		len(v.Compatibilities) != 1 || *v.Compatibilities[0].ClusterVersion != "1.37" || !v.Compatibilities[0].DefaultVersion || v.Compatibilities[0].PlatformVersions[0] != "*" {
		t.Errorf("ebs newest version %+v", v)
	}
	// FSx has one version for 1.37.
	if len(out.Addons[2].AddonVersions) != 1 {
		t.Errorf("fsx versions %+v", out.Addons[2].AddonVersions)
	}

	// All of them, two per page, through the paginator.
	var names []string
	pager := eks.NewDescribeAddonVersionsPaginator(f.client, &eks.DescribeAddonVersionsInput{MaxResults: aws.Int32(2)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Addons {
			names = append(names, *a.AddonName)
		}
	}
	if strings.Join(names, ",") != "aws-ebs-csi-driver,aws-efs-csi-driver,aws-fsx-csi-driver,coredns,eks-pod-identity-agent,kube-proxy,vpc-cni" {
		t.Errorf("all add-ons %v", names)
	}
	for _, q := range []*eks.DescribeAddonVersionsInput{
		{AddonName: aws.String("nope")},
		{KubernetesVersion: aws.String("1.20")},
		{Owners: []string{"aws-marketplace"}},
	} {
		if out, err := f.client.DescribeAddonVersions(ctx, q); err != nil || len(out.Addons) != 0 {
			t.Errorf("%+v: %v %+v", q, err, out)
		}
	}
	if out, err := f.client.DescribeAddonVersions(ctx, &eks.DescribeAddonVersionsInput{Publishers: []string{"eks"}, Types: []string{"security"}}); err != nil ||
		len(out.Addons) != 1 || *out.Addons[0].AddonName != "eks-pod-identity-agent" {
		t.Errorf("security: %v %+v", err, out)
	}

	c, err := f.client.DescribeAddonConfiguration(ctx, &eks.DescribeAddonConfigurationInput{AddonName: aws.String("aws-efs-csi-driver"), AddonVersion: aws.String("v3.4.2-eksbuild.1")})
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal([]byte(*c.ConfigurationSchema), &schema); err != nil || schema["$schema"] != "https://json-schema.org/draft/2019-09/schema" {
		t.Errorf("schema %v: %v", *c.ConfigurationSchema, err)
	}
	if *c.AddonName != "aws-efs-csi-driver" || *c.AddonVersion != "v3.4.2-eksbuild.1" || len(c.PodIdentityConfiguration) != 1 ||
		*c.PodIdentityConfiguration[0].ServiceAccount != "efs-csi-controller-sa" || c.PodIdentityConfiguration[0].RecommendedManagedPolicies[0] != "arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy" {
		t.Errorf("configuration %+v", c)
	}
	_, err = f.client.DescribeAddonConfiguration(ctx, &eks.DescribeAddonConfigurationInput{AddonName: aws.String("aws-efs-csi-driver"), AddonVersion: aws.String("v0")})
	var ip *ekstypes.InvalidParameterException
	if !errors.As(err, &ip) || *ip.Message != "Addon version specified is not supported" || *ip.AddonName != "aws-efs-csi-driver" {
		t.Errorf("unknown version: %v", err)
	}
}
