package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// Getter reads one record (the Bolt store, or a narrower interface over
// it).
type Getter interface {
	Get(ctx context.Context, kind, key string) (Record, error)
}

// Lister reads the records of a kind under a key prefix, in key order.
type Lister interface {
	List(ctx context.Context, kind, prefix string) ([]Record, error)
}

// Read reads the record under (kind, key) and decodes its JSON value. A
// missing record is ErrNotFound, as from Get.
func Read[T any](ctx context.Context, st Getter, kind, key string) (*T, uint64, error) {
	rec, err := st.Get(ctx, kind, key)
	if err != nil {
		return nil, 0, err
	}
	v := new(T)
	if err := json.Unmarshal(rec.Value, v); err != nil {
		return nil, 0, fmt.Errorf("decoding %s %s: %w", kind, key, err)
	}
	return v, rec.Revision, nil
}

// ReadAll reads and decodes the records of a kind under a key prefix, in
// key order.
func ReadAll[T any](ctx context.Context, st Lister, kind, prefix string) ([]*T, error) {
	recs, err := st.List(ctx, kind, prefix)
	if err != nil {
		return nil, fmt.Errorf("listing %s %s: %w", kind, prefix, err)
	}
	out := make([]*T, 0, len(recs))
	for _, r := range recs {
		v := new(T)
		if err := json.Unmarshal(r.Value, v); err != nil {
			return nil, fmt.Errorf("decoding %s %s: %w", kind, r.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}
