package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berthproject/berth/internal/pki"
)

// Phase is where a control plane is in its life.
type Phase string

// Phases.
const (
	PhaseStarting Phase = "Starting" // process started, /readyz not ok yet
	PhaseReady    Phase = "Ready"    // /readyz ok
	PhaseFailed   Phase = "Failed"   // gave up after repeated failures
	PhaseStopped  Phase = "Stopped"
)

// Status is what the runtime knows of one control plane.
type Status struct {
	Phase    Phase
	Version  string // the version of the spec the process runs
	Restarts int
	// LastError explains the latest failure, for health issues.
	LastError string
}

// ProcessConfig configures a ProcessRuntime.
type ProcessConfig struct {
	// Executable is the berth binary; Args are put before the spec path
	// (default: ["controlplane", "--config"]).
	Executable string
	Args       []string
	Logger     *slog.Logger
	// OnChange is called (without locks held) whenever a control plane's
	// status changes.
	OnChange func(name string)
	// StartTimeout bounds one start attempt (default 90 s).
	StartTimeout time.Duration
	// MaxFailures is how many starts in a row may fail before the runtime
	// gives up and reports PhaseFailed (default 5).
	MaxFailures int
	// Backoff is the first restart delay, doubled per failure up to 30 s
	// (default 500 ms).
	Backoff time.Duration
	// StopGrace is how long a stopping control plane gets between SIGTERM
	// and SIGKILL (default 10 s).
	StopGrace time.Duration
}

// ProcessRuntime supervises one child process per cluster.
type ProcessRuntime struct {
	cfg ProcessConfig
	log *slog.Logger

	mu    sync.Mutex
	procs map[string]*supervised
	ctx   context.Context // set by Start; children are bound to it
}

type supervised struct {
	spec   Spec // guarded by ProcessRuntime.mu: Adopt changes Name and Dir
	status Status
	cancel context.CancelFunc
	done   chan struct{}
}

// NewProcessRuntime checks cfg and returns a runtime.
func NewProcessRuntime(cfg ProcessConfig) (*ProcessRuntime, error) {
	if cfg.Executable == "" {
		return nil, errors.New("controlplane: Executable is required")
	}
	if cfg.Args == nil {
		cfg.Args = []string{"controlplane", "--config"}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OnChange == nil {
		cfg.OnChange = func(string) {}
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 90 * time.Second
	}
	if cfg.MaxFailures == 0 {
		cfg.MaxFailures = 5
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.StopGrace == 0 {
		cfg.StopGrace = 10 * time.Second
	}
	return &ProcessRuntime{cfg: cfg, log: cfg.Logger, procs: map[string]*supervised{}}, nil
}

// Start runs the runtime until ctx is done, then stops every control plane.
func (r *ProcessRuntime) Start(ctx context.Context) error {
	r.mu.Lock()
	r.ctx = ctx
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	var waits []chan struct{}
	for _, p := range r.procs {
		p.cancel()
		waits = append(waits, p.done)
	}
	r.mu.Unlock()
	for _, w := range waits {
		<-w
	}
	return nil
}

// Ensure makes the control plane of spec run: it starts it if it is not
// supervised yet and restarts it when the spec changed. It never blocks on
// the process; Status reports progress.
func (r *ProcessRuntime) Ensure(spec Spec) (Status, error) {
	if err := spec.Validate(); err != nil {
		return Status{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx == nil {
		return Status{}, errors.New("controlplane: runtime not started")
	}
	if r.ctx.Err() != nil {
		return Status{}, r.ctx.Err()
	}
	if p, ok := r.procs[spec.Name]; ok {
		if p.spec == spec {
			return p.status, nil
		}
		// The spec changed (an upgrade): stop the old process, then start anew.
		p.cancel()
		old := p.done
		r.mu.Unlock()
		<-old
		r.mu.Lock()
		if cur, ok := r.procs[spec.Name]; ok && cur == p {
			delete(r.procs, spec.Name)
		} else if ok {
			return cur.status, nil
		}
	}
	ctx, cancel := context.WithCancel(r.ctx)
	p := &supervised{spec: spec, status: Status{Phase: PhaseStarting, Version: spec.Version}, cancel: cancel, done: make(chan struct{})}
	r.procs[spec.Name] = p
	go r.supervise(ctx, p)
	return p.status, nil
}

// Adopt hands the control plane supervised as from over to the spec to,
// without restarting its process: to may differ from from's spec only in
// Name and Dir. Adopt moves from's directory to to.Dir (which must not
// exist) and rewrites the spec file there. The process keeps running: it
// works relative to its directory, which it keeps across the move, and it
// is restarted from to when it next stops. This is how a control plane
// started ahead of time becomes a cluster's.
func (r *ProcessRuntime) Adopt(from string, to Spec) error {
	if err := to.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	p, ok := r.procs[from]
	if !ok {
		r.mu.Unlock()
		return fmt.Errorf("controlplane: no control plane %s to adopt", from)
	}
	if _, taken := r.procs[to.Name]; taken {
		r.mu.Unlock()
		return fmt.Errorf("controlplane: a control plane %s already runs", to.Name)
	}
	same := p.spec
	same.Name, same.Dir = to.Name, to.Dir
	if same != to {
		r.mu.Unlock()
		return fmt.Errorf("controlplane: %s cannot be adopted as %s: the specs differ beyond name and directory", from, to.Name)
	}
	if err := os.Rename(p.spec.Dir, to.Dir); err != nil {
		r.mu.Unlock()
		return fmt.Errorf("controlplane: adopting %s: %w", from, err)
	}
	p.spec = to
	delete(r.procs, from)
	r.procs[to.Name] = p
	r.mu.Unlock()
	if _, err := WriteSpec(to); err != nil {
		r.log.Warn("rewriting the spec of an adopted control plane", "cluster", to.Name, "err", err)
	}
	r.cfg.OnChange(to.Name)
	return nil
}

// specOf reads p's spec, which Adopt may change.
func (r *ProcessRuntime) specOf(p *supervised) Spec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return p.spec
}

// Status returns the status of a supervised control plane.
func (r *ProcessRuntime) Status(name string) (Status, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.procs[name]
	if !ok {
		return Status{Phase: PhaseStopped}, false
	}
	return p.status, true
}

// Stop stops a control plane and waits until its process is gone. It also
// reaps a process left behind by an earlier daemon (from the pid file in
// dir). Stopping what is not running is not an error.
func (r *ProcessRuntime) Stop(ctx context.Context, name, dir string) error {
	r.mu.Lock()
	p, ok := r.procs[name]
	if ok {
		delete(r.procs, name)
	}
	r.mu.Unlock()
	if ok {
		p.cancel()
		select {
		case <-p.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if dir != "" {
		return reapLeftover(dir)
	}
	return nil
}

func (r *ProcessRuntime) setStatus(p *supervised, mutate func(*Status)) {
	r.mu.Lock()
	before := p.status
	mutate(&p.status)
	changed := before != p.status
	name := p.spec.Name
	r.mu.Unlock()
	if changed {
		r.cfg.OnChange(name)
	}
}

// supervise runs, watches and restarts one control plane until ctx is done.
func (r *ProcessRuntime) supervise(ctx context.Context, p *supervised) {
	defer close(p.done)
	failures := 0
	delay := r.cfg.Backoff
	for {
		before := r.specOf(p)
		log := r.log.With("cluster", before.Name)
		wasReady, err := r.runOnce(ctx, p, log)
		if err != nil && !wasReady && ctx.Err() == nil && r.specOf(p).Dir != before.Dir {
			// Adopt moved the directory while the process started:
			// start again from the new one, at once.
			continue
		}
		if wasReady {
			failures, delay = 0, r.cfg.Backoff
		}
		if ctx.Err() != nil {
			r.setStatus(p, func(s *Status) { s.Phase = PhaseStopped })
			return
		}
		failures++
		msg := "control plane exited"
		if err != nil {
			msg = err.Error()
		}
		log.Warn("control plane stopped; restarting", "err", msg, "failures", failures)
		if failures >= r.cfg.MaxFailures {
			r.setStatus(p, func(s *Status) { s.Phase = PhaseFailed; s.LastError = msg })
			log.Error("control plane keeps failing; giving up", "err", msg)
			<-ctx.Done()
			r.setStatus(p, func(s *Status) { s.Phase = PhaseStopped })
			return
		}
		r.setStatus(p, func(s *Status) { s.Phase = PhaseStarting; s.Restarts++; s.LastError = msg })
		select {
		case <-ctx.Done():
			r.setStatus(p, func(s *Status) { s.Phase = PhaseStopped })
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// runOnce starts the process and returns when it has exited, telling
// whether it had become ready.
func (r *ProcessRuntime) runOnce(ctx context.Context, p *supervised, log *slog.Logger) (bool, error) {
	spec := r.specOf(p)
	if err := reapLeftover(spec.Dir); err != nil {
		return false, fmt.Errorf("reaping an old control-plane process: %w", err)
	}
	if _, err := WriteSpec(spec); err != nil {
		return false, err
	}
	logFile, err := os.OpenFile(filepath.Join(spec.Dir, "controlplane.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return false, fmt.Errorf("opening the control-plane log: %w", err)
	}
	defer logFile.Close()
	// Read the credentials /readyz is probed with before the start:
	// Adopt may move the directory at any moment after it.
	client, err := readyClient(spec)
	if err != nil {
		return false, err
	}

	var waitErr error
	procDone := make(chan struct{})
	started := make(chan int, 1) // the pid, or 0 when the start failed
	var startErr error
	// The parent-death signal is tied to the thread that forks the child,
	// so start and wait on one locked thread that lives as long as the child.
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		// The spec path is relative to the child's working directory,
		// which follows the directory when Adopt moves it.
		cmd := exec.Command(r.cfg.Executable, append(append([]string{}, r.cfg.Args...), SpecFile)...)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		// The start and the pid file happen under the runtime's lock, so
		// Adopt moves the directory either before (the child starts in
		// the new one) or after (the pid file moves with it). The child
		// works relative to its directory (see Adopt).
		r.mu.Lock()
		dir := p.spec.Dir
		cmd.Dir = dir
		if startErr = cmd.Start(); startErr != nil {
			r.mu.Unlock()
			started <- 0
			return
		}
		pid := cmd.Process.Pid
		if err := writePID(dir, pid); err != nil {
			log.Warn("writing pid file", "err", err)
		}
		r.mu.Unlock()
		started <- pid
		go func() {
			select {
			case <-procDone:
			case <-ctx.Done():
				terminate(pid, r.cfg.StopGrace, procDone)
			}
		}()
		waitErr = cmd.Wait()
		// Kill what the process may have left in its group, and see it
		// gone before the control plane counts as stopped.
		syscall.Kill(-pid, syscall.SIGKILL)
		awaitGroupGone(pid, 5*time.Second)
		os.Remove(filepath.Join(r.specOf(p).Dir, pidFile))
		close(procDone)
	}()
	pid := <-started
	if pid == 0 {
		return false, fmt.Errorf("starting the control-plane process: %w", startErr)
	}
	startedAt := time.Now()
	ready, everReady := false, false
	tick := time.NewTicker(startProbeInterval)
	defer tick.Stop()
	for {
		select {
		case <-procDone:
			if ctx.Err() != nil {
				return everReady, nil
			}
			err := waitErr
			if err == nil {
				err = errors.New("exited")
			}
			logPath := filepath.Join(r.specOf(p).Dir, "controlplane.log")
			if cause := lastError(logPath); cause != "" {
				return everReady, fmt.Errorf("%s (control-plane process %v; see %s)", cause, err, logPath)
			}
			return everReady, fmt.Errorf("control-plane process %w (see %s)", err, logPath)
		case <-tick.C:
			if ctx.Err() != nil {
				continue
			}
			ok := probe(ctx, client, spec.APIServerPort)
			switch {
			case ok && !ready:
				ready, everReady = true, true
				log.Info("control plane ready", "after", time.Since(startedAt).Round(time.Millisecond), "version", spec.Version)
				r.setStatus(p, func(s *Status) { s.Phase = PhaseReady; s.Version = spec.Version; s.LastError = "" })
				tick.Reset(2 * time.Second)
			case !ok && ready:
				ready = false
				r.setStatus(p, func(s *Status) { s.Phase = PhaseStarting; s.LastError = "kube-apiserver /readyz is failing" })
				tick.Reset(startProbeInterval)
			case !ok && !everReady && time.Since(startedAt) > r.cfg.StartTimeout:
				syscall.Kill(-pid, syscall.SIGKILL)
				<-procDone
				return false, fmt.Errorf("kube-apiserver was not ready within %s", r.cfg.StartTimeout)
			}
		}
	}
}

// awaitGroupGone waits until no live (non-zombie) process is left in the
// process group pgid, killing any it finds, for at most max. A signal is
// delivered when its target next runs, so a busy machine can show a killed
// process alive for a moment after kill returns.
func awaitGroupGone(pgid int, max time.Duration) {
	deadline := time.Now().Add(max)
	for {
		members := groupMembers(pgid)
		if len(members) == 0 || time.Now().After(deadline) {
			return
		}
		for _, pid := range members {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// groupMembers lists the live processes of a process group, from /proc.
func groupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces and
		// parentheses, so the fields start after the last ')'.
		i := strings.LastIndexByte(string(st), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(st[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, err := strconv.Atoi(f[2]); err == nil && g == pgid {
			out = append(out, pid)
		}
	}
	return out
}

// startProbeInterval is how often /readyz is asked while a control plane
// starts: the cluster turns ACTIVE on the first ok, so the interval is
// added to every create, on average half of it. A probe is one local
// HTTPS request on a kept-alive connection.
const startProbeInterval = 25 * time.Millisecond

// terminate asks the process group to stop, then kills it after grace.
func terminate(pid int, grace time.Duration, done <-chan struct{}) {
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		syscall.Kill(-pid, syscall.SIGKILL)
	}
}

func readyClient(spec Spec) (*http.Client, error) {
	paths := pki.PathsFor(filepath.Join(spec.Dir, "pki"))
	caPEM, err := os.ReadFile(paths.CACert)
	if err != nil {
		return nil, fmt.Errorf("reading the cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the cluster CA file holds no certificate")
	}
	cert, err := tls.LoadX509KeyPair(paths.AdminCert, paths.AdminKey)
	if err != nil {
		return nil, fmt.Errorf("loading the admin certificate: %w", err)
	}
	return &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
	}, nil
}

// probe reports whether the control plane serves: /readyz is ok and the
// default/kubernetes Service exists (kube-apiserver creates it a moment
// after its /readyz first passes; clients expect it of a ready cluster).
func probe(ctx context.Context, c *http.Client, port int) bool {
	base := "https://127.0.0.1:" + strconv.Itoa(port)
	for _, path := range []string{"/readyz", "/api/v1/namespaces/default/services/kubernetes"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return false
		}
		resp, err := c.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
	}
	return true
}

const pidFile = "controlplane.pid"

func writePID(dir string, pid int) error {
	return os.WriteFile(filepath.Join(dir, pidFile), []byte(strconv.Itoa(pid)+"\n"), 0o600)
}

func readPID(dir string) (int, bool) {
	raw, err := os.ReadFile(filepath.Join(dir, pidFile))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	return pid, err == nil && pid > 1
}

// reapLeftover kills a control-plane process an earlier daemon left running
// for dir, if the pid file names one that is still ours: a control-plane
// process (its command line names a spec file) working in dir (its working
// directory follows dir when Adopt moves it).
func reapLeftover(dir string) error {
	pid, ok := readPID(dir)
	if !ok {
		return nil
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	cwd, cwdErr := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd")
	abs, absErr := filepath.Abs(dir)
	if err == nil && cwdErr == nil && absErr == nil && strings.Contains(string(cmdline), SpecFile) && cwd == abs {
		syscall.Kill(-pid, syscall.SIGKILL)
		syscall.Kill(pid, syscall.SIGKILL)
		for i := 0; i < 100; i++ {
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
				break
			}
			// A zombie is gone as far as ports and files go; it is
			// reaped by init once its parent is gone.
			if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && strings.Contains(string(st), ") Z ") {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	os.Remove(filepath.Join(dir, pidFile))
	return nil
}

// lastError returns the error the child printed last ("berth: ..." is how
// the berth command reports a failure), or "".
func lastError(logPath string) string {
	f, err := os.Open(logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 16 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		f.Seek(st.Size()-window, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if msg, ok := strings.CutPrefix(lines[i], "berth: "); ok {
			return msg
		}
	}
	return ""
}
