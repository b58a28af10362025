package ebs

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/berthproject/berth/internal/store"
)

// writeAt writes data into a volume's image at off.
func writeAt(t *testing.T, path string, off int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
}

func readAt(t *testing.T, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSnapshotRestoreAndClone(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	v := f.create(t, CreateVolumeInput{SizeGiB: 2, Type: "gp3", Encrypted: true})
	hello := []byte("hello, block device")
	writeAt(t, f.svc.ImagePath(v.ID), 1<<30+4096, hello)
	if err := os.MkdirAll(filepath.Join(f.svc.FilesPath(v.ID), "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.svc.FilesPath(v.ID), "sub", "f"), []byte("emulated"), 0o644); err != nil {
		t.Fatal(err)
	}

	snap, err := f.svc.CreateSnapshot(ctx, CreateSnapshotInput{VolumeID: v.ID, Description: "d", Tags: map[string]string{"k": "v"}})
	if err != nil || snap.State != SnapPending || !ValidSnapshotID(snap.ID) {
		t.Fatalf("create snapshot: %+v %v", snap, err)
	}
	snap, err = f.svc.Snapshot(ctx, snap.ID)
	if err != nil || snap.State != SnapCompleted || snap.VolumeSizeGiB != 2 || !snap.Encrypted || snap.KMSKeyID != v.KMSKeyID || snap.Progress() != "100%" {
		t.Fatalf("snapshot: %+v %v", snap, err)
	}
	if snap.DataBytes <= 0 || snap.DataBytes > 1<<20 {
		t.Errorf("snapshot holds %d bytes; the copy should keep the holes", snap.DataBytes)
	}
	// The volume changes after the snapshot; the snapshot does not.
	writeAt(t, f.svc.ImagePath(v.ID), 1<<30+4096, []byte("HELLO"))

	restored := f.create(t, CreateVolumeInput{SnapshotID: snap.ID, Type: "gp3", AZ: "us-east-1b"})
	if restored.SizeGiB != 2 || !restored.Encrypted || restored.SnapshotID != snap.ID || restored.AZ != "us-east-1b" {
		t.Fatalf("restored: %+v", restored)
	}
	if got := readAt(t, f.svc.ImagePath(restored.ID), 1<<30+4096, len(hello)); !bytes.Equal(got, hello) {
		t.Fatalf("restored data %q", got)
	}
	if b, err := os.ReadFile(filepath.Join(f.svc.FilesPath(restored.ID), "sub", "f")); err != nil || string(b) != "emulated" {
		t.Fatalf("restored files: %q %v", b, err)
	}
	bigger := f.create(t, CreateVolumeInput{SnapshotID: snap.ID, SizeGiB: 5, Type: "gp3"})
	if st, _ := os.Stat(f.svc.ImagePath(bigger.ID)); st.Size() != 5<<30 {
		t.Fatalf("bigger restore is %d bytes", st.Size())
	}
	_, err = f.svc.CreateVolume(ctx, CreateVolumeInput{AZ: "us-east-1a", SnapshotID: snap.ID, SizeGiB: 1})
	wantKind(t, err, InvalidParameterValue)

	clone := f.create(t, CreateVolumeInput{SourceVolumeID: v.ID, Type: "gp3"})
	if clone.AZ != v.AZ || clone.SizeGiB != 2 || clone.SourceVolumeID != v.ID {
		t.Fatalf("clone: %+v", clone)
	}
	if got := readAt(t, f.svc.ImagePath(clone.ID), 1<<30+4096, 5); string(got) != "HELLO" {
		t.Fatalf("clone data %q", got)
	}
	_, err = f.svc.CreateVolume(ctx, CreateVolumeInput{SourceVolumeID: v.ID, AZ: "us-east-1b"})
	wantKind(t, err, InvalidParameterValue)

	if err := f.svc.DeleteSnapshot(ctx, snap.ID); err != nil {
		t.Fatal(err)
	}
	wantKind(t, f.svc.DeleteSnapshot(ctx, snap.ID), SnapshotNotFound)
	if _, err := os.Stat(filepath.Join(f.dir, "snapshots", snap.ID+imageSuffix)); !os.IsNotExist(err) {
		t.Errorf("snapshot data left: %v", err)
	}
	// Volumes made from the snapshot keep their data.
	if got := readAt(t, f.svc.ImagePath(restored.ID), 1<<30+4096, len(hello)); !bytes.Equal(got, hello) {
		t.Fatalf("restored data after the snapshot went: %q", got)
	}
	_, err = f.svc.CreateSnapshot(ctx, CreateSnapshotInput{VolumeID: "vol-0123456789abcdef0"})
	wantKind(t, err, VolumeNotFound)
}

func TestCopySparseKeepsHoles(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := createSparse(src, 64<<20); err != nil {
		t.Fatal(err)
	}
	writeAt(t, src, 0, []byte("head"))
	writeAt(t, src, 32<<20, bytes.Repeat([]byte{7}, 8192))
	writeAt(t, src, 64<<20-4, []byte("tail"))
	dst := filepath.Join(dir, "dst")
	n, err := copySparse(dst, src, 128<<20)
	if err != nil {
		t.Fatal(err)
	}
	if n > 1<<20 {
		t.Errorf("copy holds %d bytes", n)
	}
	st, _ := os.Stat(dst)
	if st.Size() != 128<<20 {
		t.Fatalf("copy is %d bytes", st.Size())
	}
	for off, want := range map[int64][]byte{0: []byte("head"), 32 << 20: bytes.Repeat([]byte{7}, 8192), 64<<20 - 4: []byte("tail"), 100 << 20: make([]byte, 16)} {
		if got := readAt(t, dst, off, len(want)); !bytes.Equal(got, want) {
			t.Errorf("at %d: %q", off, got)
		}
	}
	// The buffered path gives the same bytes.
	out, err := os.Create(filepath.Join(dir, "buffered"))
	if err != nil {
		t.Fatal(err)
	}
	in, _ := os.Open(src)
	defer in.Close()
	if err := copyBuffered(out, in, 0, 64<<20); err != nil {
		t.Fatal(err)
	}
	out.Close()
	if got := readAt(t, filepath.Join(dir, "buffered"), 32<<20, 4); !bytes.Equal(got, []byte{7, 7, 7, 7}) {
		t.Errorf("buffered copy %q", got)
	}
}

// putRecord writes a record as a crash would have left it.
func putRecord(t *testing.T, st *store.Bolt, kind, key string, v any) {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(t.Context(), kind, key, raw, 0); err != nil {
		t.Fatal(err)
	}
}

func TestReconcile(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.ins.add("i-0000000000000000a", "m5.large", "us-east-1a", "running")
	base := f.create(t, CreateVolumeInput{SizeGiB: 1, Type: "gp3"})
	writeAt(t, f.svc.ImagePath(base.ID), 0, []byte("base"))
	snap, err := f.svc.CreateSnapshot(ctx, CreateSnapshotInput{VolumeID: base.ID})
	if err != nil {
		t.Fatal(err)
	}

	// A volume the crash left creating, with a half-written temporary copy.
	creating := &Volume{ID: "vol-0000000000000000c", Type: "gp3", SizeGiB: 2, IOPS: 3000, Throughput: 125, AZ: "us-east-1a", State: StateCreating, SnapshotID: snap.ID}
	putRecord(t, f.st, KindVolume, creating.ID, creating)
	if err := os.WriteFile(f.svc.ImagePath(creating.ID)+tmpSuffix, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	// One whose snapshot is gone.
	orphan := &Volume{ID: "vol-0000000000000000d", Type: "gp3", SizeGiB: 2, AZ: "us-east-1a", State: StateCreating, SnapshotID: "snap-0000000000000000d"}
	putRecord(t, f.st, KindVolume, orphan.ID, orphan)
	// A modification that had not grown the file yet.
	mod := f.create(t, CreateVolumeInput{SizeGiB: 1, Type: "gp3"})
	if _, err := f.svc.mutateVolume(ctx, mod.ID, func(v *Volume) error {
		v.Modification = &Modification{VolumeID: v.ID, Phase: ModModifying, OriginalSize: 1, OriginalType: "gp3", TargetSize: 3, TargetType: "gp3", TargetIOPS: 3000, TargetThroughput: 125}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A pending snapshot.
	pending := &Snapshot{ID: "snap-0000000000000000e", VolumeID: base.ID, VolumeSizeGiB: 1, State: SnapPending, AZ: "us-east-1a"}
	putRecord(t, f.st, KindSnapshot, pending.ID, pending)
	// An attachment to an instance that is gone.
	att := f.create(t, CreateVolumeInput{SizeGiB: 1, Type: "gp3"})
	if _, err := f.svc.AttachVolume(ctx, att.ID, "i-0000000000000000a", "/dev/sdf"); err != nil {
		t.Fatal(err)
	}
	f.ins.add("i-0000000000000000a", "m5.large", "us-east-1a", "terminated")
	// Files nobody owns.
	for _, p := range []string{
		filepath.Join(f.dir, "volumes", "vol-00000000000000099.img"),
		filepath.Join(f.dir, "volumes", "vol-00000000000000099.fs"),
		filepath.Join(f.dir, "snapshots", "snap-00000000000000099.img.tmp"),
		f.svc.ImagePath(base.ID) + tmpSuffix,
	} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	for range 2 { // twice: it is idempotent
		if err := f.svc.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := f.svc.Volume(ctx, creating.ID); v.State != StateAvailable || string(readAt(t, f.svc.ImagePath(creating.ID), 0, 4)) != "base" {
		t.Errorf("creating volume: %+v", v)
	}
	if st, _ := os.Stat(f.svc.ImagePath(creating.ID)); st.Size() != 2<<30 {
		t.Errorf("creating volume's image is %d bytes", st.Size())
	}
	if v, _ := f.svc.Volume(ctx, orphan.ID); v.State != StateError || v.StateMessage == "" {
		t.Errorf("orphan volume: %+v", v)
	}
	if v, _ := f.svc.Volume(ctx, mod.ID); v.SizeGiB != 3 || v.Modification.Phase != ModOptimizing {
		t.Errorf("modified volume: %+v", v)
	}
	if st, _ := os.Stat(f.svc.ImagePath(mod.ID)); st.Size() != 3<<30 {
		t.Errorf("modified image is %d bytes", st.Size())
	}
	if s, _ := f.svc.Snapshot(ctx, pending.ID); s.State != SnapCompleted {
		t.Errorf("pending snapshot: %+v", s)
	}
	if v, _ := f.svc.Volume(ctx, att.ID); v.State != StateAvailable {
		t.Errorf("attached to a terminated instance: %+v", v)
	}
	entries, _ := os.ReadDir(filepath.Join(f.dir, "volumes"))
	snaps, _ := os.ReadDir(filepath.Join(f.dir, "snapshots"))
	for _, e := range append(entries, snaps...) {
		id := dataID(e.Name())
		if id == "vol-00000000000000099" || id == "snap-00000000000000099" || filepath.Ext(e.Name()) == tmpSuffix {
			t.Errorf("left over: %s", e.Name())
		}
	}
}
