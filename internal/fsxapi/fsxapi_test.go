package fsxapi_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	awsfsx "github.com/aws/aws-sdk-go-v2/service/fsx"
	"github.com/aws/aws-sdk-go-v2/service/fsx/types"
	"github.com/aws/smithy-go"

	"github.com/berthproject/berth/internal/fsx"
	"github.com/berthproject/berth/internal/fsxapi"
	"github.com/berthproject/berth/internal/sigv4"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/vpc"
)

const (
	account = "000000000000"
	region  = "us-east-1"
	keyID   = "AKIDFSXTEST"
	secret  = "secret"
)

type fixture struct {
	net    *vpc.Network
	dir    string
	client *awsfsx.Client
}

func newFixture(t *testing.T, service string) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	network := vpc.Default(account, region)
	dir := filepath.Join(t.TempDir(), "fsx")
	svc, err := fsx.New(fsx.Config{Store: st, Network: network, Dir: dir, Account: account, Region: region, MaxStorageGiB: 12000})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := sigv4.New(sigv4.Config{
		Credentials: sigv4.StaticCredentials{keyID: {AccessKeyID: keyID, SecretAccessKey: secret}},
		Service:     service,
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := fsxapi.New(fsxapi.Config{Service: svc, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client := awsfsx.New(awsfsx.Options{
		Region: region, BaseEndpoint: aws.String(srv.URL),
		Credentials:      awscreds.NewStaticCredentialsProvider(keyID, secret, ""),
		RetryMaxAttempts: 1,
	})
	return &fixture{net: network, dir: dir, client: client}
}

func (f *fixture) subnet() string { return f.net.Subnets[1].ID }

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestLustreLifecycle(t *testing.T) {
	f := newFixture(t, fsxapi.SigningName)
	ctx := t.Context()
	in := &awsfsx.CreateFileSystemInput{
		ClientRequestToken: aws.String("pvc-1"),
		FileSystemType:     types.FileSystemTypeLustre,
		StorageCapacity:    aws.Int32(2400),
		SubnetIds:          []string{f.subnet()},
		LustreConfiguration: &types.CreateFileSystemLustreConfiguration{
			DeploymentType:           types.LustreDeploymentTypePersistent2,
			PerUnitStorageThroughput: aws.Int32(250),
		},
		Tags: []types.Tag{{Key: aws.String("CSIVolumeName"), Value: aws.String("pvc-1")}},
	}
	out, err := f.client.CreateFileSystem(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	fs := out.FileSystem
	id := aws.ToString(fs.FileSystemId)
	if fs.Lifecycle != types.FileSystemLifecycleCreating || aws.ToString(fs.DNSName) != id+".fsx.us-east-1.amazonaws.com" ||
		len(aws.ToString(fs.LustreConfiguration.MountName)) != 8 || aws.ToString(fs.FileSystemTypeVersion) != "2.12" ||
		aws.ToString(fs.ResourceARN) != "arn:aws:fsx:us-east-1:000000000000:file-system/"+id || aws.ToString(fs.VpcId) != f.net.VpcID {
		t.Errorf("CreateFileSystem = %+v", fs)
	}
	if _, err := os.Stat(filepath.Join(f.dir, id)); err != nil {
		t.Errorf("data directory: %v", err)
	}
	// The same token and request: the same file system.
	again, err := f.client.CreateFileSystem(ctx, in)
	if err != nil || aws.ToString(again.FileSystem.FileSystemId) != id {
		t.Fatalf("repeated CreateFileSystem = %v, %v", again, err)
	}
	// The same token, another request.
	in2 := *in
	in2.StorageCapacity = aws.Int32(4800)
	_, err = f.client.CreateFileSystem(ctx, &in2)
	var ipe *types.IncompatibleParameterError
	if !errors.As(err, &ipe) || aws.ToString(ipe.Parameter) != "ClientRequestToken" {
		t.Fatalf("CreateFileSystem with a reused token: %v", err)
	}

	desc, err := f.client.DescribeFileSystems(ctx, &awsfsx.DescribeFileSystemsInput{FileSystemIds: []string{id}})
	if err != nil || len(desc.FileSystems) != 1 || desc.FileSystems[0].Lifecycle != types.FileSystemLifecycleAvailable {
		t.Fatalf("DescribeFileSystems = %+v, %v", desc, err)
	}
	up, err := f.client.UpdateFileSystem(ctx, &awsfsx.UpdateFileSystemInput{FileSystemId: &id, StorageCapacity: aws.Int32(4800)})
	if err != nil || aws.ToInt32(up.FileSystem.StorageCapacity) != 4800 || len(up.FileSystem.AdministrativeActions) != 1 {
		t.Fatalf("UpdateFileSystem = %+v, %v", up, err)
	}
	_, err = f.client.UpdateFileSystem(ctx, &awsfsx.UpdateFileSystemInput{FileSystemId: &id, StorageCapacity: aws.Int32(6000)})
	if code(err) != "BadRequest" {
		t.Errorf("UpdateFileSystem to 6000 GiB: %v, want BadRequest", err)
	}
	// The quota (12000 GiB in this fixture).
	_, err = f.client.CreateFileSystem(ctx, &awsfsx.CreateFileSystemInput{
		FileSystemType: types.FileSystemTypeLustre, StorageCapacity: aws.Int32(9600), SubnetIds: []string{f.subnet()},
		LustreConfiguration: &types.CreateFileSystemLustreConfiguration{DeploymentType: types.LustreDeploymentTypeScratch2},
	})
	var sle *types.ServiceLimitExceeded
	if !errors.As(err, &sle) || sle.Limit != types.ServiceLimitTotalStorage {
		t.Errorf("CreateFileSystem over the quota: %v", err)
	}

	if _, err := f.client.TagResource(ctx, &awsfsx.TagResourceInput{ResourceARN: fs.ResourceARN, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("ml")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := f.client.ListTagsForResource(ctx, &awsfsx.ListTagsForResourceInput{ResourceARN: fs.ResourceARN})
	if err != nil || len(tags.Tags) != 2 {
		t.Errorf("ListTagsForResource = %+v, %v", tags, err)
	}

	del, err := f.client.DeleteFileSystem(ctx, &awsfsx.DeleteFileSystemInput{FileSystemId: &id})
	if err != nil || del.Lifecycle != types.FileSystemLifecycleDeleting {
		t.Fatalf("DeleteFileSystem = %+v, %v", del, err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, id)); !os.IsNotExist(err) {
		t.Errorf("data directory left: %v", err)
	}
	_, err = f.client.DescribeFileSystems(ctx, &awsfsx.DescribeFileSystemsInput{FileSystemIds: []string{id}})
	var nf *types.FileSystemNotFound
	if !errors.As(err, &nf) {
		t.Errorf("DescribeFileSystems of a deleted file system: %v", err)
	}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t, fsxapi.SigningName)
	lustre := func(d types.LustreDeploymentType, put int32) *types.CreateFileSystemLustreConfiguration {
		c := &types.CreateFileSystemLustreConfiguration{DeploymentType: d}
		if put != 0 {
			c.PerUnitStorageThroughput = aws.Int32(put)
		}
		return c
	}
	tests := []struct {
		name     string
		capacity int32
		storage  types.StorageType
		lustre   *types.CreateFileSystemLustreConfiguration
		subnets  []string
		code     string
	}{
		{"scratch1 1200", 1200, "", lustre(types.LustreDeploymentTypeScratch1, 0), nil, ""},
		{"scratch1 3600", 3600, "", lustre(types.LustreDeploymentTypeScratch1, 0), nil, ""},
		{"scratch1 4800", 4800, "", lustre(types.LustreDeploymentTypeScratch1, 0), nil, "BadRequest"},
		{"scratch2 4800", 4800, "", lustre(types.LustreDeploymentTypeScratch2, 0), nil, ""},
		{"scratch2 3600", 3600, "", lustre(types.LustreDeploymentTypeScratch2, 0), nil, "BadRequest"},
		{"scratch2 with throughput", 1200, "", lustre(types.LustreDeploymentTypeScratch2, 50), nil, "InvalidPerUnitStorageThroughput"},
		{"persistent1 without throughput", 1200, "", lustre(types.LustreDeploymentTypePersistent1, 0), nil, "BadRequest"},
		{"persistent1 125", 1200, "", lustre(types.LustreDeploymentTypePersistent1, 125), nil, "InvalidPerUnitStorageThroughput"},
		{"persistent1 200", 1200, "", lustre(types.LustreDeploymentTypePersistent1, 200), nil, ""},
		{"persistent2 1000", 1200, "", lustre(types.LustreDeploymentTypePersistent2, 1000), nil, ""},
		{"persistent2 200", 1200, "", lustre(types.LustreDeploymentTypePersistent2, 200), nil, "InvalidPerUnitStorageThroughput"},
		{"hdd on scratch", 6000, types.StorageTypeHdd, lustre(types.LustreDeploymentTypeScratch2, 0), nil, "BadRequest"},
		{"hdd without cache", 6000, types.StorageTypeHdd, lustre(types.LustreDeploymentTypePersistent1, 12), nil, "BadRequest"},
		{"two subnets", 1200, "", nil, []string{"a", "b"}, "InvalidNetworkSettings"},
		{"unknown subnet", 1200, "", nil, []string{"subnet-0123456789abcdef0"}, "InvalidNetworkSettings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			subnets := tc.subnets
			if subnets == nil {
				subnets = []string{f.subnet()}
			}
			out, err := f.client.CreateFileSystem(t.Context(), &awsfsx.CreateFileSystemInput{
				FileSystemType: types.FileSystemTypeLustre, StorageCapacity: aws.Int32(tc.capacity),
				StorageType: tc.storage, SubnetIds: subnets, LustreConfiguration: tc.lustre,
			})
			if got := code(err); got != tc.code {
				t.Fatalf("error = %v, want code %q", err, tc.code)
			}
			if err == nil {
				if _, err := f.client.DeleteFileSystem(t.Context(), &awsfsx.DeleteFileSystemInput{FileSystemId: out.FileSystem.FileSystemId}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	hdd := lustre(types.LustreDeploymentTypePersistent1, 40)
	hdd.DriveCacheType = types.DriveCacheTypeRead
	out, err := f.client.CreateFileSystem(t.Context(), &awsfsx.CreateFileSystemInput{
		FileSystemType: types.FileSystemTypeLustre, StorageCapacity: aws.Int32(1800), StorageType: types.StorageTypeHdd,
		SubnetIds: []string{f.subnet()}, LustreConfiguration: hdd,
	})
	if err != nil || aws.ToString(out.FileSystem.LustreConfiguration.MountName) == "fsx" {
		t.Fatalf("HDD file system: %+v, %v", out, err)
	}
	s1, err := f.client.CreateFileSystem(t.Context(), &awsfsx.CreateFileSystemInput{
		FileSystemType: types.FileSystemTypeLustre, StorageCapacity: aws.Int32(1200), SubnetIds: []string{f.subnet()},
	})
	if err != nil || aws.ToString(s1.FileSystem.LustreConfiguration.MountName) != "fsx" || s1.FileSystem.LustreConfiguration.DeploymentType != types.LustreDeploymentTypeScratch1 {
		t.Fatalf("default (SCRATCH_1) file system: %+v, %v", s1, err)
	}
}

func TestWrongScope(t *testing.T) {
	f := newFixture(t, "eks") // the verifier accepts eks only
	_, err := f.client.DescribeFileSystems(t.Context(), &awsfsx.DescribeFileSystemsInput{})
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Fatalf("fsx-scoped request to an eks verifier: %v", err)
	}
}

func TestRoundCapacity(t *testing.T) {
	const gib = int64(1) << 30
	tests := []struct {
		bytes      int64
		deployment string
		storage    string
		throughput int
		want       int
	}{
		{0, fsx.Scratch1, "", 0, 1200},
		{gib, fsx.Scratch1, "", 0, 1200},
		{1201 * gib, fsx.Scratch1, "", 0, 2400},
		{2401 * gib, fsx.Scratch1, "", 0, 3600},
		{3601 * gib, fsx.Scratch1, "", 0, 7200},
		{2401 * gib, fsx.Scratch2, "", 0, 4800},
		{2401 * gib, fsx.Persistent2, "", 125, 4800},
		{gib, fsx.Persistent1, fsx.HDD, 12, 6000},
		{gib, fsx.Persistent1, fsx.HDD, 40, 1800},
		{1801 * gib, fsx.Persistent1, fsx.HDD, 40, 3600},
	}
	for _, tc := range tests {
		if got := fsx.RoundCapacity(tc.bytes, tc.deployment, tc.storage, tc.throughput); got != tc.want {
			t.Errorf("RoundCapacity(%d GiB, %s, %s, %d) = %d, want %d", tc.bytes/gib, tc.deployment, tc.storage, tc.throughput, got, tc.want)
		}
		if err := fsx.ValidCapacity(tc.want, tc.deployment, tc.storage, tc.throughput); err != nil {
			t.Errorf("ValidCapacity(%d): %v", tc.want, err)
		}
	}
}
