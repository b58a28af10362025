// Package credentials keeps the account's access keys in berth's store:
// the root credential berth creates on first start, the long-term keys of
// IAM users and the temporary credentials of STS sessions. The keyring is
// looked up on every signed request; it also writes the root key out in
// the AWS shared-credentials format for the CLI and SDKs.
package credentials

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/sigv4"
	"github.com/berthproject/berth/internal/store"
)

// Kind is the store kind of access keys.
const Kind = "accesskeys"

// Errors of the keyring; check them with errors.Is.
var (
	ErrNotFound = errors.New("credentials: no such access key")
	ErrExists   = errors.New("credentials: access key id already in use")
)

// Store is what the keyring needs of berth's store.
type Store interface {
	Get(ctx context.Context, kind, key string) (store.Record, error)
	Revision(ctx context.Context, kind, key string) (uint64, error)
	List(ctx context.Context, kind, prefix string) ([]store.Record, error)
	Apply(ctx context.Context, ops ...store.Op) (uint64, error)
}

// Key is one stored access key: the root's, an IAM user's, or the
// temporary credential of an STS session.
type Key struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	// Principal is the ARN of the identity the key signs as:
	// arn:aws:iam::ACCOUNT:root, a user ARN, or an assumed-role ARN
	// (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION).
	Principal string `json:"principal"`
	// PrincipalID is the identity's unique id, the UserId of
	// GetCallerIdentity: the account id for the root (empty in keys
	// written before berth had IAM), AIDA... for a user,
	// AROA...:SESSION for a session.
	PrincipalID string `json:"principalId,omitempty"`
	Root        bool   `json:"root,omitempty"`
	// UserName is the IAM user that owns a user's key.
	UserName string `json:"userName,omitempty"`
	// Created is when the key was made (zero for the root key).
	Created time.Time `json:"created,omitzero"`
	// SessionToken and Expires are set for temporary credentials: a
	// request must carry the token, and the key stops working at Expires.
	SessionToken string    `json:"sessionToken,omitempty"`
	Expires      time.Time `json:"expires,omitzero"`
}

// Temporary reports whether k is the credential of an STS session.
func (k Key) Temporary() bool { return k.SessionToken != "" }

// Credential is what SigV4 verification needs of k.
func (k Key) Credential() sigv4.Credential {
	return sigv4.Credential{
		AccessKeyID:     k.AccessKeyID,
		SecretAccessKey: k.SecretAccessKey,
		SessionToken:    k.SessionToken,
		Expires:         k.Expires,
		Principal:       k.Principal,
	}
}

// Keyring looks up access keys; it implements sigv4.Lookup.
type Keyring struct {
	st Store
	// decoded caches keys by id with the revision they were read at, so a
	// signed request costs one revision look-up, not a decode. Every
	// look-up checks the stored revision first, so a deleted key stops
	// working at once.
	decoded sync.Map
}

type cachedKey struct {
	rev uint64
	key Key
}

var _ sigv4.Lookup = (*Keyring)(nil)

// NewKeyring returns a keyring over st.
func NewKeyring(st Store) *Keyring { return &Keyring{st: st} }

// Credential returns the secret of an access key, with its session token
// and expiry for temporary credentials.
func (k *Keyring) Credential(ctx context.Context, id string) (sigv4.Credential, error) {
	key, err := k.Key(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return sigv4.Credential{}, sigv4.ErrUnknownKey
	}
	if err != nil {
		return sigv4.Credential{}, err
	}
	return key.Credential(), nil
}

// Key returns the stored access key id, or ErrNotFound.
func (k *Keyring) Key(ctx context.Context, id string) (Key, error) {
	if id == "" {
		return Key{}, ErrNotFound
	}
	rev, err := k.st.Revision(ctx, Kind, id)
	if errors.Is(err, store.ErrNotFound) {
		k.decoded.Delete(id)
		return Key{}, ErrNotFound
	}
	if err != nil {
		return Key{}, fmt.Errorf("reading access key: %w", err)
	}
	if c, ok := k.decoded.Load(id); ok && c.(cachedKey).rev == rev {
		return c.(cachedKey).key, nil
	}
	rec, err := k.st.Get(ctx, Kind, id)
	if errors.Is(err, store.ErrNotFound) {
		k.decoded.Delete(id)
		return Key{}, ErrNotFound
	}
	if err != nil {
		return Key{}, fmt.Errorf("reading access key: %w", err)
	}
	var key Key
	if err := json.Unmarshal(rec.Value, &key); err != nil {
		return Key{}, fmt.Errorf("decoding access key %s: %w", id, err)
	}
	k.decoded.Store(id, cachedKey{rev: rec.Revision, key: key})
	return key, nil
}

// List returns every stored key, in access key id order.
func (k *Keyring) List(ctx context.Context) ([]Key, error) {
	recs, err := k.st.List(ctx, Kind, "")
	if err != nil {
		return nil, fmt.Errorf("listing access keys: %w", err)
	}
	keys := make([]Key, 0, len(recs))
	for _, r := range recs {
		var key Key
		if err := json.Unmarshal(r.Value, &key); err != nil {
			return nil, fmt.Errorf("decoding access key %s: %w", r.Key, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// Create stores a new key; ErrExists if its id is taken.
func (k *Keyring) Create(ctx context.Context, key Key) error {
	if key.AccessKeyID == "" || key.SecretAccessKey == "" {
		return errors.New("credentials: a key needs an access key id and a secret")
	}
	raw, err := json.Marshal(key)
	if err != nil {
		return err
	}
	if _, err := k.st.Apply(ctx, store.Op{Kind: Kind, Key: key.AccessKeyID, Value: raw, Create: true}); err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("%w: %s", ErrExists, key.AccessKeyID)
		}
		return fmt.Errorf("storing access key %s: %w", key.AccessKeyID, err)
	}
	return nil
}

// Delete removes a key; it stops working at once. ErrNotFound if there
// is no such key.
func (k *Keyring) Delete(ctx context.Context, id string) error {
	_, err := k.st.Apply(ctx, store.Op{Kind: Kind, Key: id, Delete: true})
	k.decoded.Delete(id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("deleting access key %s: %w", id, err)
	}
	return nil
}

// Sweep removes the temporary credentials that expired before t and
// returns how many it removed. Until then an expired credential stays, so
// that requests signed with it fail as expired, not as unknown.
func (k *Keyring) Sweep(ctx context.Context, t time.Time) (int, error) {
	keys, err := k.List(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, key := range keys {
		if !key.Temporary() || key.Expires.IsZero() || !key.Expires.Before(t) {
			continue
		}
		if err := k.Delete(ctx, key.AccessKeyID); err != nil && !errors.Is(err, ErrNotFound) {
			return n, err
		}
		n++
	}
	return n, nil
}

// EnsureRoot returns the account's root access key, creating it on first use.
func (k *Keyring) EnsureRoot(ctx context.Context, account string) (Key, error) {
	keys, err := k.List(ctx)
	if err != nil {
		return Key{}, err
	}
	for _, key := range keys {
		if key.Root {
			return key, nil
		}
	}
	key := Key{
		AccessKeyID:     NewAccessKeyID(LongTermPrefix),
		SecretAccessKey: NewSecret(),
		Principal:       "arn:aws:iam::" + account + ":root",
		PrincipalID:     account,
		Root:            true,
	}
	if err := k.Create(ctx, key); err != nil {
		return Key{}, fmt.Errorf("storing the root access key: %w", err)
	}
	return key, nil
}

// Access key id prefixes, as AWS uses them.
const (
	LongTermPrefix  = "AKIA" // long-term keys of the root and IAM users
	TemporaryPrefix = "ASIA" // temporary credentials from STS
)

// idAlphabet is the alphabet of AWS unique ids: upper-case base32.
const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// NewAccessKeyID returns prefix followed by 16 random characters, an
// access key id of AWS's shape (20 characters with a 4-letter prefix).
func NewAccessKeyID(prefix string) string { return prefix + RandomID(16) }

// RandomID returns n random characters of AWS's unique-id alphabet
// (A-Z, 2-7).
func RandomID(n int) string { return randomString(n, idAlphabet) }

// NewSecret returns a random 40-character secret access key.
func NewSecret() string {
	return randomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
}

// NewSessionToken returns a random session token for temporary
// credentials.
func NewSessionToken() string {
	b := make([]byte, 96)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.StdEncoding.EncodeToString(b)
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
