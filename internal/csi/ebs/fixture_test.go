package ebs

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
	"k8s.io/mount-utils"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute"
	ebsvc "github.com/berthproject/berth/internal/ebs"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/vpc"
)

const (
	testAccount  = "000000000000"
	testZone     = "us-east-1a"
	testInstance = "i-0123456789abcdef0"
)

// instances holds the running instances the volumes attach to.
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

func (f *instances) add(id, typ, az string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ins[id] = &compute.Instance{ID: id, Type: typ, AZ: az, State: compute.StateRunning}
}

// fixture is an EBS service with one running m5.large in us-east-1a,
// and the driver's controller and node over it.
type fixture struct {
	root       string
	data       string
	svc        *ebsvc.Service
	ins        *instances
	controller *Controller
	node       *Node
}

func newFixture(t *testing.T, mode Mode) *fixture {
	t.Helper()
	root := t.TempDir()
	st, err := store.Open(filepath.Join(root, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{root: root, data: filepath.Join(root, "ebs"), ins: &instances{ins: map[string]*compute.Instance{}}}
	f.ins.add(testInstance, "m5.large", testZone)
	f.svc, err = ebsvc.New(ebsvc.Config{Store: st, Network: vpc.Default(testAccount, "us-east-1"), Instances: f.ins,
		Account: testAccount, Region: "us-east-1", DataDir: f.data})
	if err != nil {
		t.Fatal(err)
	}
	f.controller, err = NewController(ControllerConfig{Volumes: f.svc, DefaultZone: testZone, ClusterID: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	f.node, err = NewNode(NodeConfig{NodeID: testInstance, Zone: testZone, InstanceType: "m5.large", Volumes: f.svc, Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	// Leave no mount and no loop device behind, whatever happened.
	t.Cleanup(func() { cleanupMounts(t, root, f.data) })
	return f
}

// cleanupMounts unmounts everything under root, deepest first, and
// unbinds the loop devices of the files under data.
func cleanupMounts(t *testing.T, root, data string) {
	t.Helper()
	infos, err := mount.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Errorf("reading mounts: %v", err)
		return
	}
	var points []string
	for _, mi := range infos {
		if strings.HasPrefix(mi.MountPoint, root+"/") {
			points = append(points, mi.MountPoint)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", p, err)
		}
	}
	if _, err := os.Stat("/dev/loop-control"); err == nil {
		if err := CleanupLoops(data); err != nil {
			t.Errorf("releasing loop devices: %v", err)
		}
	}
}

// needMode skips a test when the machine cannot run a mode.
func needMode(t *testing.T, mode Mode) {
	t.Helper()
	best, why := DetectMode()
	switch {
	case mode == ModeLoop && best != ModeLoop:
		t.Skipf("real filesystems need root, /dev/loop-control and mkfs: %s", why)
	case mode == ModeBind && best == ModeSymlink:
		t.Skipf("bind mounts need root: %s", why)
	}
}
