package eksapi

import (
	"context"
	"net/http"

	"github.com/berthproject/berth/internal/fargate"
)

// The Fargate profile operations: CreateFargateProfile,
// ListFargateProfiles, DescribeFargateProfile and DeleteFargateProfile, in
// the shapes of the EKS model.

func (h *Handler) createFargateProfile(q *request, clusterName string) {
	var in createFargateProfileRequest
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	ci := fargate.CreateInput{
		Cluster:             clusterName,
		Name:                str(in.FargateProfileName),
		PodExecutionRoleARN: str(in.PodExecutionRoleArn),
		Subnets:             in.Subnets,
		Tags:                in.Tags,
		ClientRequestToken:  str(in.ClientRequestToken),
	}
	for _, sel := range in.Selectors {
		ci.Selectors = append(ci.Selectors, fargate.Selector{Namespace: str(sel.Namespace), Labels: sel.Labels})
	}
	p, err := h.cfg.Fargate.Create(q.ctx, ci)
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"fargateProfile": fargateProfileToWire(p)})
}

func (h *Handler) listFargateProfiles(q *request, clusterName string) {
	writeList(q, "fargateProfileNames", func(max int, token string) ([]string, string, error) {
		return h.cfg.Fargate.List(q.ctx, clusterName, max, token)
	})
}

func fargateTransitional(status string) bool {
	return status == fargate.StatusCreating || status == fargate.StatusDeleting
}

func (h *Handler) describeFargateProfile(q *request, clusterName, name string) {
	p, _, err := h.cfg.Fargate.Get(q.ctx, clusterName, name)
	if err == nil && fargateTransitional(p.Status) && h.cfg.DescribeHold > 0 {
		p, err = hold(q.ctx, h, fargate.KindProfile, fargate.Key(clusterName, name), p.Status, func(ctx context.Context) (*fargate.Profile, string, error) {
			p, _, err := h.cfg.Fargate.Get(ctx, clusterName, name)
			if err != nil {
				return nil, "", err
			}
			return p, p.Status, nil
		})
	}
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"fargateProfile": fargateProfileToWire(p)})
}

func (h *Handler) deleteFargateProfile(q *request, clusterName, name string) {
	p, err := h.cfg.Fargate.Delete(q.ctx, clusterName, name)
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"fargateProfile": fargateProfileToWire(p)})
}

func fargateProfileToWire(p *fargate.Profile) fargateProfileWire {
	w := fargateProfileWire{
		FargateProfileName:  p.Name,
		FargateProfileArn:   p.ARN,
		ClusterName:         p.Cluster,
		CreatedAt:           ep(p.CreatedAt),
		PodExecutionRoleArn: p.PodExecutionRoleARN,
		Subnets:             p.Subnets,
		Selectors:           make([]fargateSelectorWire, 0, len(p.Selectors)),
		Status:              p.Status,
		Tags:                p.Tags,
		Health:              health{Issues: []clusterIssue{}},
	}
	if w.Subnets == nil {
		w.Subnets = []string{}
	}
	if w.Tags == nil {
		w.Tags = map[string]string{}
	}
	for _, sel := range p.Selectors {
		labels := sel.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		w.Selectors = append(w.Selectors, fargateSelectorWire{Namespace: sel.Namespace, Labels: labels})
	}
	for _, is := range p.Health {
		w.Health.Issues = append(w.Health.Issues, clusterIssue{Code: is.Code, Message: is.Message, ResourceIDs: is.ResourceIDs})
	}
	return w
}

// Requests.

type createFargateProfileRequest struct {
	FargateProfileName  *string                  `json:"fargateProfileName"`
	PodExecutionRoleArn *string                  `json:"podExecutionRoleArn"`
	Subnets             []string                 `json:"subnets"`
	Selectors           []fargateSelectorRequest `json:"selectors"`
	ClientRequestToken  *string                  `json:"clientRequestToken"`
	Tags                map[string]string        `json:"tags"`
}

// fargateSelectorRequest is FargateProfileSelector in a request.
type fargateSelectorRequest struct {
	Namespace *string           `json:"namespace"`
	Labels    map[string]string `json:"labels"`
}

// Responses.

type fargateProfileWire struct {
	FargateProfileName  string                `json:"fargateProfileName"`
	FargateProfileArn   string                `json:"fargateProfileArn"`
	ClusterName         string                `json:"clusterName"`
	CreatedAt           *epoch                `json:"createdAt"`
	PodExecutionRoleArn string                `json:"podExecutionRoleArn"`
	Subnets             []string              `json:"subnets"`
	Selectors           []fargateSelectorWire `json:"selectors"`
	Status              string                `json:"status"`
	Tags                map[string]string     `json:"tags"`
	Health              health                `json:"health"`
}

type fargateSelectorWire struct {
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
}
