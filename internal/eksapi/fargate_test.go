package eksapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/berthproject/berth/internal/cluster"
	berthcreds "github.com/berthproject/berth/internal/credentials"
	"github.com/berthproject/berth/internal/eksapi"
	"github.com/berthproject/berth/internal/fargate"
	"github.com/berthproject/berth/internal/sigv4"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
	"github.com/berthproject/berth/internal/vpc"
)

// fpFixture is the API with Fargate profiles: the cluster service knows
// the profiles through its hook, as the daemon wires it.
type fpFixture struct {
	*fixture
	profiles *fargate.Service
}

func newFargateFixture(t *testing.T) *fpFixture {
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
	clusters, err := cluster.New(cluster.Config{
		Store: st, Network: network, Versions: versions.Builtin("1.37.2"), Account: account, Region: "us-east-1",
		FargateProfiles: fargate.AttachedIn(st),
	})
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := fargate.New(fargate.Config{Store: st, Clusters: clusters, Network: network, Account: account, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := sigv4.New(sigv4.Config{Credentials: keys})
	if err != nil {
		t.Fatal(err)
	}
	// The hold is long enough that every test that describes a profile
	// in a transitional state ends that state itself.
	h, err := eksapi.New(eksapi.Config{Clusters: clusters, Fargate: profiles, Auth: verifier, Changes: st, DescribeHold: 5 * time.Second})
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
	return &fpFixture{fixture: &fixture{url: srv.URL, client: client, clusters: clusters, net: network, key: key}, profiles: profiles}
}

// privateSubnets returns private subnets in the first n EKS-capable zones.
func (f *fixture) privateSubnets(n int) []string {
	var out []string
	for _, s := range f.net.Subnets {
		if !s.Public && s.EKSCapable && len(out) < n {
			out = append(out, s.ID)
		}
	}
	return out
}

// activeCluster creates a cluster with the given subnets and makes it
// ACTIVE, as the controller would.
func (f *fpFixture) activeCluster(t *testing.T, name string, subnets []string) {
	t.Helper()
	in := f.createInput(name)
	in.ResourcesVpcConfig.SubnetIds = subnets
	if _, err := f.client.CreateCluster(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if _, err := f.clusters.Mutate(t.Context(), name, func(c *cluster.Cluster) ([]store.Op, error) {
		c.Status = cluster.StatusActive
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func profileInput(clusterName, name string) *eks.CreateFargateProfileInput {
	return &eks.CreateFargateProfileInput{
		ClusterName:         aws.String(clusterName),
		FargateProfileName:  aws.String(name),
		PodExecutionRoleArn: aws.String("arn:aws:iam::000000000000:role/pods"),
		Selectors:           []ekstypes.FargateProfileSelector{{Namespace: aws.String("default")}},
	}
}

// setProfileStatus does what the Fargate controller does.
func (f *fpFixture) setProfileStatus(t *testing.T, clusterName, name, status string) error {
	_, err := f.profiles.Mutate(t.Context(), clusterName, name, func(p *fargate.Profile) error {
		p.Status = status
		return nil
	})
	return err
}

// httpStatus is the HTTP status code of an API error.
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// signed sends a request signed with the fixture's key and returns the
// status, the error type header and the decoded JSON body.
func (f *fixture) signed(t *testing.T, method, path string, body []byte) (int, string, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: f.key.AccessKeyID, SecretAccessKey: f.key.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), "eks", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, path, raw, err)
	}
	return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), out
}

func TestFargateProfileLifecycle(t *testing.T) {
	f := newFargateFixture(t)
	ctx := t.Context()
	f.activeCluster(t, "demo", append(f.subnets(2), f.privateSubnets(2)...))

	in := profileInput("demo", "fp1")
	in.Selectors = []ekstypes.FargateProfileSelector{
		{Namespace: aws.String("default")},
		{Namespace: aws.String("prod-*"), Labels: map[string]string{"app": "web?"}},
	}
	in.Tags = map[string]string{"owner": "me"}
	in.ClientRequestToken = aws.String("t1")
	out, err := f.client.CreateFargateProfile(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	p := out.FargateProfile
	prefix := "arn:aws:eks:us-east-1:000000000000:fargateprofile/demo/fp1/"
	if p.Status != ekstypes.FargateProfileStatusCreating || *p.ClusterName != "demo" || *p.FargateProfileName != "fp1" || !strings.HasPrefix(*p.FargateProfileArn, prefix) {
		t.Fatalf("created %+v", p)
	}
	if *p.PodExecutionRoleArn != "arn:aws:iam::000000000000:role/pods" || !slices.Equal(p.Subnets, f.privateSubnets(2)) || p.Tags["owner"] != "me" {
		t.Errorf("role %s subnets %v tags %v", *p.PodExecutionRoleArn, p.Subnets, p.Tags)
	}
	if len(p.Selectors) != 2 || *p.Selectors[0].Namespace != "default" || len(p.Selectors[0].Labels) != 0 ||
		*p.Selectors[1].Namespace != "prod-*" || p.Selectors[1].Labels["app"] != "web?" {
		t.Errorf("selectors %+v", p.Selectors)
	}
	if p.CreatedAt == nil || time.Since(*p.CreatedAt) > time.Minute || p.Health == nil || len(p.Health.Issues) != 0 {
		t.Errorf("createdAt %v health %+v", p.CreatedAt, p.Health)
	}

	// Same token: the same profile. Another token: in use.
	again, err := f.client.CreateFargateProfile(ctx, in)
	if err != nil || *again.FargateProfile.FargateProfileArn != *p.FargateProfileArn {
		t.Fatalf("idempotent create: %v", err)
	}
	in.ClientRequestToken = aws.String("t2")
	_, err = f.client.CreateFargateProfile(ctx, in)
	var inUse *ekstypes.ResourceInUseException
	if !errors.As(err, &inUse) || *inUse.Message != "A Fargate Profile already exists with this name in this cluster." || *inUse.ClusterName != "demo" || httpStatus(err) != 409 {
		t.Fatalf("duplicate create: %v", err)
	}
	// One profile is created at a time.
	_, err = f.client.CreateFargateProfile(ctx, profileInput("demo", "fp2"))
	if !errors.As(err, &inUse) || !strings.Contains(*inUse.Message, "currently has Fargate profile fp1 in status CREATING") {
		t.Fatalf("create while another is CREATING: %v", err)
	}

	// The waiter returns on its first poll: DescribeFargateProfile holds
	// while the profile is CREATING.
	later(t, func() error { return f.setProfileStatus(t, "demo", "fp1", fargate.StatusActive) })
	start := time.Now()
	if err := eks.NewFargateProfileActiveWaiter(f.client).Wait(ctx, &eks.DescribeFargateProfileInput{ClusterName: aws.String("demo"), FargateProfileName: aws.String("fp1")}, time.Minute); err != nil {
		t.Fatalf("wait fargate-profile-active: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the waiter took %v: it polled more than once", time.Since(start))
	}

	for _, n := range []string{"fp3", "fp2"} {
		if _, err := f.client.CreateFargateProfile(ctx, profileInput("demo", n)); err != nil {
			t.Fatal(err)
		}
		if err := f.setProfileStatus(t, "demo", n, fargate.StatusActive); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	pager := eks.NewListFargateProfilesPaginator(f.client, &eks.ListFargateProfilesInput{ClusterName: aws.String("demo"), MaxResults: aws.Int32(2)})
	pages := 0
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		names = append(names, page.FargateProfileNames...)
	}
	if strings.Join(names, ",") != "fp1,fp2,fp3" || pages != 2 {
		t.Errorf("list = %v in %d pages", names, pages)
	}

	// Tags on Fargate profile ARNs.
	arn := p.FargateProfileArn
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
	desc, err := f.client.DescribeFargateProfile(ctx, &eks.DescribeFargateProfileInput{ClusterName: aws.String("demo"), FargateProfileName: aws.String("fp1")})
	if err != nil || desc.FargateProfile.Tags["x"] != "1" || desc.FargateProfile.Status != ekstypes.FargateProfileStatusActive {
		t.Errorf("describe after tagging: %v %+v", err, desc)
	}
	var br *ekstypes.BadRequestException
	if _, err := f.client.TagResource(ctx, &eks.TagResourceInput{ResourceArn: arn, Tags: map[string]string{"aws:a": "b"}}); !errors.As(err, &br) {
		t.Errorf("reserved tag: %v", err)
	}
	id := strings.TrimPrefix(*arn, prefix)
	var tnf *ekstypes.NotFoundException
	for _, bad := range []string{
		prefix + "00000000-0000-0000-0000-000000000000", // a deleted profile of the same name
		"arn:aws:eks:us-east-1:000000000000:fargateprofile/demo/nope/" + id,
		"arn:aws:eks:us-east-1:000000000000:fargateprofile/demo/fp1",
		"arn:aws:eks:us-east-1:000000000000:fargateprofile/nope/fp1/" + id,
		"arn:aws:eks:us-east-1:000000000000:fargateprofile/demo//" + id,
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

	// A cluster with Fargate profiles cannot be deleted.
	_, err = f.client.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String("demo")})
	if !errors.As(err, &inUse) || *inUse.Message != "Cluster has Fargate Profiles in ACTIVE/CREATING state" || *inUse.ClusterName != "demo" {
		t.Errorf("delete cluster with profiles: %v", err)
	}

	del, err := f.client.DeleteFargateProfile(ctx, &eks.DeleteFargateProfileInput{ClusterName: aws.String("demo"), FargateProfileName: aws.String("fp1")})
	if err != nil || del.FargateProfile.Status != ekstypes.FargateProfileStatusDeleting || *del.FargateProfile.FargateProfileArn != *arn {
		t.Fatalf("delete: %v", err)
	}
	if again, err := f.client.DeleteFargateProfile(ctx, &eks.DeleteFargateProfileInput{ClusterName: aws.String("demo"), FargateProfileName: aws.String("fp1")}); err != nil ||
		again.FargateProfile.Status != ekstypes.FargateProfileStatusDeleting {
		t.Errorf("second delete: %v", err)
	}
	// One profile is deleted at a time.
	_, err = f.client.DeleteFargateProfile(ctx, &eks.DeleteFargateProfileInput{ClusterName: aws.String("demo"), FargateProfileName: aws.String("fp2")})
	if !errors.As(err, &inUse) || *inUse.Message != "Cannot Delete Fargate Profile fp2 because cluster demo currently has Fargate profile fp1 in status DELETING" ||
		*inUse.ClusterName != "demo" || httpStatus(err) != 409 {
		t.Errorf("delete while another is DELETING: %v", err)
	}
	// The deleted waiter returns on its first poll too: the hold ends
	// when the record goes.
	later(t, func() error { return f.profiles.Remove(t.Context(), "demo", "fp1") })
	start = time.Now()
	if err := eks.NewFargateProfileDeletedWaiter(f.client).Wait(ctx, &eks.DescribeFargateProfileInput{ClusterName: aws.String("demo"), FargateProfileName: aws.String("fp1")}, time.Minute); err != nil {
		t.Fatalf("wait fargate-profile-deleted: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the waiter took %v: it polled more than once", time.Since(start))
	}
	if _, err := f.client.DeleteFargateProfile(ctx, &eks.DeleteFargateProfileInput{ClusterName: aws.String("demo"), FargateProfileName: aws.String("fp2")}); err != nil {
		t.Errorf("delete once the other is gone: %v", err)
	}
}

func TestFargateProfileErrors(t *testing.T) {
	f := newFargateFixture(t)
	ctx := t.Context()
	f.activeCluster(t, "c1", append(f.subnets(2), f.privateSubnets(2)...))
	f.activeCluster(t, "pub", f.subnets(2))
	if _, err := f.client.CreateCluster(ctx, f.createInput("creating")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.CreateFargateProfile(ctx, profileInput("c1", "fp")); err != nil {
		t.Fatal(err)
	}
	if err := f.setProfileStatus(t, "c1", "fp", fargate.StatusActive); err != nil {
		t.Fatal(err)
	}
	create := func(mutate func(*eks.CreateFargateProfileInput)) func() error {
		return func() error {
			in := profileInput("c1", "fp2")
			mutate(in)
			_, err := f.client.CreateFargateProfile(ctx, in)
			return err
		}
	}
	for _, tc := range []struct {
		name   string
		call   func() error
		code   string
		status int
		msg    string
	}{
		{"create in a missing cluster", create(func(in *eks.CreateFargateProfileInput) { in.ClusterName = aws.String("nope") }),
			"ResourceNotFoundException", 404, "No cluster found for name: nope."},
		{"create in a creating cluster", create(func(in *eks.CreateFargateProfileInput) { in.ClusterName = aws.String("creating") }),
			"InvalidRequestException", 400, "Cluster 'creating' is not in ACTIVE status"},
		{"bad name", create(func(in *eks.CreateFargateProfileInput) { in.FargateProfileName = aws.String("bad.name") }),
			"InvalidParameterException", 400, "bad.name"},
		{"role not an arn", create(func(in *eks.CreateFargateProfileInput) { in.PodExecutionRoleArn = aws.String("pods") }),
			"InvalidParameterException", 400, "not a valid IAM role ARN"},
		{"public subnet", create(func(in *eks.CreateFargateProfileInput) { in.Subnets = f.subnets(1) }),
			"InvalidParameterException", 400, "provided in Fargate Profile is not a private subnet"},
		{"unknown subnet", create(func(in *eks.CreateFargateProfileInput) { in.Subnets = []string{"subnet-nope"} }),
			"InvalidParameterException", 400, "The subnet ID 'subnet-nope' does not exist"},
		{"cluster without private subnets", create(func(in *eks.CreateFargateProfileInput) { in.ClusterName = aws.String("pub") }),
			"InvalidParameterException", 400, "no private subnets"},
		{"no selectors", create(func(in *eks.CreateFargateProfileInput) { in.Selectors = nil }),
			"InvalidParameterException", 400, "Fargate Profile requires at least one selector."},
		{"selector without namespace", create(func(in *eks.CreateFargateProfileInput) {
			in.Selectors = []ekstypes.FargateProfileSelector{{Labels: map[string]string{"a": "b"}}}
		}), "InvalidParameterException", 400, "Fargate Profile must have at least one selector with at least one namespace value."},
		{"six labels", create(func(in *eks.CreateFargateProfileInput) {
			in.Selectors = []ekstypes.FargateProfileSelector{{Namespace: aws.String("default"), Labels: map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6"}}}
		}), "InvalidParameterException", 400, "Request contains Selector with more than 5 Label pairs"},
		{"reserved tag", create(func(in *eks.CreateFargateProfileInput) { in.Tags = map[string]string{"aws:x": "y"} }),
			"BadRequestException", 400, "reserved"},
		{"malformed body", func() error {
			_, err := f.client.CreateFargateProfile(ctx, profileInput("c1", "fp2"), func(o *eks.Options) {
				o.APIOptions = append(o.APIOptions, replaceBody([]byte(`{"fargateProfileName":"fp2","selectors":{"namespace":"default"}}`)))
			})
			return err
		}, "BadRequestException", 400, "selectors"},
		{"not json", func() error {
			_, err := f.client.CreateFargateProfile(ctx, profileInput("c1", "fp2"), func(o *eks.Options) {
				o.APIOptions = append(o.APIOptions, replaceBody([]byte(`{nope`)))
			})
			return err
		}, "BadRequestException", 400, "Could not parse request body"},
		{"describe a missing profile", func() error {
			_, err := f.client.DescribeFargateProfile(ctx, &eks.DescribeFargateProfileInput{ClusterName: aws.String("c1"), FargateProfileName: aws.String("nope")})
			return err
		}, "ResourceNotFoundException", 404, "No Fargate Profile found with name: nope."},
		{"describe in a missing cluster", func() error {
			_, err := f.client.DescribeFargateProfile(ctx, &eks.DescribeFargateProfileInput{ClusterName: aws.String("nope"), FargateProfileName: aws.String("fp")})
			return err
		}, "ResourceNotFoundException", 404, "No cluster found for name: nope."},
		{"delete a missing profile", func() error {
			_, err := f.client.DeleteFargateProfile(ctx, &eks.DeleteFargateProfileInput{ClusterName: aws.String("c1"), FargateProfileName: aws.String("nope")})
			return err
		}, "ResourceNotFoundException", 404, "No Fargate Profile found with name: nope."},
		{"list a missing cluster", func() error {
			_, err := f.client.ListFargateProfiles(ctx, &eks.ListFargateProfilesInput{ClusterName: aws.String("nope")})
			return err
		}, "ResourceNotFoundException", 404, "No cluster found"},
		{"list with a bad token", func() error {
			_, err := f.client.ListFargateProfiles(ctx, &eks.ListFargateProfilesInput{ClusterName: aws.String("c1"), NextToken: aws.String("garbage!")})
			return err
		}, "InvalidParameterException", 400, "pagination token"},
		{"list with too many results", func() error {
			_, err := f.client.ListFargateProfiles(ctx, &eks.ListFargateProfilesInput{ClusterName: aws.String("c1"), MaxResults: aws.Int32(101)})
			return err
		}, "InvalidParameterException", 400, "between 1 and 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if apiCode(err) != tc.code || httpStatus(err) != tc.status || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v (HTTP %d), want %s (HTTP %d) mentioning %q", err, httpStatus(err), tc.code, tc.status, tc.msg)
			}
		})
	}
	// The failed creates stored nothing.
	out, err := f.client.ListFargateProfiles(ctx, &eks.ListFargateProfilesInput{ClusterName: aws.String("c1")})
	if err != nil || !slices.Equal(out.FargateProfileNames, []string{"fp"}) {
		t.Errorf("profiles after failures: %v %v", out, err)
	}
	// The error shapes name the profile where they have a member for it.
	_, err = f.client.CreateFargateProfile(ctx, profileInput("c1", "-bad"))
	var ip *ekstypes.InvalidParameterException
	if !errors.As(err, &ip) || ip.ClusterName == nil || *ip.ClusterName != "c1" || ip.FargateProfileName == nil || *ip.FargateProfileName != "-bad" {
		t.Errorf("invalid parameter fields: %v", err)
	}
	_, err = f.client.DescribeFargateProfile(ctx, &eks.DescribeFargateProfileInput{ClusterName: aws.String("c1"), FargateProfileName: aws.String("nope")})
	var nf *ekstypes.ResourceNotFoundException
	if !errors.As(err, &nf) || nf.ClusterName == nil || *nf.ClusterName != "c1" || nf.FargateProfileName == nil || *nf.FargateProfileName != "nope" {
		t.Errorf("not found fields: %v", err)
	}
}

// The JSON on the wire, as the EKS model spells it.
func TestFargateProfileWire(t *testing.T) {
	f := newFargateFixture(t)
	f.activeCluster(t, "c1", append(f.subnets(2), f.privateSubnets(2)...))
	status, errType, body := f.signed(t, http.MethodPost, "/clusters/c1/fargate-profiles",
		[]byte(`{"fargateProfileName":"fp","podExecutionRoleArn":"arn:aws:iam::000000000000:role/pods","selectors":[{"namespace":"default"}]}`))
	if status != 200 || errType != "" {
		t.Fatalf("create: %d %s %v", status, errType, body)
	}
	p, _ := body["fargateProfile"].(map[string]any)
	want := []string{"clusterName", "createdAt", "fargateProfileArn", "fargateProfileName", "health", "podExecutionRoleArn", "selectors", "status", "subnets", "tags"}
	var got []string
	for k := range p {
		got = append(got, k)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("members %v, want %v", got, want)
	}
	if _, ok := p["createdAt"].(float64); !ok {
		t.Errorf("createdAt %v is not epoch seconds", p["createdAt"])
	}
	raw, _ := json.Marshal(map[string]any{"selectors": p["selectors"], "tags": p["tags"], "health": p["health"]})
	if string(raw) != `{"health":{"issues":[]},"selectors":[{"labels":{},"namespace":"default"}],"tags":{}}` {
		t.Errorf("selectors, tags and health: %s", raw)
	}

	status, _, body = f.signed(t, http.MethodGet, "/clusters/c1/fargate-profiles?maxResults=1", nil)
	if status != 200 || len(body) != 1 || body["fargateProfileNames"] == nil {
		t.Errorf("list: %d %v", status, body)
	}
	for _, q := range []string{"maxResults=0", "maxResults=x", "maxResults=-1"} {
		status, errType, body = f.signed(t, http.MethodGet, "/clusters/c1/fargate-profiles?"+q, nil)
		if status != 400 || errType != "InvalidParameterException" || body["message"] == nil {
			t.Errorf("list with %s: %d %s %v", q, status, errType, body)
		}
	}
	// A profile name with an escaped slash names no profile.
	status, errType, _ = f.signed(t, http.MethodGet, "/clusters/c1/fargate-profiles/a%2Fb", nil)
	if status != 404 || errType != "ResourceNotFoundException" {
		t.Errorf("describe a/b: %d %s", status, errType)
	}
	status, errType, _ = f.signed(t, http.MethodPut, "/clusters/c1/fargate-profiles/fp", nil)
	if status != 404 || errType != "UnknownOperationException" {
		t.Errorf("PUT: %d %s", status, errType)
	}
}

// A handler without the Fargate service leaves its operations
// unimplemented.
func TestFargateUnconfigured(t *testing.T) {
	f := newFixture(t)
	_, err := f.client.ListFargateProfiles(t.Context(), &eks.ListFargateProfilesInput{ClusterName: aws.String("c1")})
	if apiCode(err) != "UnknownOperationException" {
		t.Errorf("list Fargate profiles: %v", err)
	}
	_, err = f.client.ListTagsForResource(t.Context(), &eks.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:eks:us-east-1:000000000000:fargateprofile/c1/fp/x")})
	var nf *ekstypes.NotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("tags of a Fargate profile ARN: %v", err)
	}
}
