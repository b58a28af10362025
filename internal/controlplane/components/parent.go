package components

import (
	"context"
	"os"
	"time"
)

// ExitOrphaned is the exit code a control-plane process should use when
// WatchParent finds it orphaned, so that logs and tests can tell that exit
// apart from a crash (2) or a signal (128+n).
const ExitOrphaned = 86

// parentPollInterval is how often WatchParent looks at the parent PID.
const parentPollInterval = 250 * time.Millisecond

// WatchParent calls onOrphan once, and returns, when the process's parent
// changes from the one it had when WatchParent was called: the daemon that
// started this process died and the process was reparented. It is a belt to
// the daemon's Pdeathsig, which a parent thread's exit can fire too early and
// a reparenting subreaper can defeat. It returns without calling onOrphan when
// ctx is done. The caller decides what orphaned means, typically
// os.Exit(ExitOrphaned), since the cluster's process must not outlive the
// daemon that supervises it.
func WatchParent(ctx context.Context, onOrphan func()) {
	watchParent(ctx, os.Getppid, parentPollInterval, onOrphan)
}

func watchParent(ctx context.Context, getppid func() int, interval time.Duration, onOrphan func()) {
	start := getppid()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if getppid() != start {
				onOrphan()
				return
			}
		}
	}
}
