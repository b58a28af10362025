package sim

import (
	"testing"

	"github.com/berthproject/berth/internal/controlplane/cptest"
)

// TestHelperControlPlaneProcess is not a test: it is the control-plane
// process of the integration tests (cptest.Start re-executes this test
// binary into it).
func TestHelperControlPlaneProcess(t *testing.T) { cptest.HelperProcess(t) }

// startControlPlane starts a control plane for the package's tests.
func startControlPlane(t *testing.T) *cptest.ControlPlane { return cptest.Start(t, "sim-it") }
