package ebs

import (
	"context"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthproject/berth/internal/apierror"
	ebsvc "github.com/berthproject/berth/internal/ebs"
)

// The mutable parameters of a VolumeAttributesClass the real driver takes
// (docs/modify-volume.md): type (volumeType, deprecated), iops,
// throughput and tagSpecification_N to add tags.
const (
	mutableVolumeType = "volumetype"
)

// mutableParams are parsed mutable parameters; zero values change nothing.
type mutableParams struct {
	volumeType string
	iops       int
	throughput int
	tags       []string
}

func parseMutable(params map[string]string) (*mutableParams, error) {
	m := &mutableParams{}
	var err error
	for key, value := range params {
		switch strings.ToLower(key) {
		case paramType:
			m.volumeType = value
		case mutableVolumeType:
			if _, ok := params[paramType]; !ok {
				m.volumeType = value
			}
		case paramIOPS:
			if m.iops, err = parseInt("iops", value); err != nil {
				return nil, err
			}
		case paramThroughput:
			if m.throughput, err = parseInt("throughput", value); err != nil {
				return nil, err
			}
		default:
			if strings.HasPrefix(strings.ToLower(key), paramTagPrefix) {
				m.tags = append(m.tags, value)
				continue
			}
			return nil, invalid("Invalid mutable parameter key: %s", key)
		}
	}
	if m.volumeType != "" {
		if _, ok := ebsvc.Limits(m.volumeType); !ok {
			return nil, invalid("Invalid volume type %q: valid types are %s", m.volumeType, strings.Join(ebsvc.VolumeTypes(), ", "))
		}
	}
	return m, nil
}

// apply lets mutable parameters override a CreateVolume's parameters, as
// the CSI spec wants.
func (m *mutableParams) apply(p *createParams) {
	if m.volumeType != "" {
		p.volumeType = m.volumeType
	}
	if m.iops != 0 {
		p.iops, p.iopsPerGB = m.iops, 0
	}
	if m.throughput != 0 {
		p.throughput = m.throughput
	}
	p.tagTemplates = append(p.tagTemplates, m.tags...)
}

// ControllerModifyVolume changes a volume's type, IOPS and throughput
// (ModifyVolume, skipped when nothing changes) and adds tags.
func (c *Controller) ControllerModifyVolume(ctx context.Context, req *csi.ControllerModifyVolumeRequest) (*csi.ControllerModifyVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, invalid("Volume ID not provided")
	}
	m, err := parseMutable(req.GetMutableParameters())
	if err != nil {
		return nil, err
	}
	tags, err := evaluateTags(m.tags, tagProps{})
	if err != nil {
		return nil, err
	}
	if !c.begin(id) {
		return nil, status.Errorf(codes.Aborted, "An operation with the given volume %s is already in progress", id)
	}
	defer c.end(id)
	v, err := c.svc.Volume(ctx, id)
	if err != nil {
		if ebsvc.IsNotFound(err) || apierror.IsKind(err, ebsvc.VolumeMalformed) {
			return nil, status.Errorf(codes.NotFound, "Volume %q not found", id)
		}
		return nil, statusf(err, "Could not modify volume %q", id)
	}
	in := ebsvc.ModifyVolumeInput{VolumeID: id}
	if m.volumeType != "" && m.volumeType != v.Type {
		in.Type = &m.volumeType
	}
	if m.iops != 0 && m.iops != v.IOPS {
		in.IOPS = &m.iops
	}
	if m.throughput != 0 && m.throughput != v.Throughput {
		in.Throughput = &m.throughput
	}
	if in.Type != nil || in.IOPS != nil || in.Throughput != nil {
		if _, err := c.svc.ModifyVolume(ctx, in); err != nil {
			return nil, statusf(err, "Could not modify volume %q", id)
		}
	}
	if len(tags) > 0 {
		if err := c.svc.TagVolume(ctx, id, tags); err != nil {
			return nil, statusf(err, "Could not tag volume %q", id)
		}
	}
	return &csi.ControllerModifyVolumeResponse{}, nil
}
