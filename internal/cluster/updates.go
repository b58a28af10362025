package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/paging"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
)

// UpdateVersion starts a version update: one minor up, from ACTIVE. A
// repeated request with the same clientRequestToken returns the update the
// first one started.
func (s *Service) UpdateVersion(ctx context.Context, name, version, token string) (*Update, error) {
	if version == "" {
		return nil, invalid("version is required.")
	}
	var upd *Update
	_, err := s.Mutate(ctx, name, func(c *Cluster) ([]store.Op, error) {
		upd = nil
		existing, err := s.updatesOf(ctx, name, "")
		if err != nil {
			return nil, err
		}
		if upd = byToken(existing, token); upd != nil {
			return nil, nil
		}
		if err := startable(c, existing, UpdateTypeVersion); err != nil {
			return nil, err
		}
		if _, ok := s.cfg.Versions.Get(version); !ok {
			return nil, invalid("unsupported Kubernetes version %s. Supported versions: %s", version, strings.Join(s.cfg.Versions.Minors(), ", ")).With("clusterName", name)
		}
		if version == c.Version {
			return nil, invalid("Cluster %s is already at version %s.", name, version).With("clusterName", name)
		}
		next, ok := s.cfg.Versions.Next(c.Version)
		if versions.Compare(version, c.Version) < 0 || !ok || next.Minor != version {
			return nil, invalid("Unsupported Kubernetes minor version update from %s to %s", c.Version, version).With("clusterName", name)
		}
		ngs, err := s.nodegroups(ctx, name)
		if err != nil {
			return nil, err
		}
		var behind []string
		for _, ng := range ngs {
			if ng.Version != c.Version {
				behind = append(behind, ng.Name)
			}
		}
		if len(behind) > 0 {
			return nil, apierror.New(apierror.InvalidRequest, "Nodegroups %s must be updated to match cluster version %s before updating cluster version", strings.Join(behind, ", "), c.Version).With("clusterName", name)
		}
		v, _ := s.cfg.Versions.Get(version)
		upd = &Update{
			ID:      uuid.NewString(),
			Cluster: name,
			Status:  UpdateInProgress,
			Type:    UpdateTypeVersion,
			Params: []UpdateParam{
				{Type: "Version", Value: version},
				{Type: "PlatformVersion", Value: v.PlatformVersion},
			},
			CreatedAt:          s.cfg.Now().UTC().Truncate(time.Millisecond),
			ClientRequestToken: token,
		}
		raw, err := json.Marshal(upd)
		if err != nil {
			return nil, err
		}
		c.Status = StatusUpdating
		return []store.Op{{Kind: KindUpdate, Key: updateKey(name, upd.ID), Value: raw, Create: true}}, nil
	})
	if err != nil {
		return nil, err
	}
	return upd, nil
}

// byToken returns the update of updates that the request with the
// clientRequestToken token started, or nil.
func byToken(updates []*Update, token string) *Update {
	if token == "" {
		return nil
	}
	for _, u := range updates {
		if u.ClientRequestToken == token {
			return u
		}
	}
	return nil
}

// startable checks that an update of type typ may start on c, whose own
// updates are existing: EKS runs one update of a cluster at a time, on an
// ACTIVE cluster.
func startable(c *Cluster, existing []*Update, typ string) error {
	for _, u := range existing {
		if u.Status == UpdateInProgress {
			return apierror.New(apierror.ResourceInUse, "Cannot %s because cluster %s currently has update %s in progress", typ, c.Name, u.ID).With("clusterName", c.Name)
		}
	}
	if c.Status != StatusActive {
		return apierror.New(apierror.InvalidRequest, "Cluster '%s' is not in ACTIVE status", c.Name).With("clusterName", c.Name)
	}
	return nil
}

// UpdateKey is the store key (kind KindUpdate) of an update: CLUSTER/ID,
// for the updates of a cluster and of its node groups alike.
func UpdateKey(cluster, id string) string { return updateKey(cluster, id) }

// nodegroups lists the node groups of a cluster through the hook.
func (s *Service) nodegroups(ctx context.Context, name string) ([]NodegroupRef, error) {
	if s.cfg.Nodegroups == nil {
		return nil, nil
	}
	return s.cfg.Nodegroups(ctx, name)
}

// updates returns a cluster's own updates, oldest first: not those of its
// node groups. It fails with ResourceNotFound when the cluster does not
// exist.
func (s *Service) updates(ctx context.Context, name string) ([]*Update, error) {
	if _, _, err := s.Get(ctx, name); err != nil {
		return nil, err
	}
	return s.updatesOf(ctx, name, "")
}

// updatesOf returns the updates of a cluster (nodegroup "") or of one of
// its node groups, oldest first.
func (s *Service) updatesOf(ctx context.Context, name, nodegroup string) ([]*Update, error) {
	recs, err := s.cfg.Store.List(ctx, KindUpdate, name+"/")
	if err != nil {
		return nil, fmt.Errorf("listing updates of %s: %w", name, err)
	}
	out := make([]*Update, 0, len(recs))
	for _, r := range recs {
		var u Update
		if err := json.Unmarshal(r.Value, &u); err != nil {
			return nil, fmt.Errorf("decoding update %s: %w", r.Key, err)
		}
		if u.Nodegroup == nodegroup {
			out = append(out, &u)
		}
	}
	slices.SortStableFunc(out, func(a, b *Update) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// Updates returns a cluster's own updates, oldest first (for the
// controller); node group updates are the node group service's.
func (s *Service) Updates(ctx context.Context, name string) ([]*Update, error) {
	return s.updates(ctx, name)
}

// scopedUpdates returns the updates DescribeUpdate and ListUpdates look
// at: those of the cluster, or with nodegroupName those of that node
// group, as EKS scopes them. The cluster and the node group must exist.
func (s *Service) scopedUpdates(ctx context.Context, name, nodegroup, addon string) ([]*Update, error) {
	if _, _, err := s.Get(ctx, name); err != nil {
		return nil, err
	}
	if addon != "" {
		return nil, apierror.New(apierror.ResourceNotFound, "No addon found for name: %s.", addon).With("clusterName", name).With("addonName", addon)
	}
	if nodegroup != "" {
		ngs, err := s.nodegroups(ctx, name)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(ngs, func(ng NodegroupRef) bool { return ng.Name == nodegroup }) {
			return nil, apierror.New(apierror.ResourceNotFound, "No node group found for name: %s.", nodegroup).With("clusterName", name).With("nodegroupName", nodegroup)
		}
	}
	return s.updatesOf(ctx, name, nodegroup)
}

// DescribeUpdate returns one update of a cluster, or of one of its node
// groups when nodegroup is given.
func (s *Service) DescribeUpdate(ctx context.Context, name, id, nodegroup, addon string) (*Update, error) {
	all, err := s.scopedUpdates(ctx, name, nodegroup, addon)
	if err != nil {
		return nil, err
	}
	for _, u := range all {
		if u.ID == id {
			return u, nil
		}
	}
	e := apierror.New(apierror.ResourceNotFound, "No update found for ID: %s", id).With("clusterName", name)
	if nodegroup != "" {
		e.With("nodegroupName", nodegroup)
	}
	return nil, e
}

// ListUpdates lists update ids of a cluster, or of one of its node groups
// when nodegroup is given, a page at a time.
func (s *Service) ListUpdates(ctx context.Context, name, nodegroup, addon string, maxResults int, token string) ([]string, string, error) {
	limit, err := paging.Limit(maxResults)
	if err != nil {
		return nil, "", err
	}
	after, err := paging.After(token)
	if err != nil {
		return nil, "", err
	}
	all, err := s.scopedUpdates(ctx, name, nodegroup, addon)
	if err != nil {
		return nil, "", err
	}
	ids := []string{}
	next := ""
	started := after == ""
	for _, u := range all {
		if !started {
			started = u.ID == after
			continue
		}
		if len(ids) == limit {
			next = paging.Token(ids[len(ids)-1])
			break
		}
		ids = append(ids, u.ID)
	}
	if !started {
		return nil, "", paging.Invalid(token)
	}
	return ids, next, nil
}

// FinishUpdate records the outcome of an update (for the controller).
func (s *Service) FinishUpdate(ctx context.Context, u *Update, status string, errs []ErrorDetail) error {
	u.Status = status
	u.Errors = errs
	raw, err := json.Marshal(u)
	if err != nil {
		return err
	}
	_, err = s.cfg.Store.Apply(ctx, store.Op{Kind: KindUpdate, Key: updateKey(u.Cluster, u.ID), Value: raw})
	return err
}

// Remove deletes a cluster record, its updates and its access entries in
// one commit (for the controller, once the control plane and its files
// are gone).
func (s *Service) Remove(ctx context.Context, name string) error {
	recs, err := s.cfg.Store.List(ctx, KindUpdate, name+"/")
	if err != nil {
		return err
	}
	ops := []store.Op{{Kind: KindCluster, Key: name, Delete: true}}
	for _, r := range recs {
		ops = append(ops, store.Op{Kind: KindUpdate, Key: r.Key, Delete: true})
	}
	if s.cfg.AccessEntries != nil {
		entries, err := s.cfg.AccessEntries.RemoveOps(ctx, name)
		if err != nil {
			return err
		}
		ops = append(ops, entries...)
	}
	if s.cfg.Addons != nil {
		more, err := s.cfg.Addons(ctx, name)
		if err != nil {
			return err
		}
		ops = append(ops, more...)
	}
	_, err = s.cfg.Store.Apply(ctx, ops...)
	return err
}
