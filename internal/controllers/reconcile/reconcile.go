// Package reconcile is the worker loop berth's controllers share: take a
// key from a work queue, reconcile it, and requeue it as the outcome asks.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/util/workqueue"

	"github.com/berthproject/berth/internal/store"
)

// Settle is how long a controller lets the changes of a group's members
// gather before it reconciles the group: a reconcile looks at every
// member, and a thousand nodes joining at once would otherwise make a
// thousand reconciles of the same group.
const Settle = 100 * time.Millisecond

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
