// Package credentials keeps the account's access keys in berth's store: the
// root credential berth creates on first start, looked up on every signed
// request, and written out in the AWS shared-credentials format for the
// CLI and SDKs.
package credentials

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/berthproject/berth/internal/sigv4"
	"github.com/berthproject/berth/internal/store"
)

// Kind is the store kind of access keys.
const Kind = "accesskeys"

// Store is what the keyring needs of berth's store.
type Store interface {
	Get(ctx context.Context, kind, key string) (store.Record, error)
	Revision(ctx context.Context, kind, key string) (uint64, error)
	List(ctx context.Context, kind, prefix string) ([]store.Record, error)
	Apply(ctx context.Context, ops ...store.Op) (uint64, error)
}

// Key is one stored access key.
type Key struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	Principal       string `json:"principal"`
	Root            bool   `json:"root,omitempty"`
}

// Keyring looks up access keys; it implements sigv4.Lookup.
type Keyring struct {
	st Store
	// decoded caches keys by id with the revision they were read at, so a
	// signed request costs one revision look-up, not a decode.
	decoded sync.Map
}

type cachedKey struct {
	rev  uint64
	cred sigv4.Credential
}

var _ sigv4.Lookup = (*Keyring)(nil)

// NewKeyring returns a keyring over st.
func NewKeyring(st Store) *Keyring { return &Keyring{st: st} }

// Credential returns the secret of an access key.
func (k *Keyring) Credential(ctx context.Context, id string) (sigv4.Credential, error) {
	rev, err := k.st.Revision(ctx, Kind, id)
	if errors.Is(err, store.ErrNotFound) {
		k.decoded.Delete(id)
		return sigv4.Credential{}, sigv4.ErrUnknownKey
	}
	if err != nil {
		return sigv4.Credential{}, fmt.Errorf("reading access key: %w", err)
	}
	if c, ok := k.decoded.Load(id); ok && c.(cachedKey).rev == rev {
		return c.(cachedKey).cred, nil
	}
	rec, err := k.st.Get(ctx, Kind, id)
	if errors.Is(err, store.ErrNotFound) {
		return sigv4.Credential{}, sigv4.ErrUnknownKey
	}
	if err != nil {
		return sigv4.Credential{}, fmt.Errorf("reading access key: %w", err)
	}
	var key Key
	if err := json.Unmarshal(rec.Value, &key); err != nil {
		return sigv4.Credential{}, fmt.Errorf("decoding access key %s: %w", id, err)
	}
	cred := sigv4.Credential{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey, Principal: key.Principal}
	k.decoded.Store(id, cachedKey{rev: rec.Revision, cred: cred})
	return cred, nil
}

// EnsureRoot returns the account's root access key, creating it on first use.
func (k *Keyring) EnsureRoot(ctx context.Context, account string) (Key, error) {
	recs, err := k.st.List(ctx, Kind, "")
	if err != nil {
		return Key{}, fmt.Errorf("listing access keys: %w", err)
	}
	for _, r := range recs {
		var key Key
		if err := json.Unmarshal(r.Value, &key); err == nil && key.Root {
			return key, nil
		}
	}
	key := Key{
		AccessKeyID:     "AKIA" + randomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
		SecretAccessKey: randomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
		Principal:       "arn:aws:iam::" + account + ":root",
		Root:            true,
	}
	raw, err := json.Marshal(key)
	if err != nil {
		return Key{}, err
	}
	if _, err := k.st.Apply(ctx, store.Op{Kind: Kind, Key: key.AccessKeyID, Value: raw, Create: true}); err != nil {
		return Key{}, fmt.Errorf("storing the root access key: %w", err)
	}
	return key, nil
}

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Files are the paths WriteFiles writes.
type Files struct {
	Credentials string // shared credentials file, profile default
	Config      string // shared config file: region and endpoint_url
}

// WriteFiles writes the shared credentials and config files for key into
// dir, mode 0600, atomically.
func WriteFiles(dir string, key Key, region, endpoint string) (Files, error) {
	f := Files{Credentials: filepath.Join(dir, "credentials"), Config: filepath.Join(dir, "config")}
	creds := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", key.AccessKeyID, key.SecretAccessKey)
	cfg := fmt.Sprintf("[default]\nregion = %s\nendpoint_url = %s\noutput = json\n", region, endpoint)
	for path, content := range map[string]string{f.Credentials: creds, f.Config: cfg} {
		if err := writeAtomic(path, content); err != nil {
			return Files{}, err
		}
	}
	return f, nil
}

func writeAtomic(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Usage tells a user how to point the AWS CLI at berth.
func Usage(f Files) string {
	var b strings.Builder
	fmt.Fprintf(&b, "export AWS_SHARED_CREDENTIALS_FILE=%s\n", f.Credentials)
	fmt.Fprintf(&b, "export AWS_CONFIG_FILE=%s\n", f.Config)
	return b.String()
}
