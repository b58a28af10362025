// Package paging is the maxResults/nextToken pagination the EKS list
// operations share: the bounds of maxResults, an opaque token naming the
// last item of the previous page, and pages of sorted keys.
package paging

import (
	"encoding/base64"
	"strings"

	"github.com/berthproject/berth/internal/apierror"
)

// DefaultLimit is the page size when a request gives no maxResults, and
// the largest one allowed.
const DefaultLimit = 100

// Limit checks a request's maxResults: zero means DefaultLimit, anything
// else must be between 1 and DefaultLimit.
func Limit(maxResults int) (int, error) {
	if maxResults == 0 {
		return DefaultLimit, nil
	}
	if maxResults < 1 || maxResults > DefaultLimit {
		return 0, apierror.New(apierror.InvalidParameter, "maxResults must be between 1 and 100.")
	}
	return maxResults, nil
}

// Token is the nextToken of a page that ended with the item after.
func Token(after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + after))
}

// After decodes a nextToken into the last item of the page before; an
// empty token is the start.
func After(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), "v1:") {
		return "", Invalid(tok)
	}
	return strings.TrimPrefix(string(b), "v1:"), nil
}

// Invalid is the error for a token that names no page.
func Invalid(tok string) error {
	return apierror.New(apierror.InvalidParameter, "The pagination token %q is invalid.", tok)
}

// Page returns up to limit of the sorted keys that come after after, and
// the token of the next page ("" on the last).
func Page(keys []string, limit int, after string) ([]string, string) {
	page := []string{}
	for _, k := range keys {
		if after != "" && k <= after {
			continue
		}
		if len(page) == limit {
			return page, Token(page[len(page)-1])
		}
		page = append(page, k)
	}
	return page, ""
}
