package store

import (
	"context"
	"encoding/json"
	"errors"
)

// maxAttempts bounds Mutate's retries on conflicting writers.
const maxAttempts = 20

// Mutate is the read-modify-write loop of every service: it reads a JSON
// record with get (which returns it and its revision), applies fn, and
// writes it back with fn's extra ops in one commit if the record is still
// at the revision it was read at, retrying from the read when it is not.
// A record fn leaves unchanged, with no extra ops, is not written. Errors
// of get and fn come back as they are; a write error wraps the store's
// (ErrNotFound when the record went away meanwhile).
func Mutate[T any](ctx context.Context, apply func(context.Context, ...Op) (uint64, error), kind, key string,
	get func(context.Context) (*T, uint64, error), fn func(*T) ([]Op, error)) (*T, error) {
	for attempt := 1; ; attempt++ {
		v, rev, err := get(ctx)
		if err != nil {
			return nil, err
		}
		before, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		extra, err := fn(v)
		if err != nil {
			return nil, err
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		if len(extra) == 0 && string(raw) == string(before) {
			return v, nil
		}
		ops := append([]Op{{Kind: kind, Key: key, Value: raw, IfRevision: rev}}, extra...)
		_, err = apply(ctx, ops...)
		if (errors.Is(err, ErrConflict) || errors.Is(err, ErrExists)) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return nil, err
		}
		return v, nil
	}
}
