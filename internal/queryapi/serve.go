package queryapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
)

// Request is a service's own type for a decoded request. Only types that
// embed Params (or are Params) implement it.
type Request interface{ params() Params }

func (p Params) params() Params { return p }

// Service serves one API over the query protocol. Its funcs are what the
// API does; ServeHTTP does the rest.
type Service[R Request] struct {
	// Decode reads, verifies and decodes a request. The dialect of the
	// Params of the request it returns is the dialect of the answer, also
	// with an error.
	Decode func(w http.ResponseWriter, r *http.Request) (R, error)
	// Run runs the action of a request and returns its answer, as
	// WriteResponse takes it; see Dispatch.
	Run func(ctx context.Context, req R) (any, error)
	// WireError makes a wire error of an error of Decode or Run, or of an
	// answer that cannot be encoded: the one place where the service's
	// errors become wire errors.
	WireError func(req R, err error) *Error
	// Log, when set, gets a Debug record of every request: its action,
	// the attributes LogAttrs (optional) adds, and the error it was
	// answered with.
	Log      *slog.Logger
	LogAttrs func(req R) []any
}

// ServeHTTP answers one request. It gives the request an id (also the
// x-amzn-RequestId header), has s decode and run it, and writes the
// answer, or the error made a wire error by s, in the request's dialect.
func (s Service[R]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := RequestID()
	w.Header().Set("x-amzn-RequestId", id)
	req, err := s.Decode(w, r)
	var out any
	if err == nil {
		out, err = s.Run(r.Context(), req)
	}
	p := req.params()
	if err == nil {
		if err = p.Dialect().WriteResponse(w, id, p.Action(), out); err != nil {
			err = fmt.Errorf("encoding %s response: %w", p.Action(), err)
		}
	}
	if err != nil {
		p.Dialect().WriteError(w, id, s.WireError(req, err))
	}
	if s.Log == nil {
		return
	}
	attrs := []any{"action", p.Action()}
	if s.LogAttrs != nil {
		attrs = append(attrs, s.LogAttrs(req)...)
	}
	if err != nil {
		s.Log.Debug("request failed", append(attrs, "err", err)...)
		return
	}
	s.Log.Debug("request", attrs...)
}

var _ http.Handler = Service[Params]{}

// Dispatch returns a Service.Run that runs the action a request names
// among actions, once Lookup has checked the request.
func Dispatch[R Request, A ~func(context.Context, R) (any, error)](actions map[string]A) func(context.Context, R) (any, error) {
	return func(ctx context.Context, req R) (any, error) {
		fn, err := Lookup(req.params(), actions)
		if err != nil {
			return nil, err
		}
		return fn(ctx, req)
	}
}
