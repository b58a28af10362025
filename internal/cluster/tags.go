package cluster

import (
	"maps"

	"github.com/berthproject/berth/internal/apierror"
)

// The tagging operations (TagResource, UntagResource) work the same on
// every taggable EKS resource: each service applies these to its record.

// CheckTagRequest checks the tags a TagResource request adds.
func CheckTagRequest(tags map[string]string) error {
	if len(tags) == 0 {
		return apierror.New(apierror.BadRequest, "tags must contain at least one tag.")
	}
	return validateTags(tags)
}

// MergeTags returns a resource's tags with tags added, checked as a whole
// (the 50-tag limit counts what the resource already has).
func MergeTags(existing, tags map[string]string) (map[string]string, error) {
	merged := maps.Clone(existing)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, tags)
	if err := validateTags(merged); err != nil {
		return nil, err
	}
	return merged, nil
}

// CheckUntagRequest checks the keys an UntagResource request removes.
func CheckUntagRequest(keys []string) error {
	if len(keys) == 0 {
		return apierror.New(apierror.BadRequest, "tagKeys must contain at least one key.")
	}
	return nil
}

// RemoveTags returns a resource's tags without keys; nil when none is
// left.
func RemoveTags(existing map[string]string, keys []string) map[string]string {
	out := maps.Clone(existing)
	for _, k := range keys {
		delete(out, k)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// TagsUpdate runs a change of one record's tags inside the record's
// read-modify-write, retried as that is.
type TagsUpdate func(change func(tags *map[string]string) error) error

// ApplyTags is TagResource on one record.
func ApplyTags(tags map[string]string, update TagsUpdate) error {
	if err := CheckTagRequest(tags); err != nil {
		return err
	}
	return update(func(t *map[string]string) error {
		merged, err := MergeTags(*t, tags)
		if err != nil {
			return err
		}
		*t = merged
		return nil
	})
}

// ApplyUntags is UntagResource on one record.
func ApplyUntags(keys []string, update TagsUpdate) error {
	if err := CheckUntagRequest(keys); err != nil {
		return err
	}
	return update(func(t *map[string]string) error {
		*t = RemoveTags(*t, keys)
		return nil
	})
}
