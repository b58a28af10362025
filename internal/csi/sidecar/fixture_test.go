package sidecar

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute"
	csiebs "github.com/berthproject/berth/internal/csi/ebs"
	csiefs "github.com/berthproject/berth/internal/csi/efs"
	ebsvc "github.com/berthproject/berth/internal/ebs"
	"github.com/berthproject/berth/internal/efs"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/vpc"
)

const (
	testAccount  = "000000000000"
	testRegion   = "us-east-1"
	testZone     = "us-east-1a"
	testInstance = "i-0123456789abcdef0"
)

// instances holds the running instances the volumes attach to (as in
// internal/csi/ebs's tests).
type instances struct {
	mu  sync.Mutex
	ins map[string]*compute.Instance
}

func (f *instances) Instance(_ context.Context, id string) (*compute.Instance, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.ins[id]
	if !ok {
		return nil, 0, apierror.New(apierror.ResourceNotFound, "The instance ID '%s' does not exist", id)
	}
	c := *in
	return &c, 1, nil
}

// services are berth's EBS (with one running m5.large in us-east-1a) and
// EFS (with one file system, mounted in us-east-1a) over one store, and
// the controllers of their CSI drivers.
type services struct {
	ebs     *ebsvc.Service
	efs     *efs.Service
	fs      *efs.FileSystem
	ebsCtrl *csiebs.Controller
	efsCtrl *csiefs.Controller
}

func newServices(t *testing.T) *services {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	network := vpc.Default(testAccount, testRegion)
	ins := &instances{ins: map[string]*compute.Instance{
		testInstance: {ID: testInstance, Type: "m5.large", AZ: testZone, State: compute.StateRunning},
	}}
	s := &services{}
	if s.ebs, err = ebsvc.New(ebsvc.Config{Store: st, Network: network, Instances: ins,
		Account: testAccount, Region: testRegion, DataDir: filepath.Join(dir, "ebs")}); err != nil {
		t.Fatal(err)
	}
	if s.ebsCtrl, err = csiebs.NewController(csiebs.ControllerConfig{Volumes: s.ebs, ClusterID: "sidecar-it"}); err != nil {
		t.Fatal(err)
	}
	if s.efs, err = efs.New(efs.Config{Store: st, Network: network, Dir: filepath.Join(dir, "efs"), Account: testAccount, Region: testRegion}); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if s.fs, err = s.efs.CreateFileSystem(ctx, efs.CreateFileSystemInput{CreationToken: "sidecar-it"}); err != nil {
		t.Fatal(err)
	}
	subnet := ""
	for _, sn := range network.Subnets {
		if sn.AZ == testZone && !sn.Public {
			subnet = sn.ID
		}
	}
	if _, err := s.efs.CreateMountTarget(ctx, efs.CreateMountTargetInput{FileSystemID: s.fs.ID, SubnetID: subnet}); err != nil {
		t.Fatal(err)
	}
	if s.efsCtrl, err = csiefs.NewController(csiefs.ControllerConfig{EFS: s.efs, DeleteRootDir: true}); err != nil {
		t.Fatal(err)
	}
	return s
}
