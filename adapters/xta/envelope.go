package xta

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"
)

// Header holds the SOAP headers drehscheibe reads.
type Header struct {
	Action          string           `xml:"http://www.w3.org/2005/08/addressing Action"`
	MessageID       string           `xml:"http://www.w3.org/2005/08/addressing MessageID"`
	RelatesTo       string           `xml:"http://www.w3.org/2005/08/addressing RelatesTo"`
	To              string           `xml:"http://www.w3.org/2005/08/addressing To"`
	Author          *Party           `xml:"http://www.osci.eu/ws/2014/10/transport Author"`
	MessageMetaData *MessageMetaData `xml:"http://www.osci.eu/ws/2014/10/transport MessageMetaData"`
	MsgBoxResponse  *MsgBoxResponse  `xml:"http://www.osci.eu/ws/2008/05/transport MsgBoxResponse"`
}

// Body holds whichever body element a request or response carries.
type Body struct {
	Container               *GenericContentContainer `xml:"http://xoev.de/transport/xta/211 GenericContentContainer"`
	LookupServiceRequest    *LookupServiceRequest    `xml:"http://xoev.de/transport/xta/211 LookupServiceRequest"`
	LookupServiceResponse   *LookupServiceResponse   `xml:"http://xoev.de/transport/xta/211 LookupServiceResponse"`
	TransportReport         *TransportReport         `xml:"http://xoev.de/transport/xta/211 TransportReport"`
	MessageID               *string                  `xml:"http://www.w3.org/2005/08/addressing MessageID"`
	MsgBoxStatusListRequest *MsgBoxStatusListRequest `xml:"http://www.osci.eu/ws/2008/05/transport MsgBoxStatusListRequest"`
	MsgBoxFetchRequest      *MsgBoxFetchRequest      `xml:"http://www.osci.eu/ws/2008/05/transport MsgBoxFetchRequest"`
	MsgBoxGetNextRequest    *MsgBoxGetNextRequest    `xml:"http://www.osci.eu/ws/2008/05/transport MsgBoxGetNextRequest"`
	MsgBoxCloseRequest      *MsgBoxGetNextRequest    `xml:"http://www.osci.eu/ws/2008/05/transport MsgBoxCloseRequest"`
	MsgStatusList           *MsgStatusList           `xml:"http://www.osci.eu/ws/2008/05/transport MsgStatusList"`
	Fault                   *soapFault               `xml:"http://www.w3.org/2003/05/soap-envelope Fault"`
}

// Envelope is a SOAP 1.2 envelope as read.
type Envelope struct {
	XMLName xml.Name
	Header  Header `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body    Body   `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
	// Action is the operation's action: wsa:Action, else the action
	// parameter of the Content-Type, else the SOAPAction HTTP header.
	Action string
}

type soapFault struct {
	Code   string   `xml:"http://www.w3.org/2003/05/soap-envelope Code>Value"`
	Reason []string `xml:"http://www.w3.org/2003/05/soap-envelope Reason>Text"`
	Detail struct {
		Items []struct {
			XMLName   xml.Name
			ErrorCode struct {
				Code string `xml:"code"`
				Name string `xml:"name"`
			} `xml:"errorCode"`
		} `xml:",any"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Detail"`
}

// Fault returns the body's fault, or nil.
func (e *Envelope) Fault() *ReceivedFault {
	f := e.Body.Fault
	if f == nil {
		return nil
	}
	rf := &ReceivedFault{SOAPCode: f.Code, Reason: strings.Join(f.Reason, "\n")}
	for _, it := range f.Detail.Items {
		if it.XMLName.Space == NSXTA {
			rf.Exception, rf.Code, rf.Name = it.XMLName.Local, it.ErrorCode.Code, it.ErrorCode.Name
			break
		}
	}
	return rf
}

// ErrTooLarge is returned by Read when the message exceeds the limit.
var ErrTooLarge = errors.New("message exceeds the size limit")

// Read reads a SOAP 1.2 message from an HTTP body of content type ctype:
// MTOM (multipart/related, xop:Include resolved from the parts) or a plain
// application/soap+xml (or text/xml) envelope with inline base64. At most
// limit bytes are read (0: no limit); more is ErrTooLarge. soapAction is the
// SOAPAction HTTP header, used when neither wsa:Action nor the content
// type's action parameter names the operation.
func Read(ctype, soapAction string, body io.Reader, limit int64) (*Envelope, error) {
	if limit > 0 {
		body = &limitReader{r: body, n: limit}
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return nil, fmt.Errorf("unreadable Content-Type %q", ctype)
	}
	var root []byte
	parts := map[string][]byte{}
	action := params["action"]
	switch mt {
	case "multipart/related":
		root, err = readMultipart(body, params, parts, &action)
	case "application/soap+xml", "text/xml", "application/xop+xml":
		root, err = io.ReadAll(body)
		if err != nil && !errors.Is(err, ErrTooLarge) {
			err = fmt.Errorf("reading the request failed: %v", err)
		}
	default:
		return nil, fmt.Errorf("content type %q is not SOAP; send application/soap+xml or MTOM (multipart/related)", mt)
	}
	if err != nil {
		return nil, err
	}
	env := &Envelope{}
	dec := xml.NewDecoder(bytes.NewReader(root))
	dec.Strict = true
	if err := dec.Decode(env); err != nil {
		return nil, fmt.Errorf("the SOAP envelope is not readable: %v", err)
	}
	if env.XMLName.Space != NSSOAP || env.XMLName.Local != "Envelope" {
		return nil, fmt.Errorf("the root element is {%s}%s; want a SOAP 1.2 Envelope", env.XMLName.Space, env.XMLName.Local)
	}
	if err := resolve(env, parts); err != nil {
		return nil, err
	}
	if c := env.Body.Container; c != nil && c.Encrypted != nil {
		if c.Encrypted.Raw, err = encryptedElement(root, parts); err != nil {
			return nil, fmt.Errorf("the xenc:EncryptedData is not readable: %v", err)
		}
	}
	env.Action = strings.TrimSpace(env.Header.Action)
	if env.Action == "" {
		env.Action = action
	}
	if env.Action == "" {
		env.Action = strings.Trim(soapAction, `" `)
	}
	return env, nil
}

func readMultipart(body io.Reader, params map[string]string, parts map[string][]byte, action *string) ([]byte, error) {
	if params["boundary"] == "" {
		return nil, errors.New("multipart/related without boundary")
	}
	start := strings.Trim(params["start"], "<>")
	mr := multipart.NewReader(body, params["boundary"])
	var root []byte
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return nil, err
			}
			return nil, fmt.Errorf("broken MTOM body: %v", err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return nil, err
			}
			return nil, fmt.Errorf("broken MTOM part: %v", err)
		}
		cid := strings.Trim(p.Header.Get("Content-Id"), "<> ")
		isRoot := root == nil && (start == "" || cid == start)
		if isRoot {
			root = data
			if _, pp, err := mime.ParseMediaType(p.Header.Get("Content-Type")); err == nil && *action == "" {
				*action = pp["action"]
			}
			continue
		}
		if enc := strings.ToLower(p.Header.Get("Content-Transfer-Encoding")); enc == "base64" {
			return nil, errors.New("MTOM part " + cid + " uses base64 transfer encoding; send binary")
		}
		parts[cid] = data
	}
	if root == nil {
		return nil, errors.New("MTOM body without the root part")
	}
	return root, nil
}

// resolve fills the data of every xop:Include from the MTOM parts.
func resolve(env *Envelope, parts map[string][]byte) error {
	var cs []*Content
	if c := env.Body.Container; c != nil && c.ContentContainer != nil {
		cs = append(cs, &c.ContentContainer.Message)
		for i := range c.ContentContainer.Attachments {
			cs = append(cs, &c.ContentContainer.Attachments[i])
		}
	}
	if r := env.Body.TransportReport; r != nil {
		for i := range r.Reports {
			cs = append(cs, &r.Reports[i].Data)
		}
	}
	for _, c := range cs {
		if c.href == "" {
			continue
		}
		data, err := partData(parts, c.href)
		if err != nil {
			return err
		}
		c.Data, c.href = data, ""
	}
	return nil
}

// limitReader returns ErrTooLarge once more than n bytes were read.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// One more byte tells a body of exactly the limit from a longer one.
		var one [1]byte
		if k, _ := l.r.Read(one[:]); k > 0 {
			return 0, ErrTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}

// Message is an outgoing SOAP message: the WS-Addressing headers, the other
// headers and the body, each written by a function.
type Message struct {
	Action    string
	MessageID string // wsa:MessageID of this message
	RelatesTo string // wsa:RelatesTo: the request's wsa:MessageID (responses)
	To        string // wsa:To (requests); responses go to the anonymous address
	Headers   func(w *Writer)
	Body      func(w *Writer)
	Fault     *Fault
}

const rootCID = "root.message@drehscheibe"

// ContentType is the Content-Type of m encoded by Encode with boundary.
func (m *Message) ContentType(boundary string) string {
	return mime.FormatMediaType("multipart/related", map[string]string{
		"type": "application/xop+xml", "boundary": boundary, "start": "<" + rootCID + ">",
		"start-info": "application/soap+xml", "action": m.Action,
	})
}

// Encode writes m as MTOM to out; send it with m.ContentType(boundary).
// boundary must not occur in the content: use a random token.
func Encode(out io.Writer, m *Message, boundary string) error {
	w := &Writer{}
	w.buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	w.Open("soap:Envelope", namespaces()...)
	w.Open("soap:Header")
	w.Elem("wsa:Action", m.Action)
	w.Opt("wsa:MessageID", m.MessageID)
	w.Opt("wsa:RelatesTo", m.RelatesTo)
	w.Opt("wsa:To", m.To)
	if m.Headers != nil && m.Fault == nil {
		m.Headers(w)
	}
	w.Close()
	w.Open("soap:Body")
	switch {
	case m.Fault != nil:
		m.Fault.writeBody(w)
	case m.Body != nil:
		m.Body(w)
	}
	w.Close()
	w.Close()

	mw := multipart.NewWriter(out)
	if err := mw.SetBoundary(boundary); err != nil {
		return err
	}
	rh := textproto.MIMEHeader{}
	rh.Set("Content-Type", `application/xop+xml; charset=UTF-8; type="application/soap+xml"; action="`+m.Action+`"`)
	rh.Set("Content-Transfer-Encoding", "binary")
	rh.Set("Content-ID", "<"+rootCID+">")
	pw, err := mw.CreatePart(rh)
	if err != nil {
		return err
	}
	if _, err := pw.Write(w.buf.Bytes()); err != nil {
		return err
	}
	for _, p := range w.parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Transfer-Encoding", "binary")
		h.Set("Content-ID", "<"+p.cid+">")
		pw, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if _, err := pw.Write(p.data); err != nil {
			return err
		}
	}
	return mw.Close()
}
