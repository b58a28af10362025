package access

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/store"
)

// Records are the access entries as the cluster service keeps them with
// its clusters (cluster.Config.AccessEntries): the creator's entry,
// written in the commit that creates a cluster, and the removal of a
// cluster's entries in the commit that removes it. (The cluster service
// cannot import this package, which imports it, and is built before the
// Service.)
type Records struct {
	st Store
}

var _ cluster.AccessEntries = (*Records)(nil)

// RecordsIn returns the Records of the entries st holds.
func RecordsIn(st Store) *Records { return &Records{st: st} }

// CreatorPrincipal is the principal EKS gives the creator's entry for the
// caller of CreateCluster: the caller's ARN, or for an STS assumed-role
// session, its role's (without a path, which a session ARN does not
// carry).
func CreatorPrincipal(callerARN string) (Principal, error) {
	p, err := ParsePrincipal(callerARN)
	if err != nil {
		return Principal{}, fmt.Errorf("the caller %q: %w", callerARN, err)
	}
	if p.Kind == KindSession {
		return ParsePrincipal(p.RoleARN())
	}
	return p, nil
}

// CreatorEntry is the entry EKS gives the creator of a cluster whose
// accessConfig.bootstrapClusterCreatorAdminPermissions is true: a
// STANDARD entry of the caller's principal with EKS's default username
// and AmazonEKSClusterAdminPolicy at cluster scope, created with the
// cluster.
func CreatorEntry(c *cluster.Cluster, callerARN string) (*Entry, error) {
	p, err := CreatorPrincipal(callerARN)
	if err != nil {
		return nil, err
	}
	at := c.CreatedAt
	return &Entry{
		Cluster:      c.Name,
		PrincipalARN: p.ARN,
		ARN:          entryARN(c, p, uuid.NewString()),
		Type:         TypeStandard,
		Username:     defaultUsername(TypeStandard, p),
		CreatedAt:    at,
		ModifiedAt:   at,
		Policies: []AssociatedPolicy{{
			PolicyARN:    ClusterAdminPolicyARN,
			Scope:        Scope{Type: ScopeCluster},
			AssociatedAt: at,
			ModifiedAt:   at,
		}},
	}, nil
}

// CreatorOps returns the op that writes the creator's entry of a new
// cluster. It replaces any record left under its key.
func (r *Records) CreatorOps(c *cluster.Cluster, callerARN string) ([]store.Op, error) {
	e, err := CreatorEntry(c, callerARN)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	return []store.Op{{Kind: KindEntry, Key: Key(c.Name, e.PrincipalARN), Value: raw}}, nil
}

// RemoveOps returns the ops that delete every entry of a cluster.
func (r *Records) RemoveOps(ctx context.Context, clusterName string) ([]store.Op, error) {
	recs, err := r.st.List(ctx, KindEntry, clusterName+"/")
	if err != nil {
		return nil, fmt.Errorf("listing access entries of %s: %w", clusterName, err)
	}
	ops := make([]store.Op, 0, len(recs))
	for _, rec := range recs {
		ops = append(ops, store.Op{Kind: KindEntry, Key: rec.Key, Delete: true})
	}
	return ops, nil
}
