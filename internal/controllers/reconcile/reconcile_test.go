package reconcile

import (
	"testing"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// recordingQueue records how keys are queued.
type recordingQueue struct {
	workqueue.TypedDelayingInterface[string]
	now   int
	after []time.Duration
}

func (q *recordingQueue) Add(string)                         { q.now++ }
func (q *recordingQueue) AddAfter(_ string, d time.Duration) { q.after = append(q.after, d) }

func TestCoalescer(t *testing.T) {
	var c Coalescer
	q := &recordingQueue{}
	c.Add(q, "a") // first change: at once
	if q.now != 1 || len(q.after) != 0 {
		t.Fatalf("first change: %d now, %v later", q.now, q.after)
	}
	for range 100 { // a burst: once more, after Settle
		c.Add(q, "a")
	}
	if q.now != 1 || len(q.after) != 1 || q.after[0] <= 0 || q.after[0] > Settle {
		t.Fatalf("burst: %d now, %v later; want one within %s", q.now, q.after, Settle)
	}
	c.Add(q, "b") // another key is not held back
	if q.now != 2 {
		t.Fatalf("other key: %d now", q.now)
	}
	time.Sleep(2*Settle + 10*time.Millisecond) // quiet: at once again
	c.Add(q, "a")
	if q.now != 3 || len(q.after) != 1 {
		t.Fatalf("after a quiet spell: %d now, %v later", q.now, q.after)
	}
}
