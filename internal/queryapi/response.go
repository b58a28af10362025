package queryapi

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strconv"
)

// Members is a list in a Query protocol answer: <Name><member>...
// </member></Name>. A field of this type is written even when empty.
type Members[T any] struct {
	Member []T `xml:"member"`
}

// EC2Header starts every successful EC2 answer. An answer embeds it, next
// to the XMLName that names its element (DescribeVpcsResponse), and
// WriteResponse fills it in.
type EC2Header struct {
	Xmlns     string `xml:"xmlns,attr"`
	RequestID string `xml:"requestId"`
}

func (h *EC2Header) setEC2Header(xmlns, id string) { *h = EC2Header{Xmlns: xmlns, RequestID: id} }

// ec2Answer is an answer that embeds an EC2Header.
type ec2Answer interface{ setEC2Header(xmlns, id string) }

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// WriteResponse writes the answer out to action with the request id. In
// the Query protocol out is the content of <ActionResult> (nil: no Result
// element, as on AWS), in <ActionResponse xmlns=Namespace> with a
// <ResponseMetadata>. In EC2 out is the whole answer, with an embedded
// EC2Header. When out cannot be encoded WriteResponse writes nothing and
// returns the error.
func (d Dialect) WriteResponse(w http.ResponseWriter, id, action string, out any) error {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if d.Protocol == EC2 {
		if a, ok := out.(ec2Answer); ok {
			a.setEC2Header(d.Namespace, id)
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else if err := d.encodeEnvelope(enc, id, action, out); err != nil {
		return err
	}
	buf.WriteByte('\n')
	d.write(w, http.StatusOK, buf.Bytes())
	return nil
}

// encodeEnvelope encodes the Query protocol's <ActionResponse>.
func (d Dialect) encodeEnvelope(enc *xml.Encoder, id, action string, out any) error {
	start := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: d.Namespace}}}
	err := enc.EncodeToken(start)
	if err == nil && out != nil {
		err = enc.EncodeElement(out, xml.StartElement{Name: xml.Name{Local: action + "Result"}})
	}
	if err == nil {
		err = enc.EncodeElement(responseMetadata{RequestID: id}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	}
	if err == nil {
		err = enc.EncodeToken(start.End())
	}
	if err == nil {
		err = enc.Flush()
	}
	return err
}

type queryError struct {
	XMLName   xml.Name      `xml:"ErrorResponse"`
	Xmlns     string        `xml:"xmlns,attr"`
	Error     queryErrorXML `xml:"Error"`
	RequestID string        `xml:"RequestId"`
}

type queryErrorXML struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

type ec2Error struct {
	XMLName   xml.Name      `xml:"Response"`
	Errors    []ec2ErrorXML `xml:"Errors>Error"`
	RequestID string        `xml:"RequestID"`
}

type ec2ErrorXML struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// WriteError writes e with the request id in the dialect's error
// envelope: the Query protocol's <ErrorResponse>, whose Type is Receiver
// for a status of 500 and above and Sender otherwise, or EC2's
// <Response><Errors>.
func (d Dialect) WriteError(w http.ResponseWriter, id string, e *Error) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	var v any
	if d.Protocol == EC2 {
		enc.Indent("", "  ")
		v = ec2Error{Errors: []ec2ErrorXML{{Code: e.Code, Message: e.Message}}, RequestID: id}
	} else {
		typ := "Sender"
		if e.Status >= 500 {
			typ = "Receiver"
		}
		v = queryError{Xmlns: d.Namespace, Error: queryErrorXML{Type: typ, Code: e.Code, Message: e.Message}, RequestID: id}
	}
	if err := enc.Encode(v); err != nil {
		// Strings into a buffer: encoding cannot fail.
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	buf.WriteByte('\n')
	d.write(w, e.Status, buf.Bytes())
}

func (d Dialect) write(w http.ResponseWriter, status int, body []byte) {
	ct := "text/xml"
	if d.Protocol == EC2 {
		ct = "text/xml;charset=UTF-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
