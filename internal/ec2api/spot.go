package ec2api

import (
	"context"
	"encoding/xml"
	"strconv"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/queryapi"
)

// SendSpotInstanceInterruptions is berth's own action (EC2 has none; AWS
// Fault Injection Service's aws:ec2:send-spot-instance-interruptions does
// the same): it gives running Spot instances a rebalance recommendation
// and an interruption notice, and they terminate when the notice runs out.
// Parameters: InstanceId.N, and NoticeSeconds (default 120, as on AWS;
// 0..3600). The answer lists each instance with its termination time.
//
// `berth spot interrupt` calls it.
const actionSendSpotInterruptions = "SendSpotInstanceInterruptions"

type spotInterruptionsResponse struct {
	XMLName xml.Name `xml:"SendSpotInstanceInterruptionsResponse"`
	queryapi.EC2Header
	Instances set[spotInterruptionXML] `xml:"instancesSet"`
}

type spotInterruptionXML struct {
	InstanceID  string `xml:"instanceId"`
	NoticeTime  string `xml:"rebalanceRecommendationTime"`
	TerminateAt string `xml:"instanceTerminationTime"`
}

func (h *Handler) sendSpotInterruptions(ctx context.Context, c *call) (any, error) {
	ids, err := c.instanceIDs()
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, queryapi.Errorf("MissingParameter", "The request must contain the parameter InstanceId.")
	}
	notice := compute.SpotNotice
	if v := c.Get("NoticeSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 3600 {
			return nil, queryapi.Errorf("InvalidParameterValue", "Value (%s) for parameter NoticeSeconds is invalid. It must be a whole number of seconds from 0 to 3600.", v)
		}
		notice = time.Duration(n) * time.Second
	}
	all, err := h.instances(ctx)
	if err != nil {
		return nil, err
	}
	// Without a compute service there are no instances: every id is
	// missing, so Interrupt below is only reached with one.
	if missing := missingInstances(all, ids); len(missing) > 0 {
		return nil, notFound("InvalidInstanceID.NotFound", "instance ID", missing)
	}
	got, err := h.cfg.Instances.Interrupt(ctx, ids, notice)
	if e, ok := apierror.As(err); ok {
		code := "IncorrectInstanceState"
		if e.Kind == apierror.ResourceNotFound {
			code = "InvalidInstanceID.NotFound"
		}
		return nil, queryapi.Errorf(code, "%s", e.Message)
	}
	if err != nil {
		return nil, err
	}
	out := make([]spotInterruptionXML, 0, len(got))
	for _, in := range got {
		x := spotInterruptionXML{InstanceID: in.ID}
		if in.Interruption != nil {
			x.NoticeTime = in.Interruption.RebalanceAt.UTC().Format(time.RFC3339)
			x.TerminateAt = in.Interruption.TerminateAt.UTC().Format(time.RFC3339)
		}
		out = append(out, x)
	}
	return &spotInterruptionsResponse{Instances: set[spotInterruptionXML]{Items: out}}, nil
}
