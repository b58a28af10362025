package components

import (
	"testing"
	"time"
)

func TestGCGovernor(t *testing.T) {
	var goals []int
	frees := 0
	g := &gcGovernor{
		busyCores: 1,
		idleAfter: 10 * time.Second,
		set:       func(p int) int { goals = append(goals, p); return 0 },
		free:      func() { frees++ },
	}
	now := time.Unix(0, 0)
	step := func(cores float64) {
		now = now.Add(2 * time.Second)
		g.observe(time.Duration(cores*float64(2*time.Second)), 2*time.Second, now)
	}
	step(0.3) // idle stays idle
	if len(goals) != 0 {
		t.Fatalf("idle process changed the goal: %v", goals)
	}
	step(1.8) // busy
	step(1.5) // still busy: no second change
	if len(goals) != 1 || goals[0] != busyGCPercent {
		t.Fatalf("goals after busy samples = %v, want [%d]", goals, busyGCPercent)
	}
	for range 4 { // 8 s quiet: not yet idle
		step(0.2)
	}
	if len(goals) != 1 {
		t.Fatalf("went idle too soon: %v", goals)
	}
	step(0.2) // 10 s quiet
	if len(goals) != 2 || goals[1] != idleGCPercent || frees != 1 {
		t.Fatalf("goals = %v, frees = %d; want idle goal and one free", goals, frees)
	}
	step(0.2)
	g.observe(time.Second, 0, now) // no elapsed time: ignored
	if len(goals) != 2 || frees != 1 {
		t.Fatalf("idle process changed again: %v, frees %d", goals, frees)
	}
}
