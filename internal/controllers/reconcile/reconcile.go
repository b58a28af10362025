// Package reconcile is the worker loop berth's controllers share: take a
// key from a work queue, reconcile it, and requeue it as the outcome asks.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"

	"github.com/berthproject/berth/internal/store"
)

// Settle is how often at most a Coalescer lets a key through.
const Settle = 50 * time.Millisecond

// A Coalescer queues the keys of groups whose members change: the first
// change of a group is reconciled at once, a burst of them at most once
// per Settle. A group's reconcile looks at every member, and a thousand
// nodes joining at once would otherwise make a thousand reconciles of the
// same group. Its zero value is ready to use.
type Coalescer struct {
	mu   sync.Mutex
	keys map[string]coalesced
}

type coalesced struct {
	next      time.Time // before it, a change waits
	scheduled time.Time // when the key was last queued to come, if later
}

// Add queues key on q now, or once its Settle is up unless it is already
// coming.
func (c *Coalescer) Add(q workqueue.TypedDelayingInterface[string], key string) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys = map[string]coalesced{}
	}
	k := c.keys[key]
	switch {
	case now.Before(k.scheduled):
		// The reconcile to come will see this change.
	case !now.Before(k.next):
		k.next = now.Add(Settle)
		q.Add(key)
	default:
		k.scheduled, k.next = k.next, k.next.Add(Settle)
		q.AddAfter(key, k.scheduled.Sub(now))
	}
	c.keys[key] = k
}

// RetryAfter is returned by a reconcile that is not finished but did
// nothing wrong: the key comes back after the delay, without the
// rate limiter's failure backoff and without a warning.
type RetryAfter time.Duration

func (r RetryAfter) Error() string { return fmt.Sprintf("retry after %s", time.Duration(r)) }

// Work reconciles keys from q with fn until q shuts down. A failed key is
// logged (as a warning naming it as what) and requeued with the queue's
// rate limiter; errors after ctx is done are not failures.
func Work(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], fn func(context.Context, string) error, log *slog.Logger, what string) {
	for {
		key, shutdown := q.Get()
		if shutdown {
			return
		}
		err := fn(ctx, key)
		var after RetryAfter
		switch {
		case errors.As(err, &after):
			q.Forget(key)
			q.AddAfter(key, time.Duration(after))
		case err != nil && ctx.Err() == nil:
			log.Warn("reconciling "+what, what, key, "err", err)
			q.AddRateLimited(key)
		default:
			q.Forget(key)
		}
		q.Done(key)
	}
}

// Feed drives a controller's queue until ctx is done or events closes:
// each store event goes to onEvent (which queues the keys it touches), and
// resync runs every interval (queueing every key, for what events miss).
func Feed(ctx context.Context, events <-chan store.Event, interval time.Duration, onEvent func(store.Event), resync func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			onEvent(ev)
		case <-t.C:
			resync()
		}
	}
}
