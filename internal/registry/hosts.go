package registry

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// DefaultMirrorHosts are the registry hosts berth's registry stands in
// for even before any of their images is loaded: the public registries
// EKS workloads name, and berth.local (the pause image).
var DefaultMirrorHosts = []string{"berth.local", "docker.io", "public.ecr.aws", "registry.k8s.io", "quay.io", "ghcr.io", "gcr.io"}

// hostRE is a registry host as the first component of a repository name
// can spell it (lower case, no port).
var hostRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// Mirror keeps containerd's registry host configuration in dir (the CRI
// plugin's config_path): a DIR/HOST/hosts.toml that names the registry as
// the mirror of HOST, for the default hosts, every host the registry
// holds images of, and from now on every host an image is pushed for, as
// it is pushed. containerd reads the directory at each pull, so a node
// pulls an image of a host first loaded after it started.
func (r *Registry) Mirror(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	r.mu.Lock()
	r.hostsDir = dir
	r.mu.Unlock()
	hosts := slices.Clone(DefaultMirrorHosts)
	for _, h := range r.Hosts() {
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	for _, h := range hosts {
		if err := r.writeHost(dir, h); err != nil {
			return err
		}
	}
	return nil
}

// writeHost writes the hosts.toml of host in dir: berth's registry first
// (its repositories of host's images are below the path HOST), the host
// itself after it.
func (r *Registry) writeHost(dir, host string) error {
	if !hostRE.MatchString(host) {
		return fmt.Errorf("registry: %q is not a registry host", host)
	}
	server := "https://" + host
	if host == "docker.io" {
		server = "https://registry-1.docker.io"
	}
	body := fmt.Sprintf(`# Written by berth: its registry mirrors %s.
server = %q

[host.%q]
  capabilities = ["pull", "resolve"]
  override_path = true
`, host, server, "http://"+r.addr+"/v2/"+host)
	hostDir := filepath.Join(dir, host)
	if err := os.MkdirAll(hostDir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(hostDir, "hosts.toml")
	if old, err := os.ReadFile(path); err == nil && string(old) == body {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// statusRecorder keeps the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// mirrorPushes wraps the registry's handler: a manifest pushed for a host
// that has no hosts.toml yet gets one.
func (r *Registry) mirrorPushes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		path, isAPI := strings.CutPrefix(req.URL.Path, "/v2/")
		repo, _, isManifest := strings.Cut(path, "/manifests/")
		if req.Method != http.MethodPut || !isAPI || !isManifest {
			next.ServeHTTP(w, req)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, req)
		r.mu.Lock()
		dir := r.hostsDir
		r.mu.Unlock()
		host, _, _ := strings.Cut(repo, "/")
		if dir == "" || rec.status != http.StatusCreated || !hostRE.MatchString(host) {
			return
		}
		// writeHost leaves a hosts.toml that says the same alone.
		if err := r.writeHost(dir, host); err != nil {
			r.log.Warn("registry: mirroring a newly pushed host", "host", host, "err", err)
		}
	})
}
