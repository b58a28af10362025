package controlplane

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/pki"
)

func testSpec(t *testing.T) Spec {
	t.Helper()
	dir := t.TempDir()
	if _, err := pki.Generate(filepath.Join(dir, "pki"), pki.Options{ClusterName: "t", ServiceIP: net.ParseIP("10.100.0.1")}); err != nil {
		t.Fatal(err)
	}
	ports, err := FreePorts(3, nil, DefaultPorts)
	if err != nil {
		t.Fatal(err)
	}
	return Spec{Name: "t", Dir: dir, Version: "1.37", APIServerPort: ports[0], EtcdClientPort: ports[1], EtcdPeerPort: ports[2],
		ServiceCIDR: "10.100.0.0/16", ServiceAccountIssuer: "https://oidc.example/id/X"}
}

// script writes an executable shell script standing in for berth.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake-berth")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func startRuntime(t *testing.T, exe string) (*ProcessRuntime, chan string) {
	t.Helper()
	changes := make(chan string, 100)
	rt, err := NewProcessRuntime(ProcessConfig{Executable: exe, Backoff: 10 * time.Millisecond, MaxFailures: 3, StopGrace: 300 * time.Millisecond,
		OnChange: func(n string) { changes <- n }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rt.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for rt.ctxSet() == false {
		time.Sleep(time.Millisecond)
	}
	return rt, changes
}

func (r *ProcessRuntime) ctxSet() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ctx != nil
}

func waitPhase(t *testing.T, rt *ProcessRuntime, name string, want Phase) Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := rt.Status(name)
		if st.Phase == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("phase %s, want %s (last error %q)", st.Phase, want, st.LastError)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCrashLoopGivesUpWithTheChildsError(t *testing.T) {
	rt, _ := startRuntime(t, script(t, `echo "berth: control plane t: etcd: disk full" >&2; exit 1`))
	spec := testSpec(t)
	if _, err := rt.Ensure(spec); err != nil {
		t.Fatal(err)
	}
	st := waitPhase(t, rt, "t", PhaseFailed)
	if !strings.Contains(st.LastError, "etcd: disk full") || st.Restarts != 2 {
		t.Fatalf("status %+v", st)
	}
}

func TestStopKillsTheProcessGroup(t *testing.T) {
	// The fake control plane starts a grandchild and ignores SIGTERM.
	rt, _ := startRuntime(t, script(t, `trap '' TERM; sleep 300 & echo $! > "$(dirname "$1")/grandchild.pid"; wait`))
	spec := testSpec(t)
	if _, err := rt.Ensure(spec); err != nil {
		t.Fatal(err)
	}
	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p, ok := readPID(spec.Dir); ok {
			pid = p
			if _, err := os.Stat(filepath.Join(spec.Dir, "grandchild.pid")); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("fake control plane did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	raw, _ := os.ReadFile(filepath.Join(spec.Dir, "grandchild.pid"))
	grandchild := strings.TrimSpace(string(raw))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rt.Stop(ctx, spec.Name, spec.Dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{itoa(pid), grandchild} {
		if processAlive(p) {
			t.Errorf("process %s survived Stop", p)
		}
	}
	if _, ok := readPID(spec.Dir); ok {
		t.Error("pid file left behind")
	}
}

func TestReapLeftover(t *testing.T) {
	spec := testSpec(t)
	// A process whose command line names a spec and that works in this
	// cluster's directory, as a control plane left by a crashed daemon
	// would.
	exe := script(t, `sleep 300`)
	if err := os.WriteFile(filepath.Join(spec.Dir, SpecFile), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := os.StartProcess(exe, []string{exe, "controlplane", "--config", filepath.Join(spec.Dir, SpecFile)}, &os.ProcAttr{Dir: spec.Dir})
	if err != nil {
		t.Fatal(err)
	}
	go p.Wait()
	execed(t, p.Pid)
	if err := writePID(spec.Dir, p.Pid); err != nil {
		t.Fatal(err)
	}
	if err := reapLeftover(spec.Dir); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if processAlive(itoa(p.Pid)) {
		t.Fatal("leftover survived")
	}
	// A control plane of another directory is left alone too.
	other, err := os.StartProcess(exe, []string{exe, "controlplane", "--config", filepath.Join(spec.Dir, SpecFile)}, &os.ProcAttr{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Kill()
	go other.Wait()
	execed(t, other.Pid)
	if err := writePID(spec.Dir, other.Pid); err != nil {
		t.Fatal(err)
	}
	if err := reapLeftover(spec.Dir); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if !processAlive(itoa(other.Pid)) {
		t.Fatal("reapLeftover killed a process of another directory")
	}
	// A pid file naming an unrelated process leaves that process alone.
	if err := writePID(spec.Dir, os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if err := reapLeftover(spec.Dir); err != nil {
		t.Fatal(err)
	}
}

func TestAdoptKeepsTheProcessAndMovesItsDirectory(t *testing.T) {
	// The stand-in records its pid once per start and works relative to
	// its directory, as the control plane does.
	exe := script(t, `echo $$ >> starts; exec sleep 300`)
	rt, changes := startRuntime(t, exe)
	spare := testSpec(t)
	spare.Name = "_spare-1"
	if _, err := rt.Ensure(spare); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(spare.Dir, "starts")); return err == nil })
	pid, _ := readPID(spare.Dir)

	to := spare
	to.Name, to.Dir = "demo", filepath.Join(t.TempDir(), "demo")
	bad := to
	bad.Version = "1.36"
	if err := rt.Adopt(spare.Name, bad); err == nil {
		t.Fatal("Adopt took a spec that differs beyond name and directory")
	}
	if err := rt.Adopt("nobody", to); err == nil {
		t.Fatal("Adopt took a control plane that is not supervised")
	}
	if err := rt.Adopt(spare.Name, to); err != nil {
		t.Fatal(err)
	}
	if _, ok := rt.Status(spare.Name); ok {
		t.Error("the old name is still supervised")
	}
	if _, ok := rt.Status("demo"); !ok {
		t.Fatal("the new name is not supervised")
	}
	if _, err := os.Stat(spare.Dir); !os.IsNotExist(err) {
		t.Errorf("the old directory is still there: %v", err)
	}
	got, err := ReadSpec(filepath.Join(to.Dir, SpecFile))
	if err != nil || got != to {
		t.Errorf("spec file after Adopt: %+v, %v", got, err)
	}
	if now, _ := readPID(to.Dir); now != pid || !processAlive(itoa(pid)) {
		t.Fatalf("the process did not carry on: pid %d, was %d", now, pid)
	}
	drain(changes)
	// Stopped, it is restarted from the new spec, in the new directory.
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, func() bool {
		b, _ := os.ReadFile(filepath.Join(to.Dir, "starts"))
		return strings.Count(string(b), "\n") == 2
	})
	if err := rt.Stop(context.Background(), "demo", to.Dir); err != nil {
		t.Fatal(err)
	}
}

// execed waits until pid runs the stand-in script (its command line is
// empty for a moment after the start).
func execed(t *testing.T, pid int) {
	t.Helper()
	waitFor(t, func() bool {
		b, _ := os.ReadFile("/proc/" + itoa(pid) + "/cmdline")
		return strings.Contains(string(b), SpecFile)
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func drain(c chan string) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func TestFreePortsSkipsUsedAndBound(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bound := l.Addr().(*net.TCPAddr).Port
	ports, err := FreePorts(2, map[int]bool{bound + 1: true}, PortRange{Lo: bound, Hi: bound + 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		if p == bound || p == bound+1 {
			t.Errorf("got port %d", p)
		}
	}
	if _, err := FreePorts(5, nil, PortRange{Lo: bound, Hi: bound}); err == nil {
		t.Error("no error for an exhausted range")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func processAlive(pid string) bool {
	st, err := os.ReadFile("/proc/" + pid + "/stat")
	return err == nil && !strings.Contains(string(st), ") Z ")
}

// TestAdoptRightAfterEnsure adopts a control plane while its process is
// still starting: the process runs in the new directory with its pid file
// there, and stopping it leaves nothing behind.
func TestAdoptRightAfterEnsure(t *testing.T) {
	exe := script(t, `echo $$ >> starts; exec sleep 300`)
	rt, _ := startRuntime(t, exe)
	for i := range 20 {
		spare := testSpec(t)
		spare.Name = "_spare-" + itoa(i)
		if _, err := rt.Ensure(spare); err != nil {
			t.Fatal(err)
		}
		to := spare
		to.Name, to.Dir = "c"+itoa(i), filepath.Join(t.TempDir(), "c")
		if err := rt.Adopt(spare.Name, to); err != nil {
			t.Fatal(err)
		}
		var pid int
		waitFor(t, func() bool {
			var ok bool
			pid, ok = readPID(to.Dir)
			return ok && processAlive(itoa(pid))
		})
		if err := rt.Stop(context.Background(), to.Name, to.Dir); err != nil {
			t.Fatal(err)
		}
		if processAlive(itoa(pid)) {
			t.Fatalf("round %d: process %d outlived Stop", i, pid)
		}
	}
}
