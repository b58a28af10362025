package efsapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	awsefs "github.com/aws/aws-sdk-go-v2/service/efs"
	"github.com/aws/aws-sdk-go-v2/service/efs/types"
	"github.com/aws/smithy-go"

	"github.com/berthproject/berth/internal/efs"
	"github.com/berthproject/berth/internal/efsapi"
	"github.com/berthproject/berth/internal/sigv4"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/vpc"
)

const (
	account = "000000000000"
	region  = "us-east-1"
	keyID   = "AKIDEFSTEST"
	secret  = "secret"
)

type fixture struct {
	svc    *efs.Service
	net    *vpc.Network
	dir    string
	url    string
	client *awsefs.Client
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	network := vpc.Default(account, region)
	dir := filepath.Join(t.TempDir(), "efs")
	svc, err := efs.New(efs.Config{Store: st, Network: network, Dir: dir, Account: account, Region: region})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := sigv4.New(sigv4.Config{
		Credentials: sigv4.StaticCredentials{keyID: {AccessKeyID: keyID, SecretAccessKey: secret, Principal: "arn:aws:iam::000000000000:root"}},
		Service:     efsapi.SigningName,
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := efsapi.New(efsapi.Config{Service: svc, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client := awsefs.New(awsefs.Options{
		Region: region, BaseEndpoint: aws.String(srv.URL),
		Credentials:      awscreds.NewStaticCredentialsProvider(keyID, secret, ""),
		RetryMaxAttempts: 1,
	})
	return &fixture{svc: svc, net: network, dir: dir, url: srv.URL, client: client}
}

func (f *fixture) subnet(az string) string {
	for _, s := range f.net.Subnets {
		if s.AZ == az && !s.Public {
			return s.ID
		}
	}
	panic("no subnet in " + az)
}

// apiError returns the code of an SDK error, and the error as the
// modelled type T if it is one.
func apiError[T any](t *testing.T, err error, code string) T {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code = %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	var typed T
	if !errors.As(err, &typed) {
		t.Fatalf("error %T is not the modelled %T", err, typed)
	}
	return typed
}

func TestFileSystemLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	out, err := f.client.CreateFileSystem(ctx, &awsefs.CreateFileSystemInput{
		CreationToken: aws.String("tok-1"),
		Encrypted:     aws.Bool(true),
		Tags:          []types.Tag{{Key: aws.String("Name"), Value: aws.String("shared")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.FileSystemId)
	if !strings.HasPrefix(id, "fs-") || len(id) != 20 {
		t.Errorf("FileSystemId = %q, want fs- and 17 hex digits", id)
	}
	if out.LifeCycleState != types.LifeCycleStateCreating || aws.ToString(out.Name) != "shared" ||
		out.ThroughputMode != types.ThroughputModeElastic || out.PerformanceMode != types.PerformanceModeGeneralPurpose ||
		!strings.HasPrefix(aws.ToString(out.KmsKeyId), "arn:aws:kms:us-east-1:000000000000:key/") ||
		aws.ToString(out.FileSystemArn) != "arn:aws:elasticfilesystem:us-east-1:000000000000:file-system/"+id {
		t.Errorf("CreateFileSystem = %+v", out)
	}
	if fi, err := os.Stat(filepath.Join(f.dir, id)); err != nil || !fi.IsDir() {
		t.Errorf("data directory: %v", err)
	}

	_, err = f.client.CreateFileSystem(ctx, &awsefs.CreateFileSystemInput{CreationToken: aws.String("tok-1")})
	exists := apiError[*types.FileSystemAlreadyExists](t, err, "FileSystemAlreadyExists")
	if aws.ToString(exists.FileSystemId) != id {
		t.Errorf("FileSystemAlreadyExists.FileSystemId = %q, want %q", aws.ToString(exists.FileSystemId), id)
	}

	desc, err := f.client.DescribeFileSystems(ctx, &awsefs.DescribeFileSystemsInput{CreationToken: aws.String("tok-1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.FileSystems) != 1 || desc.FileSystems[0].LifeCycleState != types.LifeCycleStateAvailable ||
		desc.FileSystems[0].SizeInBytes.Value != 6144 {
		t.Fatalf("DescribeFileSystems = %+v", desc.FileSystems)
	}

	mt, err := f.client.CreateMountTarget(ctx, &awsefs.CreateMountTargetInput{FileSystemId: &id, SubnetId: aws.String(f.subnet("us-east-1a"))})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(aws.ToString(mt.IpAddress), "172.31.") || aws.ToString(mt.AvailabilityZoneName) != "us-east-1a" ||
		!strings.HasPrefix(aws.ToString(mt.MountTargetId), "fsmt-") {
		t.Errorf("CreateMountTarget = %+v", mt)
	}
	_, err = f.client.CreateMountTarget(ctx, &awsefs.CreateMountTargetInput{FileSystemId: &id, SubnetId: aws.String(f.subnet("us-east-1a"))})
	apiError[*types.MountTargetConflict](t, err, "MountTargetConflict")
	_, err = f.client.CreateMountTarget(ctx, &awsefs.CreateMountTargetInput{FileSystemId: &id, SubnetId: aws.String("subnet-0123456789abcdef0")})
	apiError[*types.SubnetNotFound](t, err, "SubnetNotFound")

	ap, err := f.client.CreateAccessPoint(ctx, &awsefs.CreateAccessPointInput{
		FileSystemId: &id,
		PosixUser:    &types.PosixUser{Uid: aws.Int64(1000), Gid: aws.Int64(2000)},
		RootDirectory: &types.RootDirectory{Path: aws.String("/apps/one"), CreationInfo: &types.CreationInfo{
			OwnerUid: aws.Int64(1000), OwnerGid: aws.Int64(2000), Permissions: aws.String("750"),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(f.dir, id, "apps", "one"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o750 {
		t.Errorf("root directory mode = %v, want 0750", fi.Mode().Perm())
	}
	aps, err := f.client.DescribeAccessPoints(ctx, &awsefs.DescribeAccessPointsInput{FileSystemId: &id})
	if err != nil {
		t.Fatal(err)
	}
	if len(aps.AccessPoints) != 1 || aws.ToString(aps.AccessPoints[0].AccessPointId) != aws.ToString(ap.AccessPointId) ||
		aws.ToString(aps.AccessPoints[0].RootDirectory.Path) != "/apps/one" || aws.ToInt64(aps.AccessPoints[0].PosixUser.Gid) != 2000 {
		t.Errorf("DescribeAccessPoints = %+v", aps.AccessPoints)
	}
	_, err = f.client.CreateAccessPoint(ctx, &awsefs.CreateAccessPointInput{
		FileSystemId: &id, ClientToken: ap.ClientToken, RootDirectory: &types.RootDirectory{Path: aws.String("/other")},
	})
	dup := apiError[*types.AccessPointAlreadyExists](t, err, "AccessPointAlreadyExists")
	if aws.ToString(dup.AccessPointId) != aws.ToString(ap.AccessPointId) {
		t.Errorf("AccessPointAlreadyExists.AccessPointId = %q", aws.ToString(dup.AccessPointId))
	}
	_, err = f.client.CreateAccessPoint(ctx, &awsefs.CreateAccessPointInput{FileSystemId: &id, RootDirectory: &types.RootDirectory{Path: aws.String("/a/../../etc")}})
	apiError[*types.BadRequest](t, err, "BadRequest")

	if _, err := f.client.TagResource(ctx, &awsefs.TagResourceInput{ResourceId: ap.AccessPointId, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := f.client.ListTagsForResource(ctx, &awsefs.ListTagsForResourceInput{ResourceId: ap.AccessPointId})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "team" {
		t.Errorf("ListTagsForResource = %+v, %v", tags, err)
	}

	_, err = f.client.DeleteFileSystem(ctx, &awsefs.DeleteFileSystemInput{FileSystemId: &id})
	inUse := apiError[*types.FileSystemInUse](t, err, "FileSystemInUse")
	if !strings.Contains(inUse.ErrorMessage(), "has mount targets") {
		t.Errorf("FileSystemInUse message = %q", inUse.ErrorMessage())
	}
	if _, err := f.client.DeleteMountTarget(ctx, &awsefs.DeleteMountTargetInput{MountTargetId: mt.MountTargetId}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.DeleteFileSystem(ctx, &awsefs.DeleteFileSystemInput{FileSystemId: &id}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, id)); !os.IsNotExist(err) {
		t.Errorf("data directory still there: %v", err)
	}
	_, err = f.client.DescribeFileSystems(ctx, &awsefs.DescribeFileSystemsInput{FileSystemId: &id})
	nf := apiError[*types.FileSystemNotFound](t, err, "FileSystemNotFound")
	if nf.ErrorMessage() != "File system '"+id+"' does not exist." {
		t.Errorf("FileSystemNotFound message = %q", nf.ErrorMessage())
	}
	_, err = f.client.DescribeAccessPoints(ctx, &awsefs.DescribeAccessPointsInput{AccessPointId: ap.AccessPointId})
	apiError[*types.AccessPointNotFound](t, err, "AccessPointNotFound")
}

func TestValidation(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	tests := []struct {
		name string
		in   awsefs.CreateFileSystemInput
		code string
	}{
		{"provisioned without throughput", awsefs.CreateFileSystemInput{ThroughputMode: types.ThroughputModeProvisioned}, "BadRequest"},
		{"throughput without provisioned", awsefs.CreateFileSystemInput{ThroughputMode: types.ThroughputModeBursting, ProvisionedThroughputInMibps: aws.Float64(10)}, "BadRequest"},
		{"throughput too high", awsefs.CreateFileSystemInput{ThroughputMode: types.ThroughputModeProvisioned, ProvisionedThroughputInMibps: aws.Float64(100000)}, "ThroughputLimitExceeded"},
		{"kms without encryption", awsefs.CreateFileSystemInput{KmsKeyId: aws.String("alias/mine")}, "BadRequest"},
		{"one zone maxIO", awsefs.CreateFileSystemInput{AvailabilityZoneName: aws.String("us-east-1a"), PerformanceMode: types.PerformanceModeMaxIo, ThroughputMode: types.ThroughputModeBursting}, "BadRequest"},
		{"unknown zone", awsefs.CreateFileSystemInput{AvailabilityZoneName: aws.String("eu-west-9z")}, "UnsupportedAvailabilityZone"},
		{"aws tag", awsefs.CreateFileSystemInput{Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}}, "BadRequest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.CreationToken = aws.String(tc.name)
			_, err := f.client.CreateFileSystem(ctx, &in)
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
				t.Fatalf("error = %v, want %s", err, tc.code)
			}
		})
	}

	// One Zone: mount targets only in its zone.
	oz, err := f.client.CreateFileSystem(ctx, &awsefs.CreateFileSystemInput{CreationToken: aws.String("oz"), AvailabilityZoneName: aws.String("us-east-1b")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(oz.AvailabilityZoneId) != "use1-az2" {
		t.Errorf("AvailabilityZoneId = %q", aws.ToString(oz.AvailabilityZoneId))
	}
	_, err = f.client.CreateMountTarget(ctx, &awsefs.CreateMountTargetInput{FileSystemId: oz.FileSystemId, SubnetId: aws.String(f.subnet("us-east-1a"))})
	apiError[*types.AvailabilityZonesMismatch](t, err, "AvailabilityZonesMismatch")
}

func TestPagination(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for i := range 5 {
		if _, err := f.client.CreateFileSystem(ctx, &awsefs.CreateFileSystemInput{CreationToken: aws.String(string(rune('a' + i)))}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	p := awsefs.NewDescribeFileSystemsPaginator(f.client, &awsefs.DescribeFileSystemsInput{MaxItems: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, fs := range out.FileSystems {
			seen[aws.ToString(fs.FileSystemId)] = true
		}
	}
	if len(seen) != 5 || pages != 3 {
		t.Errorf("paginated %d file systems in %d pages, want 5 in 3", len(seen), pages)
	}
}

// TestSignatureScope checks that requests signed for another service or
// region are refused before anything else.
func TestSignatureScope(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ service, region string }{{"eks", region}, {efsapi.SigningName, "eu-west-1"}} {
		req, _ := http.NewRequest(http.MethodGet, f.url+"/2015-02-01/file-systems", nil)
		sum := sha256.Sum256(nil)
		err := v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret},
			req, hex.EncodeToString(sum[:]), tc.service, tc.region, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("x-amzn-ErrorType") != "InvalidSignatureException" {
			t.Errorf("%s/%s: status %d, type %q, body %s", tc.service, tc.region, resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body)
		}
	}
	// An unsigned request and an oversized body.
	resp, err := http.Post(f.url+"/2015-02-01/file-systems", "application/json", bytes.NewReader(bytes.Repeat([]byte("x"), 2<<20)))
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || body["ErrorCode"] != "BadRequest" {
		t.Errorf("oversized body: %d %v", resp.StatusCode, body)
	}
}
