package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

// ErrSubnetFull means a subnet has no free address.
var ErrSubnetFull = errors.New("ipam: no free address in subnet")

// Allocator hands out IPv4 addresses from subnets, each to one owner.
// A Cluster takes pod IPs from it (owner "pod/UID") and records the node
// addresses it is told of (owner "node/NAME"). Whoever gives instances
// their addresses should use the same allocator, shared by every cluster
// in the VPC, so that no pod gets an instance's or another cluster's
// address.
type Allocator interface {
	// Allocate returns owner's address in subnet, taking a free one if
	// owner has none there.
	Allocate(owner string, subnet netip.Prefix) (netip.Addr, error)
	// Reserve records that owner holds addr, as found in the world. It
	// reports false if another owner holds addr.
	Reserve(owner string, addr netip.Addr) bool
	// Release frees owner's address, if it has one.
	Release(owner string)
}

var _ Allocator = (*SubnetAllocator)(nil)

// SubnetAllocator is an in-memory IPAllocator. Like a VPC, it never hands
// out the first four addresses of a subnet or its last. Its zero value is
// not usable; NewSubnetAllocator makes one.
type SubnetAllocator struct {
	mu      sync.Mutex
	byAddr  map[netip.Addr]string
	byOwner map[string]netip.Addr
	next    map[netip.Prefix]netip.Addr // where the next search starts
}

// NewSubnetAllocator returns an allocator with every address free.
func NewSubnetAllocator() *SubnetAllocator {
	return &SubnetAllocator{byAddr: map[netip.Addr]string{}, byOwner: map[string]netip.Addr{}, next: map[netip.Prefix]netip.Addr{}}
}

// Allocate implements Allocator. The search goes round the subnet from
// where the last one ended, so a released address is not reused at once.
func (m *SubnetAllocator) Allocate(owner string, subnet netip.Prefix) (netip.Addr, error) {
	if !subnet.IsValid() || !subnet.Addr().Is4() || subnet.Bits() > 28 {
		return netip.Addr{}, fmt.Errorf("ipam: subnet %s is not an IPv4 prefix of /28 or larger", subnet)
	}
	subnet = subnet.Masked()
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.byOwner[owner]; ok && subnet.Contains(a) {
		return a, nil
	}
	first := subnet.Addr().Next().Next().Next().Next()
	size := uint64(1) << (32 - subnet.Bits())
	start, ok := m.next[subnet]
	if !ok || !subnet.Contains(start) {
		start = first
	}
	a := start
	for range size {
		if !subnet.Contains(a) || !subnet.Contains(a.Next()) { // past the end, or the last address
			a = first
		}
		if _, used := m.byAddr[a]; !used {
			if old, ok := m.byOwner[owner]; ok {
				delete(m.byAddr, old) // it moves to this subnet
			}
			m.byAddr[a] = owner
			m.byOwner[owner] = a
			m.next[subnet] = a.Next()
			return a, nil
		}
		a = a.Next()
	}
	return netip.Addr{}, fmt.Errorf("%w %s", ErrSubnetFull, subnet)
}

// Reserve implements Allocator. An owner holds one address: reserving
// another moves it.
func (m *SubnetAllocator) Reserve(owner string, addr netip.Addr) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if holder, used := m.byAddr[addr]; used {
		return holder == owner
	}
	if old, ok := m.byOwner[owner]; ok {
		delete(m.byAddr, old)
	}
	m.byAddr[addr] = owner
	m.byOwner[owner] = addr
	return true
}

// Release implements Allocator.
func (m *SubnetAllocator) Release(owner string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.byOwner[owner]; ok {
		delete(m.byOwner, owner)
		delete(m.byAddr, a)
	}
}

// InUse returns how many addresses of subnet are taken.
func (m *SubnetAllocator) InUse(subnet netip.Prefix) int {
	subnet = subnet.Masked()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for a := range m.byAddr {
		if subnet.Contains(a) {
			n++
		}
	}
	return n
}

// Len returns how many addresses are taken.
func (m *SubnetAllocator) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byAddr)
}
