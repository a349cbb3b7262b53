package xta

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"io"
	"strconv"
	"time"
)

// Writer writes one SOAP envelope with fixed namespace prefixes, declared
// once on the Envelope. It exists because encoding/xml cannot write
// unqualified child elements (code, name) below an element that uses a
// default namespace, which the XTA code types need. Binary content is not
// written inline: Binary hands it to the MTOM package as a part of its own.
type Writer struct {
	buf   bytes.Buffer
	stack []string
	parts []part
	// inline writes binary content as base64 text instead of MTOM parts;
	// rootAttrs are added to the first element (Document).
	inline    bool
	rootAttrs []string
}

// Document writes the element body writes as a standalone XML document:
// the namespace declarations on its root element, binary content inline
// as base64. It is for XML that travels as content, such as a transport
// report in a Message.
func Document(body func(w *Writer)) []byte {
	w := &Writer{inline: true, rootAttrs: namespaces()}
	w.buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	body(w)
	return w.buf.Bytes()
}

// namespaces are the declarations of the fixed prefixes.
func namespaces() []string {
	return []string{"xmlns:soap", NSSOAP, "xmlns:wsa", NSWSA, "xmlns:xta", NSXTA,
		"xmlns:oscimeta", NSOSCIMeta, "xmlns:osci", NSOSCI, "xmlns:xop", NSXOP}
}

// part is one binary MIME part referenced by an xop:Include: data, or
// open and length for content streamed when the message is encoded.
type part struct {
	cid    string
	data   []byte
	open   func() (io.ReadCloser, error)
	length int64
}

// Open starts element name (with prefix) with attributes given as name, value pairs;
// pairs with an empty value are left out.
func (w *Writer) Open(name string, attrs ...string) {
	if w.rootAttrs != nil {
		attrs = append(w.rootAttrs, attrs...)
		w.rootAttrs = nil
	}
	w.buf.WriteByte('<')
	w.buf.WriteString(name)
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i+1] == "" {
			continue
		}
		w.buf.WriteByte(' ')
		w.buf.WriteString(attrs[i])
		w.buf.WriteString(`="`)
		xml.EscapeText(&w.buf, []byte(attrs[i+1]))
		w.buf.WriteByte('"')
	}
	w.buf.WriteByte('>')
	w.stack = append(w.stack, name)
}

// Close ends the innermost open element.
func (w *Writer) Close() {
	n := w.stack[len(w.stack)-1]
	w.stack = w.stack[:len(w.stack)-1]
	w.buf.WriteString("</")
	w.buf.WriteString(n)
	w.buf.WriteByte('>')
}

// Text writes escaped character data.
func (w *Writer) Text(s string) { xml.EscapeText(&w.buf, []byte(s)) }

// Elem writes a complete element with text content.
func (w *Writer) Elem(name, text string, attrs ...string) {
	w.Open(name, attrs...)
	w.Text(text)
	w.Close()
}

// Opt writes Elem only if text is not empty.
func (w *Writer) Opt(name, text string, attrs ...string) {
	if text != "" {
		w.Elem(name, text, attrs...)
	}
}

// Time writes an xs:dateTime element in UTC; a zero time writes nothing.
func (w *Writer) Time(name string, t time.Time) {
	if !t.IsZero() {
		w.Elem(name, FormatTime(t))
	}
}

// Int writes an integer element.
func (w *Writer) Int(name string, v int64) { w.Elem(name, strconv.FormatInt(v, 10)) }

// Binary writes base64Binary content of the open element as an xop:Include
// pointing at a MIME part of its own (MTOM).
func (w *Writer) Binary(data []byte) {
	if w.inline {
		enc := base64.NewEncoder(base64.StdEncoding, &w.buf)
		_, _ = enc.Write(data)
		_ = enc.Close()
		return
	}
	w.include(part{data: data})
}

// stream is Binary for content that Encode copies from open, exactly length bytes.
func (w *Writer) stream(open func() (io.ReadCloser, error), length int64) {
	if w.inline {
		rc, err := open()
		if err == nil {
			enc := base64.NewEncoder(base64.StdEncoding, &w.buf)
			_, _ = io.Copy(enc, io.LimitReader(rc, length))
			_ = enc.Close()
			_ = rc.Close()
		}
		return
	}
	w.include(part{open: open, length: length})
}

func (w *Writer) include(p part) {
	p.cid = strconv.Itoa(len(w.parts)+1) + ".part@drehscheibe"
	w.parts = append(w.parts, p)
	w.buf.WriteString(`<xop:Include href="cid:` + p.cid + `"/>`)
}

// raw writes XML that is complete and well-formed on its own (an element
// with its namespace declarations), as it is.
func (w *Writer) raw(b []byte) { w.buf.Write(b) }

// FormatTime formats t as xs:dateTime in UTC with milliseconds.
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
