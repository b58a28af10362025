package plugin

import (
	"context"
	"errors"
	"net"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
)

// Serve runs a gRPC server with the identity service id and the services
// register adds on lis until ctx is done; then it stops gracefully and
// returns nil.
func Serve(ctx context.Context, lis net.Listener, id csi.IdentityServer, register func(*grpc.Server)) error {
	s := grpc.NewServer()
	csi.RegisterIdentityServer(s, id)
	register(s)
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			s.GracefulStop()
		case <-done:
		}
	}()
	err := s.Serve(lis)
	close(done)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}
