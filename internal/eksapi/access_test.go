package eksapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/smithy-go"

	"github.com/berthproject/berth/internal/access"
	"github.com/berthproject/berth/internal/cluster"
	berthcreds "github.com/berthproject/berth/internal/credentials"
	"github.com/berthproject/berth/internal/eksapi"
	"github.com/berthproject/berth/internal/sigv4"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
	"github.com/berthproject/berth/internal/vpc"
)

// aeFixture is the API with access entries: the cluster service keeps
// its clusters' entries through its hook, as the daemon wires it.
type aeFixture struct {
	*fixture
	entries *access.Service
}

func newAccessFixture(t *testing.T) *aeFixture {
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
		AccessEntries: access.RecordsIn(st),
	})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := access.New(access.Config{Store: st, Clusters: clusters})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := sigv4.New(sigv4.Config{Credentials: keys})
	if err != nil {
		t.Fatal(err)
	}
	h, err := eksapi.New(eksapi.Config{Clusters: clusters, Access: entries, Auth: verifier, Changes: st})
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
	return &aeFixture{fixture: &fixture{url: srv.URL, client: client, clusters: clusters, net: network, key: key}, entries: entries}
}

const (
	rootARN  = "arn:aws:iam::000000000000:root"
	devRole  = "arn:aws:iam::000000000000:role/teams/dev/developer"
	viewARN  = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
	editARN  = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"
	adminARN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
)

func TestAccessEntryLifecycle(t *testing.T) {
	f := newAccessFixture(t)
	ctx := t.Context()
	if _, err := f.client.CreateCluster(ctx, f.createInput("demo")); err != nil {
		t.Fatal(err)
	}

	// The creator (the root credential that signed CreateCluster) has an
	// entry with AmazonEKSClusterAdminPolicy at cluster scope.
	list, err := f.client.ListAccessEntries(ctx, &eks.ListAccessEntriesInput{ClusterName: aws.String("demo")})
	if err != nil || !slices.Equal(list.AccessEntries, []string{rootARN}) || list.NextToken != nil {
		t.Fatalf("entries of a new cluster: %+v %v", list, err)
	}
	root, err := f.client.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: aws.String("demo"), PrincipalArn: aws.String(rootARN)})
	if err != nil {
		t.Fatal(err)
	}
	if e := root.AccessEntry; *e.ClusterName != "demo" || *e.PrincipalArn != rootARN || *e.Type != "STANDARD" || *e.Username != rootARN ||
		!strings.HasPrefix(*e.AccessEntryArn, "arn:aws:eks:us-east-1:000000000000:access-entry/demo/root/000000000000/root/") ||
		e.CreatedAt == nil || time.Since(*e.CreatedAt) > time.Minute || e.KubernetesGroups == nil || e.Tags == nil {
		t.Errorf("creator entry %+v", e)
	}
	pols, err := f.client.ListAssociatedAccessPolicies(ctx, &eks.ListAssociatedAccessPoliciesInput{ClusterName: aws.String("demo"), PrincipalArn: aws.String(rootARN)})
	if err != nil || len(pols.AssociatedAccessPolicies) != 1 || *pols.AssociatedAccessPolicies[0].PolicyArn != adminARN ||
		pols.AssociatedAccessPolicies[0].AccessScope.Type != ekstypes.AccessScopeTypeCluster || *pols.ClusterName != "demo" || *pols.PrincipalArn != rootARN {
		t.Fatalf("creator policies %+v %v", pols, err)
	}

	// A role with a path: its ARN travels URL-encoded in the path.
	created, err := f.client.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{
		ClusterName: aws.String("demo"), PrincipalArn: aws.String(devRole),
		KubernetesGroups: []string{"developers"}, Tags: map[string]string{"team": "dev"}, ClientRequestToken: aws.String("t1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if e := created.AccessEntry; *e.Username != "arn:aws:sts::000000000000:assumed-role/developer/{{SessionName}}" ||
		!slices.Equal(e.KubernetesGroups, []string{"developers"}) || e.Tags["team"] != "dev" || *e.Type != "STANDARD" ||
		!strings.HasPrefix(*e.AccessEntryArn, "arn:aws:eks:us-east-1:000000000000:access-entry/demo/role/000000000000/developer/") {
		t.Errorf("created %+v", e)
	}
	again, err := f.client.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String("demo"), PrincipalArn: aws.String(devRole), ClientRequestToken: aws.String("t1")})
	if err != nil || *again.AccessEntry.AccessEntryArn != *created.AccessEntry.AccessEntryArn {
		t.Errorf("retry with the token: %v", err)
	}
	updated, err := f.client.UpdateAccessEntry(ctx, &eks.UpdateAccessEntryInput{ClusterName: aws.String("demo"), PrincipalArn: aws.String(devRole),
		KubernetesGroups: []string{"a", "b"}, Username: aws.String("dev:{{SessionName}}")})
	if err != nil || !slices.Equal(updated.AccessEntry.KubernetesGroups, []string{"a", "b"}) || *updated.AccessEntry.Username != "dev:{{SessionName}}" {
		t.Fatalf("updated %+v %v", updated, err)
	}

	assoc, err := f.client.AssociateAccessPolicy(ctx, &eks.AssociateAccessPolicyInput{
		ClusterName: aws.String("demo"), PrincipalArn: aws.String(devRole), PolicyArn: aws.String(editARN),
		AccessScope: &ekstypes.AccessScope{Type: ekstypes.AccessScopeTypeNamespace, Namespaces: []string{"default", "dev-*"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := assoc.AssociatedAccessPolicy; *assoc.ClusterName != "demo" || *assoc.PrincipalArn != devRole || *p.PolicyArn != editARN ||
		p.AccessScope.Type != ekstypes.AccessScopeTypeNamespace || !slices.Equal(p.AccessScope.Namespaces, []string{"default", "dev-*"}) || p.AssociatedAt == nil || p.ModifiedAt == nil {
		t.Errorf("associated %+v", assoc)
	}
	if _, err := f.client.AssociateAccessPolicy(ctx, &eks.AssociateAccessPolicyInput{ClusterName: aws.String("demo"), PrincipalArn: aws.String(devRole),
		PolicyArn: aws.String(viewARN), AccessScope: &ekstypes.AccessScope{Type: ekstypes.AccessScopeTypeCluster}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	pager := eks.NewListAssociatedAccessPoliciesPaginator(f.client, &eks.ListAssociatedAccessPoliciesInput{ClusterName: aws.String("demo"), PrincipalArn: aws.String(devRole), MaxResults: aws.Int32(1)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.AssociatedAccessPolicies {
			got = append(got, *p.PolicyArn)
		}
	}
	if !slices.Equal(got, []string{editARN, viewARN}) {
		t.Errorf("associated policies %v", got)
	}
	byPolicy, err := f.client.ListAccessEntries(ctx, &eks.ListAccessEntriesInput{ClusterName: aws.String("demo"), AssociatedPolicyArn: aws.String(viewARN)})
	if err != nil || !slices.Equal(byPolicy.AccessEntries, []string{devRole}) {
		t.Errorf("entries with the view policy: %+v %v", byPolicy, err)
	}

	if _, err := f.client.DisassociateAccessPolicy(ctx, &eks.DisassociateAccessPolicyInput{ClusterName: aws.String("demo"), PrincipalArn: aws.String(devRole), PolicyArn: aws.String(editARN)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.DeleteAccessEntry(ctx, &eks.DeleteAccessEntryInput{ClusterName: aws.String("demo"), PrincipalArn: aws.String(devRole)}); err != nil {
		t.Fatal(err)
	}
	_, err = f.client.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: aws.String("demo"), PrincipalArn: aws.String(devRole)})
	var nf *ekstypes.ResourceNotFoundException
	if !errors.As(err, &nf) || httpStatus(err) != http.StatusNotFound || *nf.ClusterName != "demo" ||
		nf.ErrorMessage() != "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'." {
		t.Errorf("describe a deleted entry: %v", err)
	}

	// ListAccessPolicies, all pages.
	var names []string
	ppager := eks.NewListAccessPoliciesPaginator(f.client, &eks.ListAccessPoliciesInput{MaxResults: aws.Int32(7)})
	for ppager.HasMorePages() {
		page, err := ppager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.AccessPolicies {
			if *p.Arn != "arn:aws:eks::aws:cluster-access-policy/"+*p.Name {
				t.Errorf("policy %s %s", *p.Name, *p.Arn)
			}
			names = append(names, *p.Name)
		}
	}
	for _, n := range []string{"AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy", "AmazonEKSEditPolicy", "AmazonEKSViewPolicy"} {
		if !slices.Contains(names, n) {
			t.Errorf("ListAccessPolicies lacks %s: %v", n, names)
		}
	}
	if len(names) != len(access.Policies()) || !slices.IsSorted(names) {
		t.Errorf("ListAccessPolicies: %v", names)
	}

	// The entries go with the cluster.
	if err := f.clusters.Remove(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	if all, err := f.entries.All(ctx, "demo"); err != nil || len(all) != 0 {
		t.Errorf("entries of a removed cluster: %v %v", all, err)
	}
}

func TestAccessEntryErrors(t *testing.T) {
	f := newAccessFixture(t)
	ctx := t.Context()
	if _, err := f.client.CreateCluster(ctx, f.createInput("demo")); err != nil {
		t.Fatal(err)
	}
	legacy := f.createInput("legacy")
	legacy.AccessConfig = &ekstypes.CreateAccessConfigRequest{AuthenticationMode: ekstypes.AuthenticationModeConfigMap}
	if _, err := f.client.CreateCluster(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String("demo"), PrincipalArn: aws.String("arn:aws:iam::000000000000:role/nodes"), Type: aws.String("EC2_LINUX")}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		call    func() error
		code    string
		status  int
		message string
	}{
		{"duplicate", func() error {
			_, err := f.client.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String("demo"), PrincipalArn: aws.String(rootARN)})
			return err
		}, "ResourceInUseException", http.StatusConflict, "The specified access entry resource is already in use on this cluster."},
		{"CONFIG_MAP", func() error {
			_, err := f.client.ListAccessEntries(ctx, &eks.ListAccessEntriesInput{ClusterName: aws.String("legacy")})
			return err
		}, "InvalidRequestException", http.StatusBadRequest, "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation."},
		{"no cluster", func() error {
			_, err := f.client.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: aws.String("nope"), PrincipalArn: aws.String(rootARN)})
			return err
		}, "ResourceNotFoundException", http.StatusNotFound, "No cluster found for name: nope."},
		{"session principal", func() error {
			_, err := f.client.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String("demo"), PrincipalArn: aws.String("arn:aws:sts::000000000000:assumed-role/dev/me")})
			return err
		}, "InvalidParameterException", http.StatusBadRequest, "The principalArn parameter format is not valid"},
		{"system group", func() error {
			_, err := f.client.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String("demo"), PrincipalArn: aws.String(devRole), KubernetesGroups: []string{"system:masters"}})
			return err
		}, "InvalidParameterException", http.StatusBadRequest, "The kubernetes group name system:masters is invalid, it cannot start with system:"},
		{"policy of a node entry", func() error {
			_, err := f.client.AssociateAccessPolicy(ctx, &eks.AssociateAccessPolicyInput{ClusterName: aws.String("demo"), PrincipalArn: aws.String("arn:aws:iam::000000000000:role/nodes"),
				PolicyArn: aws.String(viewARN), AccessScope: &ekstypes.AccessScope{Type: ekstypes.AccessScopeTypeCluster}})
			return err
		}, "InvalidParameterException", http.StatusBadRequest, `This operation can only be performed on Access Entries with a type of "STANDARD".`},
		{"maxResults", func() error {
			_, err := f.client.ListAccessEntries(ctx, &eks.ListAccessEntriesInput{ClusterName: aws.String("demo"), MaxResults: aws.Int32(101)})
			return err
		}, "InvalidParameterException", http.StatusBadRequest, "maxResults must be between 1 and 100."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code || ae.ErrorMessage() != tc.message || httpStatus(err) != tc.status {
				t.Errorf("got %v (status %d), want %s %d %q", err, httpStatus(err), tc.code, tc.status, tc.message)
			}
		})
	}
}

// Principal and policy ARNs arrive URL-encoded, as the SDKs send them,
// or with their slashes unencoded, as a hand-written request may.
func TestAccessEntryPaths(t *testing.T) {
	f := newAccessFixture(t)
	if _, err := f.client.CreateCluster(t.Context(), f.createInput("demo")); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"principalArn": devRole})
	if status, code, out := f.signed(t, http.MethodPost, "/clusters/demo/access-entries", body); status != http.StatusOK {
		t.Fatalf("create: %d %s %v", status, code, out)
	}
	enc := url.PathEscape(devRole)
	if !strings.Contains(enc, "%2F") {
		t.Fatalf("PathEscape kept the slashes: %s", enc)
	}
	assoc, _ := json.Marshal(map[string]any{"policyArn": viewARN, "accessScope": map[string]any{"type": "cluster"}})
	for _, tc := range []struct {
		name, method, path string
		body               []byte
		key                string
	}{
		{"describe, encoded", http.MethodGet, "/clusters/demo/access-entries/" + enc, nil, "accessEntry"},
		{"describe, unencoded", http.MethodGet, "/clusters/demo/access-entries/" + devRole, nil, "accessEntry"},
		{"associate, unencoded", http.MethodPost, "/clusters/demo/access-entries/" + devRole + "/access-policies", assoc, "associatedAccessPolicy"},
		{"list associated, encoded", http.MethodGet, "/clusters/demo/access-entries/" + enc + "/access-policies", nil, "associatedAccessPolicies"},
		{"disassociate, unencoded", http.MethodDelete, "/clusters/demo/access-entries/" + devRole + "/access-policies/" + viewARN, nil, ""},
		{"list associated, unencoded", http.MethodGet, "/clusters/demo/access-entries/" + devRole + "/access-policies", nil, "associatedAccessPolicies"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code, out := f.signed(t, tc.method, tc.path, tc.body)
			if status != http.StatusOK {
				t.Fatalf("%d %s %v", status, code, out)
			}
			if tc.key != "" && out[tc.key] == nil {
				t.Errorf("no %s in %v", tc.key, out)
			}
			if tc.name == "list associated, unencoded" && len(out["associatedAccessPolicies"].([]any)) != 0 {
				t.Errorf("after disassociating: %v", out)
			}
			if e, ok := out["accessEntry"].(map[string]any); ok && e["principalArn"] != devRole {
				t.Errorf("entry %v", e)
			}
		})
	}
	if status, code, _ := f.signed(t, http.MethodPut, "/clusters/demo/access-entries/"+enc, nil); status != http.StatusNotFound || code != "UnknownOperationException" {
		t.Errorf("PUT: %d %s", status, code)
	}
}

// Wire shapes: empty lists and maps are present, timestamps are epoch
// seconds.
func TestAccessEntryWire(t *testing.T) {
	f := newAccessFixture(t)
	if _, err := f.client.CreateCluster(t.Context(), f.createInput("demo")); err != nil {
		t.Fatal(err)
	}
	status, _, out := f.signed(t, http.MethodGet, "/clusters/demo/access-entries/"+url.PathEscape(rootARN), nil)
	if status != http.StatusOK {
		t.Fatal(status, out)
	}
	e := out["accessEntry"].(map[string]any)
	for _, k := range []string{"clusterName", "principalArn", "kubernetesGroups", "accessEntryArn", "createdAt", "modifiedAt", "tags", "username", "type"} {
		if _, ok := e[k]; !ok {
			t.Errorf("accessEntry lacks %s: %v", k, e)
		}
	}
	if _, ok := e["createdAt"].(float64); !ok {
		t.Errorf("createdAt %T", e["createdAt"])
	}
	status, _, out = f.signed(t, http.MethodGet, "/clusters/demo/access-entries/"+url.PathEscape(rootARN)+"/access-policies", nil)
	ps := out["associatedAccessPolicies"].([]any)
	if status != http.StatusOK || len(ps) != 1 {
		t.Fatal(status, out)
	}
	scope := ps[0].(map[string]any)["accessScope"].(map[string]any)
	if scope["type"] != "cluster" || scope["namespaces"] == nil {
		t.Errorf("scope %v", scope)
	}
}

// A handler without the access service leaves the operations
// unimplemented.
func TestAccessUnconfigured(t *testing.T) {
	f := newFixture(t)
	_, err := f.client.ListAccessEntries(t.Context(), &eks.ListAccessEntriesInput{ClusterName: aws.String("c1")})
	if apiCode(err) != "UnknownOperationException" {
		t.Errorf("list access entries: %v", err)
	}
	_, err = f.client.ListAccessPolicies(t.Context(), &eks.ListAccessPoliciesInput{})
	if apiCode(err) != "UnknownOperationException" {
		t.Errorf("list access policies: %v", err)
	}
}

func TestAccessEntryTags(t *testing.T) {
	f := newAccessFixture(t)
	ctx := t.Context()
	if _, err := f.client.CreateCluster(ctx, f.createInput("demo")); err != nil {
		t.Fatal(err)
	}
	root, err := f.client.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: aws.String("demo"), PrincipalArn: aws.String(rootARN)})
	if err != nil {
		t.Fatal(err)
	}
	arn := root.AccessEntry.AccessEntryArn
	if _, err := f.client.TagResource(ctx, &eks.TagResourceInput{ResourceArn: arn, Tags: map[string]string{"team": "ops"}}); err != nil {
		t.Fatal(err)
	}
	got, err := f.client.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil || got.Tags["team"] != "ops" {
		t.Fatalf("tags %v %v", got, err)
	}
	if d, _ := f.client.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: aws.String("demo"), PrincipalArn: aws.String(rootARN)}); d.AccessEntry.Tags["team"] != "ops" {
		t.Errorf("DescribeAccessEntry tags %v", d.AccessEntry.Tags)
	}
	if _, err := f.client.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.client.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: arn}); len(got.Tags) != 0 {
		t.Errorf("tags after untag %v", got.Tags)
	}
	// An entry ARN of the cluster that names no entry is NotFound.
	var nf *ekstypes.NotFoundException
	bad := strings.Replace(*arn, "/root/000000000000/root/", "/user/000000000000/nobody/", 1)
	if _, err := f.client.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: aws.String(bad)}); !errors.As(err, &nf) {
		t.Errorf("unknown entry ARN: %v", err)
	}
}
