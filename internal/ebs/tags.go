package ebs

import (
	"context"
	"maps"
	"regexp"
	"strings"
	"unicode/utf8"
)

// EC2's tag rules (Amazon EC2 User Guide, "Tag restrictions").
const (
	maxTags           = 50
	maxTagKeyLength   = 127
	maxTagValueLength = 255
)

var kmsKeyIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^mrk-[0-9a-f]{32}$`)

// ValidateTags checks tags against EC2's rules.
func ValidateTags(tags map[string]string) error {
	if len(tags) > maxTags {
		return errorf("TagLimitExceeded", "The maximum number of tags per resource is %d.", maxTags)
	}
	for k, v := range tags {
		switch {
		case k == "":
			return errorf(InvalidParameterValue, "Tag key cannot be empty.")
		case utf8.RuneCountInString(k) > maxTagKeyLength:
			return errorf(InvalidParameterValue, "Tag key exceeds the maximum length of %d characters", maxTagKeyLength)
		case utf8.RuneCountInString(v) > maxTagValueLength:
			return errorf(InvalidParameterValue, "Tag value exceeds the maximum length of %d characters", maxTagValueLength)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			return errorf(InvalidParameterValue, "Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	return nil
}

// TagVolume adds or replaces tags on a volume (EC2's CreateTags).
func (s *Service) TagVolume(ctx context.Context, volumeID string, tags map[string]string) error {
	_, err := s.mutateVolume(ctx, volumeID, func(v *Volume) error {
		merged := maps.Clone(v.Tags)
		if merged == nil {
			merged = map[string]string{}
		}
		maps.Copy(merged, tags)
		if err := ValidateTags(merged); err != nil {
			return err
		}
		v.Tags = merged
		return nil
	})
	return err
}
