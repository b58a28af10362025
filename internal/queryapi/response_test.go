package queryapi_test

import (
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/queryapi"
)

const id = "00000000-0000-4000-8000-000000000000"

type thingXML struct {
	Name string `xml:"Name"`
}

type describeThingsResponse struct {
	XMLName xml.Name `xml:"DescribeThingsResponse"`
	queryapi.EC2Header
	Things []thingXML `xml:"thingSet>item"`
}

// wantWritten checks a recorded answer: status, headers and body.
func wantWritten(t *testing.T, w *httptest.ResponseRecorder, status int, contentType, body string) {
	t.Helper()
	if w.Code != status || w.Body.String() != body {
		t.Errorf("answer %d:\n%s\nwant %d:\n%s", w.Code, w.Body.String(), status, body)
	}
	if ct := w.Header().Get("Content-Type"); ct != contentType {
		t.Errorf("Content-Type = %q, want %q", ct, contentType)
	}
	if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length = %s, want %d", cl, len(body))
	}
}

func TestWriteResponse(t *testing.T) {
	tests := []struct {
		name        string
		d           queryapi.Dialect
		out         any
		contentType string
		body        string
	}{
		{"query", query, struct {
			Members queryapi.Members[string] `xml:"Names"`
			Empty   queryapi.Members[string] `xml:"Empty"`
		}{Members: queryapi.Members[string]{Member: []string{"a", "b"}}}, "text/xml", `<?xml version="1.0" encoding="UTF-8"?>
<DescribeThingsResponse xmlns="https://example.amazonaws.com/doc/2011-01-01/">
  <DescribeThingsResult>
    <Names>
      <member>a</member>
      <member>b</member>
    </Names>
    <Empty></Empty>
  </DescribeThingsResult>
  <ResponseMetadata>
    <RequestId>00000000-0000-4000-8000-000000000000</RequestId>
  </ResponseMetadata>
</DescribeThingsResponse>
`},
		{"query without a result", query, nil, "text/xml", `<?xml version="1.0" encoding="UTF-8"?>
<DescribeThingsResponse xmlns="https://example.amazonaws.com/doc/2011-01-01/">
  <ResponseMetadata>
    <RequestId>00000000-0000-4000-8000-000000000000</RequestId>
  </ResponseMetadata>
</DescribeThingsResponse>
`},
		{"ec2", ec2, &describeThingsResponse{Things: []thingXML{{Name: "a"}}}, "text/xml;charset=UTF-8", `<?xml version="1.0" encoding="UTF-8"?>
<DescribeThingsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>00000000-0000-4000-8000-000000000000</requestId>
  <thingSet>
    <item>
      <Name>a</Name>
    </item>
  </thingSet>
</DescribeThingsResponse>
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			if err := tt.d.WriteResponse(w, id, "DescribeThings", tt.out); err != nil {
				t.Fatal(err)
			}
			wantWritten(t, w, http.StatusOK, tt.contentType, tt.body)
		})
	}

	for _, d := range []queryapi.Dialect{query, ec2} {
		w := httptest.NewRecorder()
		if err := d.WriteResponse(w, id, "DescribeThings", map[string]string{"a": "b"}); err == nil || w.Body.Len() != 0 || len(w.Header()) != 0 {
			t.Errorf("unencodable answer: %v, wrote %d %q", err, w.Code, w.Body)
		}
	}
}

func TestWriteError(t *testing.T) {
	iam := query
	iam.InternalCode = "ServiceFailure"
	tests := []struct {
		name        string
		d           queryapi.Dialect
		e           *queryapi.Error
		contentType string
		body        string
	}{
		{"query sender", query, &queryapi.Error{Status: http.StatusNotFound, Code: "NoSuchEntity", Message: "The user with name <bob> cannot be found."}, "text/xml",
			`<?xml version="1.0" encoding="UTF-8"?>
<ErrorResponse xmlns="https://example.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The user with name &lt;bob&gt; cannot be found.</Message></Error><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ErrorResponse>
`},
		{"query receiver", query, query.Internal(), "text/xml",
			`<?xml version="1.0" encoding="UTF-8"?>
<ErrorResponse xmlns="https://example.amazonaws.com/doc/2011-01-01/"><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>The request processing has failed because of an unknown error, exception or failure.</Message></Error><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ErrorResponse>
`},
		{"query internal code", iam, iam.Internal(), "text/xml",
			`<?xml version="1.0" encoding="UTF-8"?>
<ErrorResponse xmlns="https://example.amazonaws.com/doc/2011-01-01/"><Error><Type>Receiver</Type><Code>ServiceFailure</Code><Message>The request processing has failed because of an unknown error, exception or failure.</Message></Error><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ErrorResponse>
`},
		{"ec2", ec2, queryapi.Errorf("InvalidAction", "The action %s is not valid for this web service.", "RunInstances"), "text/xml;charset=UTF-8",
			`<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Errors>
    <Error>
      <Code>InvalidAction</Code>
      <Message>The action RunInstances is not valid for this web service.</Message>
    </Error>
  </Errors>
  <RequestID>00000000-0000-4000-8000-000000000000</RequestID>
</Response>
`},
		{"ec2 internal", ec2, ec2.Internal(), "text/xml;charset=UTF-8",
			`<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Errors>
    <Error>
      <Code>InternalError</Code>
      <Message>An internal error has occurred.</Message>
    </Error>
  </Errors>
  <RequestID>00000000-0000-4000-8000-000000000000</RequestID>
</Response>
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			tt.d.WriteError(w, id, tt.e)
			wantWritten(t, w, tt.e.Status, tt.contentType, tt.body)
		})
	}
}

// thing is a request of the test service.
type thing struct {
	queryapi.Params
	caller string
}

func TestService(t *testing.T) {
	errBoom := errors.New("boom")
	actions := map[string]func(context.Context, *thing) (any, error){
		"GetThing":    func(context.Context, *thing) (any, error) { return struct{ Name string }{"a"}, nil },
		"FailThing":   func(context.Context, *thing) (any, error) { return nil, errBoom },
		"RefuseThing": func(context.Context, *thing) (any, error) { return nil, queryapi.Errorf("ValidationError", "no") },
		"BadThing":    func(context.Context, *thing) (any, error) { return map[int]int{}, nil },
	}
	var logs strings.Builder
	var wired []error
	s := queryapi.Service[*thing]{
		Decode: func(w http.ResponseWriter, r *http.Request) (*thing, error) {
			c := &thing{Params: query.Params(nil), caller: r.Header.Get("Caller")}
			if c.caller == "" {
				return c, &queryapi.Error{Status: http.StatusForbidden, Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token"}
			}
			var err error
			c.Params, err = query.Decode(r, nil)
			return c, err
		},
		Run: queryapi.Dispatch(actions),
		WireError: func(c *thing, err error) *queryapi.Error {
			wired = append(wired, err)
			var e *queryapi.Error
			if errors.As(err, &e) {
				return e
			}
			return c.Dialect().Internal()
		},
		Log:      slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		LogAttrs: func(c *thing) []any { return []any{"caller", c.caller} },
	}
	tests := []struct {
		name   string
		query  string
		caller string
		status int
		code   string // empty: an answer
		log    string
	}{
		{"answer", "Action=GetThing&Version=2011-01-01", "bob", 200, "", `msg=request action=GetThing caller=bob`},
		{"refused", "Action=GetThing&Version=2011-01-01", "", 403, "MissingAuthenticationToken", `msg="request failed" action="" caller="" err="MissingAuthenticationToken: Request is missing Authentication Token"`},
		{"unknown action", "Action=Frob&Version=2011-01-01", "bob", 400, "InvalidAction", `msg="request failed" action=Frob caller=bob err="InvalidAction: Could not find operation Frob for version 2011-01-01"`},
		{"service error", "Action=RefuseThing&Version=2011-01-01", "bob", 400, "ValidationError", `msg="request failed" action=RefuseThing caller=bob err="ValidationError: no"`},
		{"internal error", "Action=FailThing&Version=2011-01-01", "bob", 500, "InternalFailure", `msg="request failed" action=FailThing caller=bob err=boom`},
		{"answer not encoded", "Action=BadThing&Version=2011-01-01", "bob", 500, "InternalFailure", `msg="request failed" action=BadThing caller=bob err="encoding BadThing response: xml: unsupported type: map[int]int"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			wired = nil
			r := httptest.NewRequest(http.MethodGet, "/?"+tt.query, nil)
			r.Header.Set("Caller", tt.caller)
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			rid := w.Header().Get("x-amzn-RequestId")
			if w.Code != tt.status || len(rid) != 36 || !strings.Contains(w.Body.String(), rid) {
				t.Errorf("answer %d with request id %q:\n%s", w.Code, rid, w.Body)
			}
			if tt.code != "" && (len(wired) != 1 || !strings.Contains(w.Body.String(), "<Code>"+tt.code+"</Code>")) {
				t.Errorf("errors made wire errors %v, answer %s; want one, %s", wired, w.Body, tt.code)
			}
			if !strings.Contains(logs.String(), tt.log) {
				t.Errorf("log %q, want %q", logs.String(), tt.log)
			}
		})
	}
}
