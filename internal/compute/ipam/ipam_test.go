package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

func TestIPAMAllocate(t *testing.T) {
	tests := []struct {
		name     string
		subnet   string
		reserved []string // addresses held before allocating
		want     []string // addresses of owners p0, p1, ... in order
		wantErr  error    // of the allocation after want
	}{
		{
			name:   "skips the four reserved addresses",
			subnet: "10.0.1.0/28",
			want:   []string{"10.0.1.4", "10.0.1.5", "10.0.1.6"},
		},
		{
			name:     "skips addresses in use",
			subnet:   "10.0.1.0/28",
			reserved: []string{"10.0.1.4", "10.0.1.6"},
			want:     []string{"10.0.1.5", "10.0.1.7"},
		},
		{
			name:   "never the last address, then full",
			subnet: "10.0.1.0/28",
			want: []string{"10.0.1.4", "10.0.1.5", "10.0.1.6", "10.0.1.7", "10.0.1.8", "10.0.1.9",
				"10.0.1.10", "10.0.1.11", "10.0.1.12", "10.0.1.13", "10.0.1.14"},
			wantErr: ErrSubnetFull,
		},
		{
			name:   "unmasked prefix",
			subnet: "10.0.1.77/24",
			want:   []string{"10.0.1.4"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewSubnetAllocator()
			for i, a := range tt.reserved {
				m.Reserve(fmt.Sprintf("r%d", i), netip.MustParseAddr(a))
			}
			subnet := netip.MustParsePrefix(tt.subnet)
			for i, want := range tt.want {
				got, err := m.Allocate(fmt.Sprintf("p%d", i), subnet)
				if err != nil || got.String() != want {
					t.Fatalf("allocation %d = %s, %v; want %s", i, got, err, want)
				}
			}
			if tt.wantErr != nil {
				if _, err := m.Allocate("last", subnet); !errors.Is(err, tt.wantErr) {
					t.Errorf("allocation after %d = %v, want %v", len(tt.want), err, tt.wantErr)
				}
			}
		})
	}
}

func TestIPAMOwners(t *testing.T) {
	m := NewSubnetAllocator()
	subnet := netip.MustParsePrefix("10.0.2.0/24")
	a, err := m.Allocate("pod", subnet)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := m.Allocate("pod", subnet); again != a {
		t.Errorf("second allocation for the same owner = %s, want %s", again, a)
	}
	if m.Reserve("other", a) {
		t.Errorf("Reserve took %s from its owner", a)
	}
	if !m.Reserve("pod", a) {
		t.Errorf("Reserve of its own address refused")
	}
	m.Release("pod")
	// The search goes on from where it stopped: a freed address waits.
	if got, _ := m.Allocate("next", subnet); got == a {
		t.Errorf("freed address %s reused at once", a)
	}
	if !m.Reserve("node", a) {
		t.Errorf("Reserve of the freed %s refused", a)
	}
	// An owner moving to another subnet frees its old address.
	other := netip.MustParsePrefix("10.0.3.0/24")
	if got, err := m.Allocate("node", other); err != nil || !other.Contains(got) {
		t.Errorf("Allocate in %s = %s, %v", other, got, err)
	}
	if !m.Reserve("someone", a) {
		t.Errorf("%s still taken after its owner moved", a)
	}
	if n := m.Len(); n != 3 {
		t.Errorf("Len = %d, want 3", n)
	}
	m.Release("unknown")
	if n := m.Len(); n != 3 {
		t.Errorf("Len after a no-op = %d, want 3", n)
	}
	if _, err := m.Allocate("x", netip.MustParsePrefix("10.0.4.0/30")); err == nil {
		t.Error("Allocate in a /30 succeeded")
	}
}

func TestIPAMInUse(t *testing.T) {
	m := NewSubnetAllocator()
	a := netip.MustParsePrefix("10.0.1.0/24")
	for i := range 3 {
		if _, err := m.Allocate(fmt.Sprintf("pod/%d", i), a); err != nil {
			t.Fatal(err)
		}
	}
	if !m.Reserve("node/n", netip.MustParseAddr("10.0.2.9")) {
		t.Fatal("reserve refused")
	}
	m.Release("pod/1")
	if got := m.InUse(a); got != 2 {
		t.Errorf("InUse(%s) = %d, want 2", a, got)
	}
	if got := m.InUse(netip.MustParsePrefix("10.0.2.7/24")); got != 1 {
		t.Errorf("InUse(10.0.2.7/24) = %d, want 1 (the prefix is masked)", got)
	}
	if got := m.InUse(netip.MustParsePrefix("10.0.3.0/24")); got != 0 {
		t.Errorf("InUse of an unused subnet = %d", got)
	}
}
