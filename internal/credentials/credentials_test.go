package credentials

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/sigv4"
	"github.com/berthproject/berth/internal/store"
)

func newKeyring(t *testing.T) *Keyring {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return NewKeyring(st)
}

func TestEnsureRoot(t *testing.T) {
	k := newKeyring(t)
	root, err := k.EnsureRoot(t.Context(), "000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(root.AccessKeyID, "AKIA") || len(root.AccessKeyID) != 20 || len(root.SecretAccessKey) != 40 {
		t.Errorf("root key %q/%d chars of secret, want AKIA + 16 and 40", root.AccessKeyID, len(root.SecretAccessKey))
	}
	if root.Principal != "arn:aws:iam::000000000000:root" || root.PrincipalID != "000000000000" || !root.Root {
		t.Errorf("root key = %+v", root)
	}
	again, err := k.EnsureRoot(t.Context(), "000000000000")
	if err != nil || again.AccessKeyID != root.AccessKeyID {
		t.Fatalf("second EnsureRoot = %s, %v; want the same key %s", again.AccessKeyID, err, root.AccessKeyID)
	}
}

func TestKeyLifecycle(t *testing.T) {
	k := newKeyring(t)
	ctx := t.Context()
	key := Key{AccessKeyID: NewAccessKeyID(LongTermPrefix), SecretAccessKey: NewSecret(), Principal: "arn:aws:iam::000000000000:user/bob", UserName: "bob"}
	if err := k.Create(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := k.Create(ctx, key); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	cred, err := k.Credential(ctx, key.AccessKeyID)
	if err != nil || cred.SecretAccessKey != key.SecretAccessKey || cred.Principal != key.Principal {
		t.Fatalf("Credential = %+v, %v", cred, err)
	}
	// Twice: the second answer comes from the cache.
	if _, err := k.Credential(ctx, key.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if err := k.Delete(ctx, key.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Credential(ctx, key.AccessKeyID); !errors.Is(err, sigv4.ErrUnknownKey) {
		t.Fatalf("Credential after Delete: %v, want ErrUnknownKey", err)
	}
	if err := k.Delete(ctx, key.AccessKeyID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v, want ErrNotFound", err)
	}
}

// TestDeleteNotCached checks that a key deleted behind the keyring's back
// (another keyring over the same store) stops working at once.
func TestDeleteNotCached(t *testing.T) {
	k := newKeyring(t)
	other := NewKeyring(k.st)
	ctx := t.Context()
	key := Key{AccessKeyID: NewAccessKeyID(LongTermPrefix), SecretAccessKey: NewSecret(), Principal: "arn:aws:iam::000000000000:user/bob", UserName: "bob"}
	if err := k.Create(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Credential(ctx, key.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if err := other.Delete(ctx, key.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Credential(ctx, key.AccessKeyID); !errors.Is(err, sigv4.ErrUnknownKey) {
		t.Fatalf("Credential after another keyring deleted it: %v, want ErrUnknownKey", err)
	}
}

func TestTemporaryAndSweep(t *testing.T) {
	k := newKeyring(t)
	ctx := t.Context()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mk := func(expires time.Time) Key {
		key := Key{AccessKeyID: NewAccessKeyID(TemporaryPrefix), SecretAccessKey: NewSecret(), SessionToken: NewSessionToken(),
			Principal: "arn:aws:sts::000000000000:assumed-role/r/s", PrincipalID: "AROAEXAMPLE:s", Expires: expires}
		if err := k.Create(ctx, key); err != nil {
			t.Fatal(err)
		}
		return key
	}
	old := mk(now.Add(-2 * time.Hour))
	recent := mk(now.Add(-time.Minute))
	live := mk(now.Add(time.Hour))
	long := Key{AccessKeyID: NewAccessKeyID(LongTermPrefix), SecretAccessKey: NewSecret(), Principal: "arn:aws:iam::000000000000:user/u", UserName: "u"}
	if err := k.Create(ctx, long); err != nil {
		t.Fatal(err)
	}

	cred, err := k.Credential(ctx, live.AccessKeyID)
	if err != nil || cred.SessionToken != live.SessionToken || !cred.Expires.Equal(live.Expires) {
		t.Fatalf("Credential of a session = %+v, %v; want its token and expiry", cred, err)
	}
	if !strings.HasPrefix(live.AccessKeyID, "ASIA") || !live.Temporary() || long.Temporary() {
		t.Errorf("temporary keys: %s %v, long-term %v", live.AccessKeyID, live.Temporary(), long.Temporary())
	}

	n, err := k.Sweep(ctx, now.Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	for _, tc := range []struct {
		id   string
		kept bool
	}{{old.AccessKeyID, false}, {recent.AccessKeyID, true}, {live.AccessKeyID, true}, {long.AccessKeyID, true}} {
		_, err := k.Key(ctx, tc.id)
		if kept := err == nil; kept != tc.kept {
			t.Errorf("key %s kept = %v (%v), want %v", tc.id, kept, err, tc.kept)
		}
	}
}
