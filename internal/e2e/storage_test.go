package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/efs"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/fsx"
	fsxtypes "github.com/aws/aws-sdk-go-v2/service/fsx/types"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func (d *daemon) awsFiles(t testing.TB) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithSharedCredentialsFiles([]string{filepath.Join(d.dataDir, "credentials")}),
		config.WithSharedConfigFiles([]string{filepath.Join(d.dataDir, "config")}))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestStorageAPIs drives the EC2 volume, EFS and FSx APIs and the storage
// add-ons through berth's one endpoint, as the SDKs do.
func TestStorageAPIs(t *testing.T) {
	skipShort(t)
	d := startDaemon(t, "")
	ctx := context.Background()
	cfg := d.awsFiles(t)
	ec := ec2.NewFromConfig(cfg)

	// A volume attached to an instance, detached when it terminates.
	run, err := ec.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: ec2types.InstanceTypeM5Large,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String(d.subnets(t)[0])})
	if err != nil {
		t.Fatal(err)
	}
	inst := run.Instances[0]
	if err := eventually(30*time.Second, func() error {
		_, err := ec.AttachVolume(ctx, &ec2.AttachVolumeInput{Device: aws.String("/dev/xvdz"), InstanceId: inst.InstanceId, VolumeId: aws.String("vol-00000000000000000")})
		if apiCode(err) == "InvalidVolume.NotFound" {
			return nil // the instance runs: only the volume is unknown
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	vol, err := ec.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: inst.Placement.AvailabilityZone, Size: aws.Int32(10),
		VolumeType: ec2types.VolumeTypeGp3, Iops: aws.Int32(4000)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: inst.Placement.AvailabilityZone, Size: aws.Int32(10),
		VolumeType: ec2types.VolumeTypeGp3, Iops: aws.Int32(100000)}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("gp3 with 100000 IOPS: %v", err)
	}
	if err := ec2.NewVolumeAvailableWaiter(ec).Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{aws.ToString(vol.VolumeId)}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := ec.AttachVolume(ctx, &ec2.AttachVolumeInput{Device: aws.String("/dev/xvdf"), InstanceId: inst.InstanceId, VolumeId: vol.VolumeId}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewVolumeInUseWaiter(ec).Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{aws.ToString(vol.VolumeId)}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := ec.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: vol.VolumeId}); apiCode(err) != "VolumeInUse" {
		t.Errorf("deleting an attached volume: %v", err)
	}
	if _, err := ec.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(inst.InstanceId)}}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewVolumeAvailableWaiter(ec).Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{aws.ToString(vol.VolumeId)}}, time.Minute); err != nil {
		t.Fatalf("the volume of a terminated instance: %v", err)
	}
	snap, err := ec.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: vol.VolumeId})
	if err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewSnapshotCompletedWaiter(ec).Wait(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{aws.ToString(snap.SnapshotId)}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := ec.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: vol.VolumeId}); err != nil {
		t.Fatal(err)
	}

	// EFS: a file system, a mount target, an access point.
	fc := efs.NewFromConfig(cfg)
	fs, err := fc.CreateFileSystem(ctx, &efs.CreateFileSystemInput{CreationToken: aws.String("shared")})
	if err != nil {
		t.Fatal(err)
	}
	if err := eventually(30*time.Second, func() error {
		_, err := fc.CreateMountTarget(ctx, &efs.CreateMountTargetInput{FileSystemId: fs.FileSystemId, SubnetId: aws.String(d.subnets(t)[0])})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := fc.CreateAccessPoint(ctx, &efs.CreateAccessPointInput{FileSystemId: fs.FileSystemId, ClientToken: aws.String("ap")}); err != nil {
		t.Fatal(err)
	}
	if _, err := fc.DeleteFileSystem(ctx, &efs.DeleteFileSystemInput{FileSystemId: fs.FileSystemId}); apiCode(err) != "FileSystemInUse" {
		t.Errorf("deleting a file system with a mount target: %v", err)
	}
	list, err := fc.DescribeFileSystems(ctx, &efs.DescribeFileSystemsInput{})
	if err != nil || len(list.FileSystems) != 1 || aws.ToInt32(&list.FileSystems[0].NumberOfMountTargets) != 1 {
		t.Errorf("DescribeFileSystems = %+v, %v", list, err)
	}

	// FSx for Lustre.
	xc := fsx.NewFromConfig(cfg)
	lustre, err := xc.CreateFileSystem(ctx, &fsx.CreateFileSystemInput{FileSystemType: fsxtypes.FileSystemTypeLustre, StorageCapacity: aws.Int32(1200),
		SubnetIds: []string{d.subnets(t)[0]}, LustreConfiguration: &fsxtypes.CreateFileSystemLustreConfiguration{DeploymentType: fsxtypes.LustreDeploymentTypeScratch2}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := xc.CreateFileSystem(ctx, &fsx.CreateFileSystemInput{FileSystemType: fsxtypes.FileSystemTypeLustre, StorageCapacity: aws.Int32(1000),
		SubnetIds: []string{d.subnets(t)[0]}, LustreConfiguration: &fsxtypes.CreateFileSystemLustreConfiguration{DeploymentType: fsxtypes.LustreDeploymentTypeScratch2}}); err == nil {
		t.Error("FSx took a capacity of 1000 GiB")
	}
	if !strings.HasSuffix(aws.ToString(lustre.FileSystem.DNSName), ".fsx.us-east-1.amazonaws.com") {
		t.Errorf("FSx DNS name %s", aws.ToString(lustre.FileSystem.DNSName))
	}
	if _, err := xc.DeleteFileSystem(ctx, &fsx.DeleteFileSystemInput{FileSystemId: lustre.FileSystem.FileSystemId}); err != nil {
		t.Fatal(err)
	}

	// Add-ons: a record-only add-on is ACTIVE at once; a CSI driver's is
	// ACTIVE once its CSIDriver and controller run, and deleting it with
	// preserve keeps the CSIDriver, without removes it.
	c := d.eks(t)
	if _, err := c.CreateCluster(ctx, createInput("addons", d.subnets(t))); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "addons", 2*time.Minute)
	kc, _ := d.kubeClient(t, "addons")
	for _, name := range []string{"vpc-cni", "aws-fsx-csi-driver", "aws-efs-csi-driver"} {
		if _, err := c.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String("addons"), AddonName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		if err := eks.NewAddonActiveWaiter(c).Wait(ctx, &eks.DescribeAddonInput{ClusterName: aws.String("addons"), AddonName: aws.String(name)}, time.Minute); err != nil {
			t.Fatalf("add-on %s: %v", name, err)
		}
	}
	for _, driver := range []string{"fsx.csi.aws.com", "efs.csi.aws.com"} {
		cd, err := kc.StorageV1().CSIDrivers().Get(ctx, driver, metav1.GetOptions{})
		if err != nil || cd.Spec.AttachRequired == nil || *cd.Spec.AttachRequired {
			t.Errorf("CSIDriver %s = %+v, %v", driver, cd, err)
		}
	}
	if _, err := c.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String("addons"), AddonName: aws.String("aws-fsx-csi-driver")}); apiCode(err) != "ResourceInUseException" {
		t.Errorf("creating an add-on twice: %v", err)
	}
	for name, preserve := range map[string]bool{"aws-fsx-csi-driver": false, "aws-efs-csi-driver": true} {
		if _, err := c.DeleteAddon(ctx, &eks.DeleteAddonInput{ClusterName: aws.String("addons"), AddonName: aws.String(name), Preserve: preserve}); err != nil {
			t.Fatal(err)
		}
		if err := eks.NewAddonDeletedWaiter(c).Wait(ctx, &eks.DescribeAddonInput{ClusterName: aws.String("addons"), AddonName: aws.String(name)}, time.Minute); err != nil {
			t.Error(err)
		}
	}
	if _, err := kc.StorageV1().CSIDrivers().Get(ctx, "fsx.csi.aws.com", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the FSx CSIDriver after DeleteAddon: %v", err)
	}
	if _, err := kc.StorageV1().CSIDrivers().Get(ctx, "efs.csi.aws.com", metav1.GetOptions{}); err != nil {
		t.Errorf("the EFS CSIDriver after DeleteAddon with preserve: %v", err)
	}
}
