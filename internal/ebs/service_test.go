package ebs

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/vpc"
)

const account = "000000000000"

// fakeInstances holds instances by id.
type fakeInstances struct {
	mu  sync.Mutex
	ins map[string]*compute.Instance
}

func (f *fakeInstances) Instance(_ context.Context, id string) (*compute.Instance, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.ins[id]
	if !ok {
		return nil, 0, apierror.New(apierror.ResourceNotFound, "The instance ID '%s' does not exist", id)
	}
	c := *in
	return &c, 1, nil
}

func (f *fakeInstances) add(id, typ, az, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ins[id] = &compute.Instance{ID: id, Type: typ, AZ: az, State: state}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	svc   *Service
	st    *store.Bolt
	ins   *fakeInstances
	clock *clock
	dir   string
}

func newFixture(t *testing.T, mod ...func(*Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, ins: &fakeInstances{ins: map[string]*compute.Instance{}},
		clock: &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, dir: filepath.Join(dir, "ebs")}
	cfg := Config{Store: st, Network: vpc.Default(account, "us-east-1"), Instances: f.ins,
		Account: account, Region: "us-east-1", DataDir: f.dir, Now: f.clock.Now}
	for _, m := range mod {
		m(&cfg)
	}
	f.svc, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) create(t *testing.T, in CreateVolumeInput) *Volume {
	t.Helper()
	if in.AZ == "" && in.AZID == "" && in.SourceVolumeID == "" {
		in.AZ = "us-east-1a"
	}
	v, err := f.svc.CreateVolume(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantKind(t *testing.T, err error, kind apierror.Kind) {
	t.Helper()
	e, ok := apierror.As(err)
	if !ok || e.Kind != kind {
		t.Fatalf("err = %v, want %s", err, kind)
	}
	if e.Message == "" {
		t.Errorf("%s without a message", kind)
	}
}

func TestNewChecksConfig(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := vpc.Default(account, "us-east-1")
	for name, cfg := range map[string]Config{
		"no store":    {Network: n, Account: account, Region: "us-east-1", DataDir: t.TempDir()},
		"no network":  {Store: st, Account: account, Region: "us-east-1", DataDir: t.TempDir()},
		"no account":  {Store: st, Network: n, Region: "us-east-1", DataDir: t.TempDir()},
		"no data dir": {Store: st, Network: n, Account: account, Region: "us-east-1"},
		"negative":    {Store: st, Network: n, Account: account, Region: "us-east-1", DataDir: t.TempDir(), OptimizeDuration: -time.Second},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

func TestCreateVolume(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name                 string
		in                   CreateVolumeInput
		wantType             string
		wantSize, wantIOPS   int
		wantThroughput       int
		wantEncrypted, wantK bool
	}{
		{"default gp2", CreateVolumeInput{SizeGiB: 10}, "gp2", 10, 100, 0, false, false},
		{"gp2 baseline", CreateVolumeInput{SizeGiB: 1000}, "gp2", 1000, 3000, 0, false, false},
		{"gp2 max baseline", CreateVolumeInput{SizeGiB: 16000}, "gp2", 16000, 16000, 0, false, false},
		{"gp3 defaults", CreateVolumeInput{SizeGiB: 1, Type: "gp3"}, "gp3", 1, 3000, 125, false, false},
		{"gp3 max performance", CreateVolumeInput{SizeGiB: 16000, Type: "gp3", IOPS: 80000, Throughput: 2000}, "gp3", 16000, 80000, 2000, false, false},
		{"gp3 by zone id", CreateVolumeInput{AZID: "use1-az2", SizeGiB: 8, Type: "gp3"}, "gp3", 8, 3000, 125, false, false},
		{"io1", CreateVolumeInput{SizeGiB: 100, Type: "io1", IOPS: 5000}, "io1", 100, 5000, 0, false, false},
		{"io2", CreateVolumeInput{SizeGiB: 256, Type: "io2", IOPS: 256000, MultiAttach: true}, "io2", 256, 256000, 0, false, false},
		{"st1", CreateVolumeInput{SizeGiB: 125, Type: "st1"}, "st1", 125, 0, 0, false, false},
		{"standard", CreateVolumeInput{SizeGiB: 1024, Type: "standard"}, "standard", 1024, 0, 0, false, false},
		{"encrypted", CreateVolumeInput{SizeGiB: 1, Type: "gp3", Encrypted: true}, "gp3", 1, 3000, 125, true, true},
		{"own key", CreateVolumeInput{SizeGiB: 1, Type: "gp3", Encrypted: true, KMSKeyID: "alias/mine"}, "gp3", 1, 3000, 125, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := f.create(t, tt.in)
			if v.Type != tt.wantType || v.SizeGiB != tt.wantSize || v.IOPS != tt.wantIOPS || v.Throughput != tt.wantThroughput ||
				v.Encrypted != tt.wantEncrypted || (v.KMSKeyID != "") != tt.wantK || v.State != StateAvailable || !ValidVolumeID(v.ID) {
				t.Fatalf("volume = %+v", v)
			}
			st, err := os.Stat(f.svc.ImagePath(v.ID))
			if err != nil || st.Size() != int64(tt.wantSize)<<30 {
				t.Fatalf("image: %v %v", st, err)
			}
			if n, _ := allocated(f.svc.ImagePath(v.ID)); n > 1<<20 {
				t.Errorf("a new volume's file holds %d bytes; it should be sparse", n)
			}
		})
	}
	v := f.create(t, CreateVolumeInput{SizeGiB: 1, Type: "gp3", Encrypted: true, KMSKeyID: "alias/mine"})
	if v.KMSKeyID != "arn:aws:kms:us-east-1:000000000000:alias/mine" {
		t.Errorf("kms key = %s", v.KMSKeyID)
	}
}

func TestCreateVolumeRefused(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		in   CreateVolumeInput
		want apierror.Kind
	}{
		{"no zone", CreateVolumeInput{SizeGiB: 1}, MissingParameter},
		{"both zones", CreateVolumeInput{AZ: "us-east-1a", AZID: "use1-az1", SizeGiB: 1}, InvalidParameterCombination},
		{"unknown zone", CreateVolumeInput{AZ: "us-east-1z", SizeGiB: 1}, ZoneNotFound},
		{"no size", CreateVolumeInput{AZ: "us-east-1a"}, MissingParameter},
		{"unknown type", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 1, Type: "gp4"}, InvalidParameterValue},
		{"gp2 too large", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 16385}, InvalidParameterValue},
		{"gp3 too large", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 65537, Type: "gp3"}, InvalidParameterValue},
		{"io1 too small", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 3, Type: "io1", IOPS: 100}, InvalidParameterValue},
		{"st1 too small", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 124, Type: "st1"}, InvalidParameterValue},
		{"standard too large", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 1025, Type: "standard"}, InvalidParameterValue},
		{"gp2 iops", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 10, IOPS: 300}, InvalidParameterCombination},
		{"io1 without iops", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 10, Type: "io1"}, InvalidParameterCombination},
		{"io1 ratio", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 10, Type: "io1", IOPS: 501}, InvalidParameterValue},
		{"io1 too many", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 2000, Type: "io1", IOPS: 64001}, InvalidParameterValue},
		{"io1 too few", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 10, Type: "io1", IOPS: 99}, InvalidParameterValue},
		{"io2 too many", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 1000, Type: "io2", IOPS: 256001}, InvalidParameterCombination},
		{"io2 ratio", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 10, Type: "io2", IOPS: 10001}, InvalidParameterCombination},
		{"gp3 too few", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 10, Type: "gp3", IOPS: 2999}, InvalidParameterValue},
		{"gp3 too many", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 1000, Type: "gp3", IOPS: 80001}, InvalidParameterValue},
		{"gp3 ratio", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 8, Type: "gp3", IOPS: 4001}, InvalidParameterValue},
		{"gp3 throughput low", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 8, Type: "gp3", Throughput: 124}, InvalidParameterValue},
		{"gp3 throughput high", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 8, Type: "gp3", Throughput: 2001}, InvalidParameterValue},
		{"gp3 throughput ratio", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 8, Type: "gp3", Throughput: 751}, InvalidParameterValue},
		{"io1 throughput", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 10, Type: "io1", IOPS: 100, Throughput: 200}, InvalidParameterCombination},
		{"gp3 multi-attach", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 10, Type: "gp3", MultiAttach: true}, InvalidParameterCombination},
		{"key without encryption", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 10, KMSKeyID: "alias/x"}, InvalidParameterDependency},
		{"bad key", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 10, Encrypted: true, KMSKeyID: "not-a-key"}, InvalidKMSKey},
		{"aws tag", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 10, Tags: map[string]string{"aws:x": "y"}}, InvalidParameterValue},
		{"missing snapshot", CreateVolumeInput{AZ: "us-east-1a", SnapshotID: "snap-0123456789abcdef0"}, SnapshotNotFound},
		{"malformed snapshot", CreateVolumeInput{AZ: "us-east-1a", SnapshotID: "snap-x"}, SnapshotMalformed},
		{"missing source", CreateVolumeInput{SourceVolumeID: "vol-0123456789abcdef0"}, VolumeNotFound},
		{"init rate without snapshot", CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 10, InitializationRate: 100}, InvalidParameterCombination},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.CreateVolume(t.Context(), tt.in)
			wantKind(t, err, tt.want)
		})
	}
	if vols, _ := f.svc.Volumes(t.Context()); len(vols) != 0 {
		t.Errorf("refused requests left %d volumes", len(vols))
	}
	if entries, _ := os.ReadDir(filepath.Join(f.dir, "volumes")); len(entries) != 0 {
		t.Errorf("refused requests left %d files", len(entries))
	}
}

// TestCreateVolumeLargest: EC2 takes 64 TiB gp3 volumes; where the host
// filesystem cannot hold such a file (ext4 stops at 16 TiB), berth says
// it has no capacity, and leaves nothing behind.
func TestCreateVolumeLargest(t *testing.T) {
	f := newFixture(t)
	v, err := f.svc.CreateVolume(t.Context(), CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 65536, Type: "gp3"})
	if err != nil {
		wantKind(t, err, InsufficientVolumeCapacity)
		if vols, _ := f.svc.Volumes(t.Context()); len(vols) != 0 {
			t.Errorf("a refused volume left its record: %+v", vols[0])
		}
		return
	}
	if v.SizeGiB != 65536 {
		t.Fatalf("volume %+v", v)
	}
}

func TestCreateVolumeClientToken(t *testing.T) {
	f := newFixture(t)
	in := CreateVolumeInput{AZ: "us-east-1a", SizeGiB: 5, Type: "gp3", ClientToken: "tok"}
	a := f.create(t, in)
	b := f.create(t, in)
	if a.ID != b.ID {
		t.Fatalf("same token, two volumes: %s %s", a.ID, b.ID)
	}
	in.SizeGiB = 6
	_, err := f.svc.CreateVolume(t.Context(), in)
	wantKind(t, err, IdempotentParameterMismatch)
}

func TestDeleteVolume(t *testing.T) {
	f := newFixture(t)
	v := f.create(t, CreateVolumeInput{SizeGiB: 1})
	if err := f.svc.DeleteVolume(t.Context(), v.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.svc.ImagePath(v.ID)); !os.IsNotExist(err) {
		t.Errorf("image still there: %v", err)
	}
	wantKind(t, f.svc.DeleteVolume(t.Context(), v.ID), VolumeNotFound)
	wantKind(t, f.svc.DeleteVolume(t.Context(), "vol-1"), VolumeMalformed)
	_, err := f.svc.Volume(t.Context(), v.ID)
	wantKind(t, err, VolumeNotFound)
}

func TestAttachDetach(t *testing.T) {
	f := newFixture(t)
	f.ins.add("i-0000000000000000a", "m5.large", "us-east-1a", compute.StateRunning)
	f.ins.add("i-0000000000000000b", "m5.large", "us-east-1b", compute.StateRunning)
	f.ins.add("i-0000000000000000c", "m5.large", "us-east-1a", compute.StatePending)
	f.ins.add("i-0000000000000000d", "m5.large", "us-east-1a", compute.StateRunning)
	ctx := t.Context()
	v := f.create(t, CreateVolumeInput{SizeGiB: 1, Type: "gp3"})
	other := f.create(t, CreateVolumeInput{SizeGiB: 1, Type: "gp3"})
	a, err := f.svc.AttachVolume(ctx, v.ID, "i-0000000000000000a", "/dev/sdf")
	if err != nil || a.State != AttachAttaching || a.Device != "/dev/sdf" {
		t.Fatalf("attach: %+v %v", a, err)
	}
	got, _ := f.svc.Volume(ctx, v.ID)
	if got.State != StateInUse || len(got.Attachments) != 1 || got.Attachments[0].State != AttachAttached {
		t.Fatalf("after attach: %+v", got)
	}
	refused := []struct {
		name          string
		vol, ins, dev string
		want          apierror.Kind
	}{
		{"bad device", other.ID, "i-0000000000000000a", "/dev/hda", InvalidParameterValue},
		{"root device", other.ID, "i-0000000000000000a", "/dev/xvda", InvalidParameterValue},
		{"device in use", other.ID, "i-0000000000000000a", "/dev/xvdf", InvalidParameterValue},
		{"volume in use", v.ID, "i-0000000000000000d", "/dev/sdg", VolumeInUse},
		{"already attached", v.ID, "i-0000000000000000a", "/dev/sdg", VolumeInUse},
		{"other zone", other.ID, "i-0000000000000000b", "/dev/sdg", ZoneMismatch},
		{"not running", other.ID, "i-0000000000000000c", "/dev/sdg", IncorrectInstanceState},
		{"no instance", other.ID, "i-0000000000000000e", "/dev/sdg", InstanceNotFound},
		{"no volume", "vol-0123456789abcdef0", "i-0000000000000000a", "/dev/sdg", VolumeNotFound},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.AttachVolume(ctx, tt.vol, tt.ins, tt.dev)
			wantKind(t, err, tt.want)
		})
	}
	_, err = f.svc.DetachVolume(ctx, DetachVolumeInput{VolumeID: other.ID})
	wantKind(t, err, IncorrectState)
	_, err = f.svc.DetachVolume(ctx, DetachVolumeInput{VolumeID: v.ID, InstanceID: "i-0000000000000000d"})
	wantKind(t, err, AttachmentNotFound)
	_, err = f.svc.DetachVolume(ctx, DetachVolumeInput{VolumeID: v.ID, Device: "/dev/sdh"})
	wantKind(t, err, AttachmentNotFound)
	wantKind(t, f.svc.DeleteVolume(ctx, v.ID), VolumeInUse)
	d, err := f.svc.DetachVolume(ctx, DetachVolumeInput{VolumeID: v.ID, Force: true})
	if err != nil || d.State != AttachDetaching || d.InstanceID != "i-0000000000000000a" {
		t.Fatalf("detach: %+v %v", d, err)
	}
	if got, _ := f.svc.Volume(ctx, v.ID); got.State != StateAvailable || len(got.Attachments) != 0 {
		t.Fatalf("after detach: %+v", got)
	}
}

func TestAttachLimit(t *testing.T) {
	f := newFixture(t)
	f.ins.add("i-0000000000000000a", "m5.large", "us-east-1a", compute.StateRunning)
	f.ins.add("i-0000000000000000b", "m7i.large", "us-east-1a", compute.StateRunning)
	ctx := t.Context()
	for _, tt := range []struct {
		instance string
		want     int
	}{{"i-0000000000000000a", 26}, {"i-0000000000000000b", 31}} {
		names := DeviceNames()
		for i := range tt.want {
			v := f.create(t, CreateVolumeInput{SizeGiB: 1})
			if _, err := f.svc.AttachVolume(ctx, v.ID, tt.instance, names[i]); err != nil {
				t.Fatalf("attachment %d: %v", i+1, err)
			}
		}
		v := f.create(t, CreateVolumeInput{SizeGiB: 1})
		_, err := f.svc.AttachVolume(ctx, v.ID, tt.instance, names[tt.want])
		wantKind(t, err, AttachmentLimitExceeded)
	}
}

func TestMultiAttach(t *testing.T) {
	f := newFixture(t)
	f.ins.add("i-0000000000000000a", "m5.large", "us-east-1a", compute.StateRunning)
	f.ins.add("i-0000000000000000b", "m5.large", "us-east-1a", compute.StateRunning)
	ctx := t.Context()
	v := f.create(t, CreateVolumeInput{SizeGiB: 10, Type: "io2", IOPS: 1000, MultiAttach: true})
	for _, id := range []string{"i-0000000000000000a", "i-0000000000000000b"} {
		if _, err := f.svc.AttachVolume(ctx, v.ID, id, "/dev/sdf"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.svc.DetachVolume(ctx, DetachVolumeInput{VolumeID: v.ID})
	wantKind(t, err, InvalidParameterCombination)
	if _, err := f.svc.DetachVolume(ctx, DetachVolumeInput{VolumeID: v.ID, InstanceID: "i-0000000000000000a"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Volume(ctx, v.ID); got.State != StateInUse || len(got.Attachments) != 1 {
		t.Fatalf("after one detach: %+v", got)
	}
}

func TestDetachAll(t *testing.T) {
	f := newFixture(t)
	f.ins.add("i-0000000000000000a", "m5.large", "us-east-1a", compute.StateRunning)
	ctx := t.Context()
	keep := f.create(t, CreateVolumeInput{SizeGiB: 1})
	drop := f.create(t, CreateVolumeInput{SizeGiB: 1})
	for i, v := range []*Volume{keep, drop} {
		if _, err := f.svc.AttachVolume(ctx, v.ID, "i-0000000000000000a", DeviceNames()[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.svc.SetDeleteOnTermination(ctx, drop.ID, "i-0000000000000000a", true); err != nil {
		t.Fatal(err)
	}
	for range 2 { // twice: it is idempotent
		if err := f.svc.DetachAll(ctx, "i-0000000000000000a"); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := f.svc.Volume(ctx, keep.ID); err != nil || got.State != StateAvailable {
		t.Fatalf("kept volume: %+v %v", got, err)
	}
	_, err := f.svc.Volume(ctx, drop.ID)
	wantKind(t, err, VolumeNotFound)
}

func TestModifyVolume(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.OptimizeDuration = time.Hour })
	ctx := t.Context()
	v := f.create(t, CreateVolumeInput{SizeGiB: 10, Type: "gp2"})
	size, typ := 20, "gp3"
	m, err := f.svc.ModifyVolume(ctx, ModifyVolumeInput{VolumeID: v.ID, SizeGiB: &size, Type: &typ})
	if err != nil || m.State(f.clock.Now()) != ModModifying || m.TargetSize != 20 || m.TargetIOPS != 3000 || m.TargetThroughput != 125 || m.OriginalIOPS != 100 {
		t.Fatalf("modify: %+v %v", m, err)
	}
	got, _ := f.svc.Volume(ctx, v.ID)
	if got.SizeGiB != 20 || got.Type != "gp3" || got.IOPS != 3000 || got.Modification.State(f.clock.Now()) != ModOptimizing {
		t.Fatalf("after modify: %+v", got)
	}
	if st, _ := os.Stat(f.svc.ImagePath(v.ID)); st.Size() != 20<<30 {
		t.Fatalf("image size %d", st.Size())
	}
	_, err = f.svc.ModifyVolume(ctx, ModifyVolumeInput{VolumeID: v.ID, SizeGiB: &size})
	wantKind(t, err, IncorrectModificationState)
	f.clock.Add(30 * time.Minute)
	if p := got.Modification.Progress(f.clock.Now()); p != 50 {
		t.Errorf("progress %d, want 50", p)
	}
	f.clock.Add(time.Hour)
	if got.Modification.State(f.clock.Now()) != ModCompleted {
		t.Fatal("not completed")
	}
	refused := []struct {
		name string
		in   ModifyVolumeInput
		want apierror.Kind
	}{
		{"nothing", ModifyVolumeInput{VolumeID: v.ID}, MissingParameter},
		{"shrink", ModifyVolumeInput{VolumeID: v.ID, SizeGiB: ptr(19)}, InvalidParameterValue},
		{"too large", ModifyVolumeInput{VolumeID: v.ID, SizeGiB: ptr(70000)}, InvalidParameterValue},
		{"iops ratio", ModifyVolumeInput{VolumeID: v.ID, IOPS: ptr(20000)}, InvalidParameterValue},
		{"st1 too small", ModifyVolumeInput{VolumeID: v.ID, Type: ptr("st1")}, InvalidParameterValue},
		{"bad type", ModifyVolumeInput{VolumeID: v.ID, Type: ptr("gp9")}, InvalidParameterValue},
		{"gp2 iops", ModifyVolumeInput{VolumeID: v.ID, Type: ptr("gp2"), IOPS: ptr(3000)}, InvalidParameterCombination},
		{"missing", ModifyVolumeInput{VolumeID: "vol-0123456789abcdef0", SizeGiB: ptr(1)}, VolumeNotFound},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.ModifyVolume(ctx, tt.in)
			wantKind(t, err, tt.want)
		})
	}
	// Four modifications in a day, then the rate limit.
	for i := 2; i <= 4; i++ {
		f.clock.Add(2 * time.Hour)
		if _, err := f.svc.ModifyVolume(ctx, ModifyVolumeInput{VolumeID: v.ID, SizeGiB: ptr(20 + i)}); err != nil {
			t.Fatalf("modification %d: %v", i, err)
		}
	}
	f.clock.Add(2 * time.Hour)
	_, err = f.svc.ModifyVolume(ctx, ModifyVolumeInput{VolumeID: v.ID, SizeGiB: ptr(30)})
	wantKind(t, err, ModificationRateExceeded)
	mods, err := f.svc.Modifications(ctx)
	if err != nil || len(mods) != 1 || mods[0].TargetSize != 24 {
		t.Fatalf("modifications: %+v %v", mods, err)
	}
}

func TestModificationQuota(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.OptimizeDuration = time.Hour; c.ModificationQuotaGiB = 100 })
	ctx := t.Context()
	a := f.create(t, CreateVolumeInput{SizeGiB: 10, Type: "gp3"})
	b := f.create(t, CreateVolumeInput{SizeGiB: 10, Type: "gp3"})
	if _, err := f.svc.ModifyVolume(ctx, ModifyVolumeInput{VolumeID: a.ID, SizeGiB: ptr(60)}); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.ModifyVolume(ctx, ModifyVolumeInput{VolumeID: b.ID, SizeGiB: ptr(60)})
	wantKind(t, err, ModificationSizeLimitExceeded)
}

func ptr[T any](v T) *T { return &v }

// TestConcurrentAttach attaches many volumes to one instance at once: no
// two get the same device, and the limit holds.
func TestConcurrentAttach(t *testing.T) {
	f := newFixture(t)
	f.ins.add("i-0000000000000000a", "m5.large", "us-east-1a", compute.StateRunning)
	ctx := t.Context()
	names := DeviceNames()
	var vols []*Volume
	for range 30 {
		vols = append(vols, f.create(t, CreateVolumeInput{SizeGiB: 1, Type: "gp3"}))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(vols))
	for i, v := range vols {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Two volumes ask for each device name.
			_, errs[i] = f.svc.AttachVolume(ctx, v.ID, "i-0000000000000000a", names[i/2])
		}()
	}
	wg.Wait()
	attached, err := f.svc.AttachedVolumes(ctx, "i-0000000000000000a")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, v := range attached {
		a, _ := v.AttachmentTo("i-0000000000000000a")
		if seen[a.Device] {
			t.Errorf("device %s attached twice", a.Device)
		}
		seen[a.Device] = true
	}
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	if ok != len(attached) || ok != 15 {
		t.Fatalf("%d attaches succeeded, %d volumes attached, want 15", ok, len(attached))
	}
}
