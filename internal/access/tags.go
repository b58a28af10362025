package access

import (
	"context"

	"github.com/berthproject/berth/internal/cluster"
)

// ByARN finds the entry an access entry ARN names (the ARN names the
// principal without its path, so the cluster's entries are searched).
func (s *Service) ByARN(ctx context.Context, clusterName, arn string) (*Entry, error) {
	all, err := s.All(ctx, clusterName)
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		if e.ARN == arn {
			return e, nil
		}
	}
	return nil, notFound()
}

// Tag adds tags to an entry, as TagResource on its ARN does.
func (s *Service) Tag(ctx context.Context, clusterName, principalARN string, tags map[string]string) error {
	return cluster.ApplyTags(tags, s.tagsOf(ctx, clusterName, principalARN))
}

// Untag removes tags from an entry, as UntagResource on its ARN does.
func (s *Service) Untag(ctx context.Context, clusterName, principalARN string, keys []string) error {
	return cluster.ApplyUntags(keys, s.tagsOf(ctx, clusterName, principalARN))
}

func (s *Service) tagsOf(ctx context.Context, clusterName, principalARN string) cluster.TagsUpdate {
	return func(change func(*map[string]string) error) error {
		_, err := s.mutate(ctx, clusterName, principalARN, func(e *Entry) error { return change(&e.Tags) })
		return err
	}
}
