package ebs

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"

	"github.com/berthproject/berth/internal/csi/csitest"
)

// sanityEnv selects the variant TestSanity runs: MODE/ACCESS-TYPE, as
// TestSanityVariants sets it for its child processes (Ginkgo runs one
// suite per process).
const sanityEnv = "BERTH_EBS_SANITY"

// ids gives csi-sanity ids of EC2's forms: vol-, i- and 17 hex digits.
type ids struct{}

func hexID(prefix string) string { return prefix + csitest.HexID(17) }

func (ids) GenerateUniqueValidVolumeID() string { return hexID("vol-") }
func (ids) GenerateInvalidVolumeID() string     { return "vol-invalid" }
func (ids) GenerateUniqueValidNodeID() string   { return hexID("i-") }
func (ids) GenerateInvalidNodeID() string       { return "i-invalid" }

// TestSanity runs the CSI conformance suite, csi-sanity, against the
// driver served on a unix socket: controller and node, one running
// m5.large as the node, real loop devices and filesystems where the
// machine allows (else the best emulation), mount access.
func TestSanity(t *testing.T) {
	mode, access := ModeAuto, "mount"
	if v := os.Getenv(sanityEnv); v != "" {
		m, a, _ := strings.Cut(v, "/")
		mode, access = Mode(m), a
		needMode(t, mode)
	}
	f := newFixture(t, mode)
	t.Logf("node mode %s (%s), access type %s", f.node.Mode(), f.node.ModeReason(), access)
	sock := filepath.Join(f.root, "csi.sock")
	srv, err := NewServer(ServerConfig{Endpoint: "unix://" + sock, Controller: f.controller, Node: f.node})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not listen")
		}
	}

	cfg := sanity.NewTestConfig()
	cfg.Address = "unix://" + sock
	cfg.TargetPath = filepath.Join(f.root, "target")
	cfg.StagingPath = filepath.Join(f.root, "staging")
	cfg.TestVolumeSize = 1 << 30
	cfg.TestVolumeExpandSize = 2 << 30
	cfg.TestVolumeAccessType = access
	cfg.TestNodeVolumeAttachLimit = true
	cfg.TestVolumeParameters = map[string]string{"type": "gp3"}
	cfg.TestVolumeMutableParameters = map[string]string{"throughput": "200"}
	cfg.IDGen = ids{}
	cfg.IdempotentCount = 3
	sanity.Test(t, cfg)
}

// summaryRE is Ginkgo's closing line: "SUCCESS! -- 80 Passed | 0 Failed
// | 0 Pending | 14 Skipped".
var summaryRE = regexp.MustCompile(`(SUCCESS|FAIL)! -- (\d+) Passed \| (\d+) Failed \| (\d+) Pending \| (\d+) Skipped`)

// TestSanityVariants runs csi-sanity again, each in a process of its own,
// for raw block volumes on loop devices and for the two emulations.
func TestSanityVariants(t *testing.T) {
	if os.Getenv(sanityEnv) != "" {
		t.Skip("a child of TestSanityVariants")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	for _, v := range []string{"loop/block", "bind/mount", "bind/block", "symlink/mount"} {
		t.Run(strings.ReplaceAll(v, "/", "-"), func(t *testing.T) {
			m, _, _ := strings.Cut(v, "/")
			needMode(t, Mode(m))
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSanity$", "-test.v", "-ginkgo.no-color")
			cmd.Env = append(os.Environ(), sanityEnv+"="+v)
			out, err := cmd.CombinedOutput()
			var summary string
			sc := bufio.NewScanner(strings.NewReader(string(out)))
			for sc.Scan() {
				if summaryRE.MatchString(sc.Text()) {
					summary = summaryRE.FindString(sc.Text())
				}
			}
			if err != nil {
				t.Fatalf("csi-sanity %s: %v\n%s", v, err, out)
			}
			t.Logf("csi-sanity %s: %s", v, summary)
		})
	}
}
