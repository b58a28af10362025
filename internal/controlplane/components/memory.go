package components

import (
	"log/slog"
	"math"
	"runtime/debug"
)

const (
	// gcPercent is the garbage collector's goal while the heap is below
	// gcMemoryLimit. TODO measure.
	gcPercent = 100
	// gcMemoryLimit is the soft limit of the Go runtime's memory. TODO.
	gcMemoryLimit = math.MaxInt64
)

// tuneGC sets the process's garbage-collector goals, unless the process was
// started with a memory limit (GOMEMLIMIT) of its own.
func tuneGC(log *slog.Logger) {
	if debug.SetMemoryLimit(-1) != math.MaxInt64 {
		log.Debug("keeping the process's memory limit")
		return
	}
	debug.SetGCPercent(expInt("EXP_GOGC", gcPercent))
	debug.SetMemoryLimit(int64(expInt("EXP_MEMLIMIT_MB", 0)) << 20)
	if expInt("EXP_MEMLIMIT_MB", 0) == 0 {
		debug.SetMemoryLimit(gcMemoryLimit)
	}
}
