package store

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func open(t *testing.T) (*Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "berth.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestCRUDAndRevisions(t *testing.T) {
	s, _ := open(t)
	ctx := t.Context()
	r1, err := s.Create(ctx, "clusters", "a", []byte(`{"v":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "clusters", "a", []byte(`{}`)); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	rec, err := s.Get(ctx, "clusters", "a")
	if err != nil || rec.Revision != r1 || string(rec.Value) != `{"v":1}` {
		t.Fatalf("get: %+v %v", rec, err)
	}
	r2, err := s.Put(ctx, "clusters", "a", []byte(`{"v":2}`), r1)
	if err != nil || r2 <= r1 {
		t.Fatalf("put: %d %v", r2, err)
	}
	if _, err := s.Put(ctx, "clusters", "a", []byte(`{"v":3}`), r1); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale put: %v", err)
	}
	if err := s.Delete(ctx, "clusters", "a", r1); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale delete: %v", err)
	}
	if err := s.Delete(ctx, "clusters", "a", r2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "clusters", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if err := s.Delete(ctx, "clusters", "a", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete missing: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("not json")} {
		if _, err := s.Put(ctx, "clusters", "b", bad, 0); err == nil {
			t.Errorf("put %q: no error", bad)
		}
	}
	if _, err := s.Put(ctx, "", "b", []byte("{}"), 0); err == nil {
		t.Error("empty kind accepted")
	}
}

func TestApplyIsAtomic(t *testing.T) {
	s, _ := open(t)
	ctx := t.Context()
	if _, err := s.Create(ctx, "k", "x", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Apply(ctx, Op{Kind: "k", Key: "y", Value: []byte(`2`)}, Op{Kind: "k", Key: "x", Value: []byte(`3`), Create: true})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("apply: %v", err)
	}
	if _, err := s.Get(ctx, "k", "y"); !errors.Is(err, ErrNotFound) {
		t.Fatal("a failed Apply wrote part of its ops")
	}
}

func TestListPrefixAndOrder(t *testing.T) {
	s, _ := open(t)
	ctx := t.Context()
	for _, k := range []string{"b/2", "a/1", "b/1", "c"} {
		if _, err := s.Create(ctx, "u", k, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := s.List(ctx, "u", "b/")
	if err != nil || len(recs) != 2 || recs[0].Key != "b/1" || recs[1].Key != "b/2" {
		t.Fatalf("list: %+v %v", recs, err)
	}
	if recs, _ := s.List(ctx, "none", ""); len(recs) != 0 {
		t.Fatal("list of an empty kind")
	}
}

func TestDurableAcrossReopen(t *testing.T) {
	s, path := open(t)
	ctx := t.Context()
	if _, err := s.Create(ctx, "clusters", "kept", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	// A second opener is refused while the first holds the file.
	if _, err := Open(path); err == nil {
		t.Fatal("second Open of a locked store succeeded")
	}
	s.Close()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if rec, err := s2.Get(ctx, "clusters", "kept"); err != nil || string(rec.Value) != `{"a":1}` {
		t.Fatalf("after reopen: %+v %v", rec, err)
	}
	r, err := s2.Create(ctx, "clusters", "new", []byte(`{}`))
	if err != nil || r < 2 {
		t.Fatalf("revision after reopen: %d %v", r, err)
	}
}

func TestWatch(t *testing.T) {
	s, _ := open(t)
	ctx := t.Context()
	ch, err := s.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "clusters", "w", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "clusters", "w", 0); err != nil {
		t.Fatal(err)
	}
	for _, wantDeleted := range []bool{false, true} {
		select {
		case ev := <-ch:
			if ev.Key != "w" || ev.Deleted != wantDeleted {
				t.Fatalf("event %+v", ev)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
	}
}

func TestConcurrentWriters(t *testing.T) {
	s, _ := open(t)
	ctx := t.Context()
	if _, err := s.Create(ctx, "n", "counter", []byte(`0`)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, _ := s.Get(ctx, "n", "counter")
			if _, err := s.Put(ctx, "n", "counter", []byte(`1`), rec.Revision); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins < 1 {
		t.Fatal("no writer won")
	}
}
