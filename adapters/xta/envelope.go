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
	"strconv"
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

	seen bool // a Body element was read: a second one is refused
}

// UnmarshalXML reads the SOAP Body and refuses a second one: encoding/xml
// would merge the two, and the request would be read as something its
// sender may not have meant.
func (b *Body) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	if b.seen {
		return errors.New("the SOAP envelope has more than one Body")
	}
	type plain Body
	if err := d.DecodeElement((*plain)(b), &start); err != nil {
		return err
	}
	b.seen = true
	return nil
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
//
// Each MTOM part is read into one buffer of the size the envelope's size
// attribute announces (at most what the limit leaves), so that large
// content is held once and not copied while it arrives.
func Read(ctype, soapAction string, body io.Reader, limit int64) (*Envelope, error) {
	lr := &limitReader{r: body, n: limit}
	if limit > 0 {
		body = lr
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return nil, fmt.Errorf("unreadable Content-Type %q", ctype)
	}
	var root []byte
	var env *Envelope
	parts := map[string][]byte{}
	action := params["action"]
	switch mt {
	case "multipart/related":
		remaining := func() int64 { return 64 << 20 }
		if limit > 0 {
			remaining = func() int64 { return lr.n }
		}
		root, env, err = readMultipart(body, params, parts, &action, remaining)
	case "application/soap+xml", "text/xml", "application/xop+xml":
		root, err = io.ReadAll(body)
		if err != nil && !errors.Is(err, ErrTooLarge) {
			err = fmt.Errorf("reading the request failed: %v", err)
		}
		if err == nil {
			env, err = decodeEnvelope(root)
		}
	default:
		return nil, fmt.Errorf("content type %q is not SOAP; send application/soap+xml or MTOM (multipart/related)", mt)
	}
	if err != nil {
		return nil, err
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

// decodeEnvelope reads the SOAP 1.2 envelope of the root part.
func decodeEnvelope(root []byte) (*Envelope, error) {
	env := &Envelope{}
	dec := xml.NewDecoder(bytes.NewReader(root))
	dec.Strict = true
	start, err := rootElement(dec)
	if err != nil {
		return nil, err
	}
	if err := dec.DecodeElement(env, &start); err != nil {
		return nil, fmt.Errorf("the SOAP envelope is not readable: %v", err)
	}
	if env.XMLName.Space != NSSOAP || env.XMLName.Local != "Envelope" {
		return nil, fmt.Errorf("the root element is {%s}%s; want a SOAP 1.2 Envelope", env.XMLName.Space, env.XMLName.Local)
	}
	return env, nil
}

// rootElement reads the prolog up to the root element. SOAP 1.2 forbids a
// document type declaration (Part 1, 5): one is refused here, so no DTD or
// entity is ever looked at.
func rootElement(dec *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := dec.Token()
		if err != nil {
			return xml.StartElement{}, fmt.Errorf("the SOAP envelope is not readable: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.Directive:
			return xml.StartElement{}, errors.New("the SOAP envelope has a document type declaration; SOAP 1.2 forbids it")
		}
	}
}

// MaxParts bounds the MIME parts of an MTOM request: the root, and one part
// per xop:Include (the message and its attachments).
const MaxParts = 1000

// readMultipart reads the MTOM parts: the root (decoded at once when it
// comes first, as it does from every client seen), then the other parts,
// each into a buffer sized by the size attribute of the content that
// includes it.
func readMultipart(body io.Reader, params map[string]string, parts map[string][]byte, action *string, remaining func() int64) ([]byte, *Envelope, error) {
	if params["boundary"] == "" {
		return nil, nil, errors.New("multipart/related without boundary")
	}
	start := strings.Trim(params["start"], "<>")
	mr := multipart.NewReader(body, params["boundary"])
	var root []byte
	var env *Envelope
	sizes := map[string]int64{}
	for n := 0; ; n++ {
		if n > MaxParts {
			return nil, nil, fmt.Errorf("MTOM body with more than %d parts", MaxParts)
		}
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("broken MTOM body: %v", err)
		}
		cid := strings.Trim(p.Header.Get("Content-Id"), "<> ")
		if root == nil && (start == "" || cid == start) {
			if root, err = io.ReadAll(p); err != nil {
				return nil, nil, partError(err)
			}
			if _, pp, err := mime.ParseMediaType(p.Header.Get("Content-Type")); err == nil && *action == "" {
				*action = pp["action"]
			}
			if env, err = decodeEnvelope(root); err != nil {
				return nil, nil, err
			}
			sizes = declaredSizes(env)
			continue
		}
		if enc := strings.ToLower(p.Header.Get("Content-Transfer-Encoding")); enc == "base64" {
			return nil, nil, errors.New("MTOM part " + cid + " uses base64 transfer encoding; send binary")
		}
		data, err := readPart(p, min(sizes[cid], remaining()))
		if err != nil {
			return nil, nil, partError(err)
		}
		parts[cid] = data
	}
	if root == nil {
		return nil, nil, errors.New("MTOM body without the root part")
	}
	return root, env, nil
}

func partError(err error) error {
	if errors.Is(err, ErrTooLarge) {
		return err
	}
	return fmt.Errorf("broken MTOM part: %v", err)
}

// declaredSizes maps the cid of each xop:Include to the size attribute of
// its content.
func declaredSizes(env *Envelope) map[string]int64 {
	out := map[string]int64{}
	for _, c := range contents(env) {
		if c.href == "" {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(c.Size), 10, 64); err == nil && n > 0 {
			out[cidOf(c.href)] = n
		}
	}
	return out
}

// readPart reads a part into a buffer of size bytes, then whatever follows.
func readPart(r io.Reader, size int64) ([]byte, error) {
	if size <= 0 {
		return io.ReadAll(r)
	}
	buf := make([]byte, size)
	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return buf[:n], nil
	case err != nil:
		return nil, err
	}
	rest, err := io.ReadAll(r)
	if len(rest) > 0 {
		buf = append(buf, rest...)
	}
	return buf, err
}

// contents lists every content element that can carry binary data.
func contents(env *Envelope) []*Content {
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
	return cs
}

// resolve fills the data of every xop:Include from the MTOM parts.
func resolve(env *Envelope, parts map[string][]byte) error {
	for _, c := range contents(env) {
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
	_, err := Prepare(m, boundary).WriteTo(out)
	return err
}

// Encoded is a message ready to be written: its envelope is built, and
// content given by Open is read only while it is written. Len tells the
// length in advance, for a Content-Length header.
type Encoded struct {
	root     []byte
	parts    []part
	action   string
	boundary string
}

// Prepare builds the envelope of m.
func Prepare(m *Message, boundary string) *Encoded {
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
	return &Encoded{root: w.buf.Bytes(), parts: w.parts, action: m.Action, boundary: boundary}
}

// Len is the number of bytes WriteTo writes.
func (e *Encoded) Len() int64 {
	n, _ := e.write(io.Discard, false)
	return n
}

// WriteTo writes the MTOM message to out.
func (e *Encoded) WriteTo(out io.Writer) (int64, error) { return e.write(out, true) }

// write writes the message; without content, streamed parts only count.
func (e *Encoded) write(out io.Writer, content bool) (int64, error) {
	cw := &countingWriter{w: out}
	mw := multipart.NewWriter(cw)
	if err := mw.SetBoundary(e.boundary); err != nil {
		return cw.n, err
	}
	rh := textproto.MIMEHeader{}
	rh.Set("Content-Type", `application/xop+xml; charset=UTF-8; type="application/soap+xml"; action="`+e.action+`"`)
	rh.Set("Content-Transfer-Encoding", "binary")
	rh.Set("Content-ID", "<"+rootCID+">")
	pw, err := mw.CreatePart(rh)
	if err != nil {
		return cw.n, err
	}
	if _, err := pw.Write(e.root); err != nil {
		return cw.n, err
	}
	for _, p := range e.parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Transfer-Encoding", "binary")
		h.Set("Content-ID", "<"+p.cid+">")
		pw, err := mw.CreatePart(h)
		if err != nil {
			return cw.n, err
		}
		switch {
		case p.open == nil:
			_, err = pw.Write(p.data)
		case content:
			err = copyExactly(pw, p.open, p.length)
		default:
			cw.n += p.length
		}
		if err != nil {
			return cw.n, err
		}
	}
	return cw.n, mw.Close()
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n += int64(k)
	return k, err
}

// ErrLength is returned by Encode when streamed content is not as long as declared.
var ErrLength = errors.New("streamed content differs from its declared length")

// copyExactly copies the content open gives to w: exactly length bytes, or an error.
func copyExactly(w io.Writer, open func() (io.ReadCloser, error), length int64) error {
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	n, err := io.Copy(w, io.LimitReader(rc, length))
	if err != nil {
		return err
	}
	// Read on to the end: a reader that checks what it delivered (such as a
	// delivery.Content's) reports a mismatch only there.
	var one [1]byte
	k, err := io.ReadFull(rc, one[:])
	if n != length || k > 0 {
		return fmt.Errorf("%w (%d bytes declared)", ErrLength, length)
	}
	if err != nil && err != io.EOF {
		return err
	}
	return nil
}
