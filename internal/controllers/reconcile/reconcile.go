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
)

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
