package iam

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// The constraints of the IAM and STS API models, with the patterns as
// the models (and so AWS's messages) write them.
const (
	namePattern        = `[\w+=,.@-]+`
	pathPattern        = `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`
	pathPrefixPattern  = `\u002F[\u0021-\u007F]*`
	descriptionPattern = `[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*`
	policyPattern      = `[\u0009\u000A\u000D\u0020-\u00FF]+`
	markerPattern      = `[\u0020-\u00FF]+`
	accessKeyIDPattern = `[\w]+`
	tagPattern         = `[\p{L}\p{Z}\p{N}_.:/=+\-@]+`
	tagValuePattern    = `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`
	sessionNamePattern = `[\w+=,.@-]*`
	externalIDPattern  = `[\w+=,.@:\/-]*`
	arnPattern         = `[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+`
)

var (
	nameRE        = regexp.MustCompile(`^[\w+=,.@-]+$`)
	pathRE        = regexp.MustCompile(`^(/|/[\x21-\x7E]+/)$`)
	pathPrefixRE  = regexp.MustCompile(`^/[\x21-\x7F]*$`)
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]*$`)
	externalIDRE  = regexp.MustCompile(`^[\w+=,.@:/-]*$`)
	accessKeyRE   = regexp.MustCompile(`^\w+$`)
	// roleARNRE is the shape STS checks a RoleArn against before looking
	// at it further; anything else is "... is invalid".
	roleARNRE = regexp.MustCompile(`^arn:[^:]+:[^:]+:[^:]*:[^:]*:[^:]+$`)
)

// inRanges reports whether every rune of s is in one of the inclusive
// ranges given as pairs.
func inRanges(s string, ranges ...rune) bool {
	for _, r := range s {
		ok := false
		for i := 0; i+1 < len(ranges); i += 2 {
			if r >= ranges[i] && r <= ranges[i+1] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func isDescription(s string) bool {
	return inRanges(s, '\t', '\t', '\n', '\n', '\r', '\r', 0x20, 0x7E, 0xA1, 0xFF)
}

func isPolicyText(s string) bool {
	return s != "" && inRanges(s, '\t', '\t', '\n', '\n', '\r', '\r', 0x20, 0xFF)
}

func isMarker(s string) bool { return s != "" && inRanges(s, 0x20, 0xFF) }

func isARNText(s string) bool {
	return s != "" && inRanges(s, '\t', '\t', '\n', '\n', '\r', '\r', 0x20, 0x7E, 0x85, 0x85, 0xA0, 0xD7FF, 0xE000, 0xFFFD, 0x10000, 0x10FFFF)
}

func isTagText(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp) && !unicode.IsNumber(r) && !strings.ContainsRune("_.:/=+-@", r) {
			return false
		}
	}
	return true
}

// name checks a user or role name; maxLen is as in the IAM model: 64 for
// role names and new user names, 128 where an existing user is named.
func (v *violations) name(value *string, field string, maxLen int) {
	if value == nil {
		v.null(field)
		return
	}
	v.text(*value, field, 1, maxLen, namePattern, nameRE.MatchString)
}

// path checks an optional path.
func (v *violations) path(value *string, field string) {
	if value != nil {
		v.text(*value, field, 1, 512, pathPattern, pathRE.MatchString)
	}
}

// list checks the paging and filter parameters of a list operation.
func (v *violations) list(in ListInput, hasPathPrefix bool) {
	if hasPathPrefix && in.PathPrefix != "" {
		v.text(in.PathPrefix, "pathPrefix", 1, 512, pathPrefixPattern, pathPrefixRE.MatchString)
	}
	if in.Marker != "" {
		v.text(in.Marker, "marker", 1, 320, markerPattern, isMarker)
	}
	if in.MaxItems != nil {
		v.number(*in.MaxItems, "maxItems", 1, 1000)
	}
}

// tags checks the tags of a create operation.
func (v *violations) tags(tags []Tag) error {
	if len(tags) > 50 {
		v.add(tagsString(tags), "tags", "Member must have length less than or equal to 50")
	}
	for i, t := range tags {
		field := "tags." + strconv.Itoa(i+1) + ".member."
		v.text(t.Key, field+"key", 1, 128, tagPattern, isTagText)
		v.text(t.Value, field+"value", 0, 256, tagValuePattern, isTagText)
	}
	seen := map[string]bool{}
	for _, t := range tags {
		k := strings.ToLower(t.Key)
		if seen[k] {
			return errorf(CodeInvalidInput, "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[k] = true
	}
	return nil
}

// tagsString writes tags as the AWS front end writes a list in messages.
func tagsString(tags []Tag) string {
	parts := make([]string, len(tags))
	for i, t := range tags {
		parts[i] = "Tag(key=" + t.Key + ", value=" + t.Value + ")"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// cleanPath returns the path to store: "/" when none is given.
func cleanPath(p *string) string {
	if p == nil {
		return "/"
	}
	return *p
}
