package realprovider

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// HostLock is the file whose lock a berth that runs real nodes holds:
// real nodes are routed through the host (their addresses and pod
// ranges), so two berths' nodes would take each other's routes.
var HostLock = "/run/berth-real-nodes.lock"

// lockHost takes the host lock for this process's life, once; another
// process holding it is an error that names it.
func (p *Provider) lockHost() error {
	p.hostLockOnce.Do(func() {
		f, err := os.OpenFile(HostLock, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			p.hostLockErr = fmt.Errorf("real nodes: %w", err)
			return
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			raw, _ := os.ReadFile(HostLock)
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				holder := strings.TrimSpace(string(raw))
				if _, perr := strconv.Atoi(holder); perr != nil {
					holder = "another process"
				} else {
					holder = "process " + holder
				}
				p.hostLockErr = fmt.Errorf("another berth (%s) runs real nodes on this host, and real nodes of two berths would take each other's routes: stop it or use simulated nodes", holder)
				return
			}
			p.hostLockErr = fmt.Errorf("real nodes: locking %s: %w", HostLock, err)
			return
		}
		_ = f.Truncate(0)
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		p.hostLockFile = f // held until the process ends
	})
	return p.hostLockErr
}
