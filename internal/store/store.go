package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Sentinel errors; check them with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	ErrConflict = errors.New("store: revision conflict")
	ErrClosed   = errors.New("store: closed")
)

// Record is one stored value and the revision that last wrote it.
type Record struct {
	Kind     string
	Key      string
	Value    []byte
	Revision uint64
}

// Event tells a watcher that a record changed. Deleted is true when the
// record is gone; Value is then nil.
type Event struct {
	Kind     string
	Key      string
	Revision uint64
	Deleted  bool
}

// Bolt is the bbolt-backed store.
type Bolt struct {
	db *bolt.DB

	mu       sync.Mutex
	watchers map[int]chan<- Event
	nextID   int
	closed   bool
}

// Open opens (creating if needed) the store file at path.
func Open(path string) (*Bolt, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: creating directory: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("store: %s is locked by another process (is another berth running with this data dir?)", path)
		}
		return nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	return &Bolt{db: db, watchers: map[int]chan<- Event{}}, nil
}

// Close closes the store and every watch channel.
func (s *Bolt) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for id, ch := range s.watchers {
			close(ch)
			delete(s.watchers, id)
		}
	}
	s.mu.Unlock()
	return s.db.Close()
}

var revKey = []byte("revision")

func metaBucket(tx *bolt.Tx) (*bolt.Bucket, error) {
	return tx.CreateBucketIfNotExists([]byte("\x00meta"))
}

func validName(kind, key string) error {
	if kind == "" || strings.HasPrefix(kind, "\x00") {
		return fmt.Errorf("store: invalid kind %q", kind)
	}
	if key == "" {
		return fmt.Errorf("store: empty key for kind %q", kind)
	}
	return nil
}

// value layout: 8-byte big-endian revision, then the JSON document.
func encode(rev uint64, v []byte) []byte {
	b := make([]byte, 8+len(v))
	binary.BigEndian.PutUint64(b, rev)
	copy(b[8:], v)
	return b
}

func decode(kind, key string, b []byte) (Record, error) {
	if len(b) < 8 {
		return Record{}, fmt.Errorf("store: corrupt record %s/%s", kind, key)
	}
	v := make([]byte, len(b)-8)
	copy(v, b[8:])
	return Record{Kind: kind, Key: key, Value: v, Revision: binary.BigEndian.Uint64(b)}, nil
}

// Get returns one record.
func (s *Bolt) Get(_ context.Context, kind, key string) (Record, error) {
	var rec Record
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(kind))
		if b == nil {
			return ErrNotFound
		}
		raw := b.Get([]byte(key))
		if raw == nil {
			return ErrNotFound
		}
		var err error
		rec, err = decode(kind, key, raw)
		return err
	})
	return rec, err
}

// Revision returns the revision of one record without reading its value.
func (s *Bolt) Revision(_ context.Context, kind, key string) (uint64, error) {
	var rev uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(kind))
		if b == nil {
			return ErrNotFound
		}
		raw := b.Get([]byte(key))
		if len(raw) < 8 {
			return ErrNotFound
		}
		rev = binary.BigEndian.Uint64(raw)
		return nil
	})
	return rev, err
}

// List returns the records of a kind whose key starts with prefix, in key order.
func (s *Bolt) List(_ context.Context, kind, prefix string) ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(kind))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && strings.HasPrefix(string(k), prefix); k, v = c.Next() {
			rec, err := decode(kind, string(k), v)
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// Op is one write inside a transaction (see Apply).
type Op struct {
	Kind, Key string
	// Value nil with Delete false is invalid.
	Value  []byte
	Delete bool
	// Create requires that the record does not exist.
	Create bool
	// IfRevision, when non-zero, requires the record's current revision to match.
	IfRevision uint64
}

// Put creates the record if it does not exist, else requires ifRev (when
// non-zero) to match. It returns the new revision.
func (s *Bolt) Put(ctx context.Context, kind, key string, value []byte, ifRev uint64) (uint64, error) {
	return s.Apply(ctx, Op{Kind: kind, Key: key, Value: value, IfRevision: ifRev})
}

// Create writes a record that must not exist yet.
func (s *Bolt) Create(ctx context.Context, kind, key string, value []byte) (uint64, error) {
	return s.Apply(ctx, Op{Kind: kind, Key: key, Value: value, Create: true})
}

// Delete removes a record; ifRev as in Put. Deleting a missing record is ErrNotFound.
func (s *Bolt) Delete(ctx context.Context, kind, key string, ifRev uint64) error {
	_, err := s.Apply(ctx, Op{Kind: kind, Key: key, Delete: true, IfRevision: ifRev})
	return err
}

// Apply performs all ops atomically: either all succeed or none is written.
// It returns the revision of the commit.
func (s *Bolt) Apply(_ context.Context, ops ...Op) (uint64, error) {
	for _, op := range ops {
		if err := validName(op.Kind, op.Key); err != nil {
			return 0, err
		}
		if !op.Delete && op.Value == nil {
			return 0, fmt.Errorf("store: nil value for %s/%s", op.Kind, op.Key)
		}
		if !op.Delete && !json.Valid(op.Value) {
			return 0, fmt.Errorf("store: value for %s/%s is not JSON", op.Kind, op.Key)
		}
	}
	var rev uint64
	var events []Event
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta, err := metaBucket(tx)
		if err != nil {
			return err
		}
		if cur := meta.Get(revKey); cur != nil {
			rev = binary.BigEndian.Uint64(cur)
		}
		rev++
		for _, op := range ops {
			b, err := tx.CreateBucketIfNotExists([]byte(op.Kind))
			if err != nil {
				return err
			}
			cur := b.Get([]byte(op.Key))
			if op.Create && cur != nil {
				return fmt.Errorf("%w: %s/%s", ErrExists, op.Kind, op.Key)
			}
			if (op.Delete || op.IfRevision != 0) && cur == nil {
				return fmt.Errorf("%w: %s/%s", ErrNotFound, op.Kind, op.Key)
			}
			if op.IfRevision != 0 && binary.BigEndian.Uint64(cur[:8]) != op.IfRevision {
				return fmt.Errorf("%w: %s/%s", ErrConflict, op.Kind, op.Key)
			}
			if op.Delete {
				if err := b.Delete([]byte(op.Key)); err != nil {
					return err
				}
			} else if err := b.Put([]byte(op.Key), encode(rev, op.Value)); err != nil {
				return err
			}
			events = append(events, Event{Kind: op.Kind, Key: op.Key, Revision: rev, Deleted: op.Delete})
		}
		var rb [8]byte
		binary.BigEndian.PutUint64(rb[:], rev)
		return meta.Put(revKey, rb[:])
	})
	if err != nil {
		return 0, err
	}
	s.publish(events)
	return rev, nil
}

// Watch delivers an Event for every committed write until ctx is done. Slow
// receivers do not block writers: the channel is buffered and a watcher that
// falls behind misses events, so watchers must also resync periodically
// (level-triggered controllers do).
func (s *Bolt) Watch(ctx context.Context) (<-chan Event, error) {
	ch := make(chan Event, 1024)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	id := s.nextID
	s.nextID++
	s.watchers[id] = ch
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		if _, ok := s.watchers[id]; ok {
			delete(s.watchers, id)
			close(ch)
		}
		s.mu.Unlock()
	}()
	return ch, nil
}

func (s *Bolt) publish(events []Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.watchers {
		for _, ev := range events {
			select {
			case ch <- ev:
			default:
			}
		}
	}
}
