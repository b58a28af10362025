package components

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSupervisor checks the stop order and the error Run returns, with
// stand-in components.
func TestSupervisor(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name      string
		fail      string // component that fails on its own
		stubborn  string // component that ignores its context
		wantOrder []string
		wantErr   []string // substrings
	}{
		{
			name:      "stop on request",
			wantOrder: []string{"d", "c", "b", "a"},
		},
		{
			name:      "one fails",
			fail:      "b",
			wantOrder: []string{"b", "d", "c", "a"},
			wantErr:   []string{"b: boom"},
		},
		{
			name:      "one does not stop",
			stubborn:  "c",
			wantOrder: []string{"d", "b", "a"},
			wantErr:   []string{"c did not stop within"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu    sync.Mutex
				order []string
			)
			s := newSupervisor(t.Context(), slog.New(slog.DiscardHandler))
			s.stopTimeout = 50 * time.Millisecond
			release := make(chan struct{})
			defer close(release)
			for _, name := range []string{"a", "b", "c", "d"} {
				s.start(name, func(ctx context.Context) error {
					switch name {
					case tt.fail:
						return errBoom
					case tt.stubborn:
						<-release
						return nil
					}
					<-ctx.Done()
					mu.Lock()
					order = append(order, name)
					mu.Unlock()
					return nil
				})
			}
			var err error
			if tt.fail != "" {
				c := <-s.exited
				mu.Lock()
				order = append(order, c.name)
				mu.Unlock()
				err = s.stop(c.failure(), c)
			} else {
				err = s.stop(nil, nil)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(order, tt.wantOrder) {
				t.Errorf("stop order = %v, want %v", order, tt.wantOrder)
			}
			if len(tt.wantErr) == 0 && err != nil {
				t.Errorf("stop() = %v, want nil", err)
			}
			for _, want := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("stop() = %v, want an error containing %q", err, want)
				}
			}
			if tt.fail != "" && !errors.Is(err, errBoom) {
				t.Errorf("stop() = %v, does not wrap the failure", err)
			}
		})
	}
}
