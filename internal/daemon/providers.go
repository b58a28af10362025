package daemon

import (
	"context"
	"os"
	"runtime"

	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/compute/realprovider"
	"github.com/berthproject/berth/internal/compute/simprovider"
	"github.com/berthproject/berth/internal/realnode"
	"github.com/berthproject/berth/internal/registry"
)

// providers sends each instance to the provider it was launched with
// (compute.Instance.Provider): simulated kubelets, or real nodes.
type providers struct {
	sim  *simprovider.Provider
	real *realprovider.Provider
}

func (p providers) pick(in *compute.Instance) interface {
	Start(context.Context, *compute.Instance) error
	Stop(context.Context, *compute.Instance) error
	Running(*compute.Instance) bool
} {
	if in.Provider == compute.ProviderReal {
		return p.real
	}
	return p.sim
}

func (p providers) Start(ctx context.Context, in *compute.Instance) error {
	return p.pick(in).Start(ctx, in)
}

func (p providers) Stop(ctx context.Context, in *compute.Instance) error {
	return p.pick(in).Stop(ctx, in)
}

func (p providers) Running(in *compute.Instance) bool { return p.pick(in).Running(in) }

// checkProvider says whether this machine runs a provider's nodes.
func checkProvider(name string) error {
	if name == compute.ProviderReal {
		_, err := realnode.Check()
		return err
	}
	return nil
}

// loadPauseImage pushes the pause image real nodes use into the registry.
func loadPauseImage(dataDir, addr string) error {
	f, err := os.CreateTemp(dataDir, "pause-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := realnode.WritePauseImage(f, runtime.GOARCH); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	_, err = registry.Load(addr, f.Name())
	return err
}
