package efs

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/berthproject/berth/internal/paging"
)

const maxTags = 50

// tagAlphabet is what tag keys and values are made of: `[\p{L}\p{Z}\p{N}_.:/=+\-@]`.
// (As a counted regexp, {0,256} repeats of those classes, it compiled to
// 15 MB that every berth process allocated at start.)
var tagAlphabet = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

// validTag reports whether s is of the tag alphabet and has min to max
// characters.
func validTag(s string, min, max int) bool {
	n := utf8.RuneCountInString(s)
	return n >= min && n <= max && tagAlphabet.MatchString(s)
}

// validateTags checks tags as EFS does: keys of 1 to 128 characters not
// starting with aws:, values of up to 256, a restricted alphabet, no
// duplicate keys, at most 50.
func validateTags(tags []Tag) error {
	if len(tags) > maxTags {
		return badRequest("A resource can have at most %d tags.", maxTags)
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if !validTag(t.Key, 1, 128) || strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return badRequest("Tag key '%s' is not valid: keys are 1 to 128 Unicode letters, digits, white space or _ . : / = + - @, and may not start with aws:.", t.Key)
		}
		if !validTag(t.Value, 0, 256) {
			return badRequest("Tag value '%s' is not valid: values are up to 256 Unicode letters, digits, white space or _ . : / = + - @.", t.Value)
		}
		if seen[t.Key] {
			return badRequest("Duplicate tag key '%s'.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// nameOf returns the value of the Name tag.
func nameOf(tags []Tag) string {
	for _, t := range tags {
		if t.Key == "Name" {
			return t.Value
		}
	}
	return ""
}

// mergeTags adds or replaces tags, keeping the order of the existing ones.
func mergeTags(cur, add []Tag) []Tag {
	out := slices.Clone(cur)
	for _, t := range add {
		if i := slices.IndexFunc(out, func(o Tag) bool { return o.Key == t.Key }); i >= 0 {
			out[i].Value = t.Value
		} else {
			out = append(out, t)
		}
	}
	return out
}

// TagResource adds or replaces tags on a file system or access point
// (by id or ARN).
func (s *Service) TagResource(ctx context.Context, resourceID string, tags []Tag) error {
	if len(tags) == 0 {
		return badRequest("Tags must contain at least one tag.")
	}
	if err := validateTags(tags); err != nil {
		return err
	}
	return s.changeTags(ctx, resourceID, func(cur []Tag) ([]Tag, error) {
		out := mergeTags(cur, tags)
		if len(out) > maxTags {
			return nil, badRequest("A resource can have at most %d tags.", maxTags)
		}
		return out, nil
	})
}

// UntagResource removes tags by key; missing keys are ignored.
func (s *Service) UntagResource(ctx context.Context, resourceID string, keys []string) error {
	if len(keys) == 0 {
		return badRequest("TagKeys must contain at least one key.")
	}
	return s.changeTags(ctx, resourceID, func(cur []Tag) ([]Tag, error) {
		return slices.DeleteFunc(slices.Clone(cur), func(t Tag) bool { return slices.Contains(keys, t.Key) }), nil
	})
}

// ListTagsForResource returns the tags of a file system or access point,
// a page at a time.
func (s *Service) ListTagsForResource(ctx context.Context, resourceID string, maxResults int, token string) ([]Tag, string, error) {
	tags, err := s.tagsOf(ctx, resourceID)
	if err != nil {
		return nil, "", err
	}
	keys := make([]string, len(tags))
	for i, t := range tags {
		keys[i] = t.Key
	}
	return pageOf(tags, keys, maxResults, token)
}

func (s *Service) tagsOf(ctx context.Context, resourceID string) ([]Tag, error) {
	if id, ok := resourceID2(resourceID); ok && strings.HasPrefix(id, "fsap-") {
		ap, err := s.AccessPoint(ctx, id)
		if err != nil {
			return nil, err
		}
		return ap.Tags, nil
	}
	fs, err := s.FileSystem(ctx, resourceID)
	if err != nil {
		return nil, err
	}
	return fs.Tags, nil
}

func (s *Service) changeTags(ctx context.Context, resourceID string, change func([]Tag) ([]Tag, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := resourceID2(resourceID); ok && strings.HasPrefix(id, "fsap-") {
		ap, rev, err := s.getAccessPoint(ctx, id)
		if err != nil {
			return err
		}
		tags, err := change(ap.Tags)
		if err != nil {
			return err
		}
		ap.Tags = tags
		_, err = s.cfg.Store.Apply(ctx, storeOp(KindAccessPoint, ap.ID, ap, rev))
		return storeErr("tagging access point", err)
	}
	fs, rev, err := s.getFileSystem(ctx, resourceID)
	if err != nil {
		return err
	}
	tags, err := change(fs.Tags)
	if err != nil {
		return err
	}
	fs.Tags = tags
	_, err = s.cfg.Store.Apply(ctx, storeOp(KindFileSystem, fs.ID, fs, rev))
	return storeErr("tagging file system", err)
}

// resourceID2 reads a ResourceId (fs-, fsap- or either ARN).
func resourceID2(idOrARN string) (string, bool) {
	if id, ok := resourceID(idOrARN, accessPointIDRE); ok {
		return id, true
	}
	return resourceID(idOrARN, fileSystemIDRE)
}

// pageOf returns the page of items (whose sorted-or-ordered keys are
// keys) after token, and the next token.
func pageOf[T any](items []T, keys []string, limit int, token string) ([]T, string, error) {
	if limit <= 0 || limit > paging.DefaultLimit {
		limit = paging.DefaultLimit
	}
	after, err := paging.After(token)
	if err != nil {
		return nil, "", badRequest("The pagination token '%s' is invalid.", token)
	}
	start := 0
	if after != "" {
		start = slices.Index(keys, after) + 1
		if start == 0 {
			return nil, "", badRequest("The pagination token '%s' is invalid.", token)
		}
	}
	end := min(start+limit, len(items))
	next := ""
	if end < len(items) {
		next = paging.Token(keys[end-1])
	}
	return items[start:end], next, nil
}
