package components

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"
)

const (
	// goDefaultGCPercent is GOGC's value when the process was started
	// without it.
	goDefaultGCPercent = 100
	// idleGCPercent is the garbage collector's goal once kube-apiserver is
	// ready: collect when the heap has grown by half of what the last
	// collection left, instead of doubling. A control plane's heap is
	// mostly long-lived (API schemas, OpenAPI specs, watch caches and
	// informers), so this trims its idle RSS by about 30 MiB for little
	// CPU. Startup keeps Go's default: a lower goal costs about 0.9 s of
	// CPU before /readyz, and a higher one (or none) leaves the heap
	// fragmented, 20 to 45 MiB larger for good.
	idleGCPercent = 50
)

// settleGC lowers the garbage collector's goal for the rest of the
// process's life, unless the process was started with a GOGC of its own.
// It is process-wide, like the rest of what Run sets.
func settleGC(log *slog.Logger) {
	if prev := debug.SetGCPercent(idleGCPercent); prev != goDefaultGCPercent {
		debug.SetGCPercent(prev)
		log.Debug("keeping the process's GOGC", "gogc", prev)
	}
}

// releaseInterval is how often an idle control plane hands the memory its
// heap no longer uses back to the system: Go's scavenger keeps some of it
// for a heap that may grow again, which for a control plane that sits idle
// is 20 to 30 MiB of resident memory for nothing. A forced collection of
// an idle control plane's heap costs about a tenth of a second of CPU.
const releaseInterval = 5 * time.Minute

// releaseMemory returns unused heap memory to the system 30 s after the
// start (once the controllers' first syncs are done) and then every
// releaseInterval, until ctx is done.
func releaseMemory(ctx context.Context) {
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			debug.FreeOSMemory()
			t.Reset(releaseInterval)
		}
	}
}
