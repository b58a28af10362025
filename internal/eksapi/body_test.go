package eksapi_test

import (
	"bytes"
	"context"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// replaceBody swaps the serialized request body before it is signed, to
// send what the SDK itself never would.
func replaceBody(body []byte) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Serialize.Add(middleware.SerializeMiddlewareFunc("replaceBody", func(ctx context.Context, in middleware.SerializeInput, next middleware.SerializeHandler) (middleware.SerializeOutput, middleware.Metadata, error) {
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				r, err := req.SetStream(bytes.NewReader(body))
				if err != nil {
					return middleware.SerializeOutput{}, middleware.Metadata{}, err
				}
				r.ContentLength = int64(len(body))
				in.Request = r
			}
			return next.HandleSerialize(ctx, in)
		}), middleware.After)
	}
}
