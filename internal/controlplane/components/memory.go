package components

import (
	"context"
	"log/slog"
	"runtime/debug"
	"syscall"
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
	// busyGCPercent is the goal while the control plane is busy (a large
	// join or rollout): collecting when the heap has tripled takes a
	// third of the CPU out of a 3,000-pod rollout on 2 cores (see
	// docs/benchmarks.md). Going idle gives most of the memory back, not
	// all: the heap that grew stays fragmented, a third larger after a
	// 1,000-node cluster's rollout.
	busyGCPercent = 200
)

// A gcGovernor moves the garbage collector's goal between idleGCPercent
// and busyGCPercent with the process's CPU use: busy once a sample shows
// more than busyCores in use, idle again after idleAfter without such a
// sample. Going idle also hands the memory the busy heap no longer needs
// back to the system. Samples span gcWindow: over a shorter one, a
// collection of a large idle heap (a core for a second or more) would
// itself look busy, and the goal would rise for nothing.
type gcGovernor struct {
	busyCores float64
	idleAfter time.Duration
	// set and free are debug.SetGCPercent and debug.FreeOSMemory, or a
	// test's.
	set  func(int) int
	free func()

	busy     bool
	lastBusy time.Time
}

// observe takes the CPU time used over the last elapsed wall time, ending
// at now, and changes the goal if it should.
func (g *gcGovernor) observe(cpu, elapsed time.Duration, now time.Time) {
	if elapsed <= 0 {
		return
	}
	if float64(cpu)/float64(elapsed) > g.busyCores {
		g.lastBusy = now
		if !g.busy {
			g.busy = true
			g.set(busyGCPercent)
		}
		return
	}
	if g.busy && now.Sub(g.lastBusy) >= g.idleAfter {
		g.busy = false
		g.set(idleGCPercent)
		g.free()
	}
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The governor looks at the process's CPU every gcSampleInterval, over
// the last gcWindow.
const (
	gcSampleInterval = 2 * time.Second
	gcWindow         = 3 * gcSampleInterval
)

// settleGC sets the garbage collector's goal for the rest of the
// process's life, unless the process was started with a GOGC of its own:
// idleGCPercent, raised to busyGCPercent while the process keeps more
// than 1.2 of the host's cores busy. It is process-wide, like the rest of
// what Run sets.
func settleGC(ctx context.Context, log *slog.Logger) {
	if prev := debug.SetGCPercent(idleGCPercent); prev != goDefaultGCPercent {
		debug.SetGCPercent(prev)
		log.Debug("keeping the process's GOGC", "gogc", prev)
		return
	}
	g := &gcGovernor{
		busyCores: 1.2,
		idleAfter: 30 * time.Second,
		set: func(p int) int {
			log.Info("garbage collector goal", "gogc", p)
			return debug.SetGCPercent(p)
		},
		free: debug.FreeOSMemory,
	}
	go func() {
		t := time.NewTicker(gcSampleInterval)
		defer t.Stop()
		type sample struct {
			cpu time.Duration
			at  time.Time
		}
		window := []sample{{processCPU(), time.Now()}}
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				window = append(window, sample{processCPU(), now})
				if len(window) > int(gcWindow/gcSampleInterval)+1 {
					window = window[1:]
				}
				first, last := window[0], window[len(window)-1]
				g.observe(last.cpu-first.cpu, last.at.Sub(first.at), now)
			}
		}
	}()
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
