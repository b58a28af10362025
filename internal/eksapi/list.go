package eksapi

import "net/http"

// listed runs one page of a list operation for the request's maxResults
// and nextToken and returns its answer: the items under key, and
// nextToken unless the page is the last. When ok is false it has written
// the error.
func listed[T any](q *request, key string, page func(maxResults int, token string) ([]T, string, error)) (out map[string]any, ok bool) {
	max, err := queryInt(q, "maxResults")
	if err != nil {
		writeError(q.w, err)
		return nil, false
	}
	items, next, err := page(max, q.query.Get("nextToken"))
	if err != nil {
		writeError(q.w, err)
		return nil, false
	}
	out = map[string]any{key: items}
	if next != "" {
		out["nextToken"] = next
	}
	return out, true
}

// writeList answers a list operation with listed's answer.
func writeList[T any](q *request, key string, page func(maxResults int, token string) ([]T, string, error)) {
	if out, ok := listed(q, key, page); ok {
		writeJSON(q.w, http.StatusOK, out)
	}
}
