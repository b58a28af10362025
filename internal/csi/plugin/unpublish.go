package plugin

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthproject/berth/internal/csi/bindmount"
)

// Unpublish undoes a file-system driver's publish (or stage) of the volume
// volumeID at path with m. field names the path in the error of a missing
// one: "Target path", "Staging target path".
func Unpublish(m *bindmount.Mounter, volumeID, path, field string) error {
	if volumeID == "" {
		return status.Error(codes.InvalidArgument, "Volume ID not provided")
	}
	if path == "" {
		return status.Errorf(codes.InvalidArgument, "%s not provided", field)
	}
	if err := m.Unpublish(path); err != nil {
		return status.Errorf(codes.Internal, "Could not unmount %q: %v", path, err)
	}
	return nil
}
