package identify

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Facts are what the gateway knows about a message after reading its start.
// Every value is taken from the document as written, with leading and trailing
// white space removed and inner runs of white space collapsed to one space.
type Facts struct {
	// Namespace is the namespace URI of the root element; it is empty for a
	// root element in no namespace.
	Namespace string `json:"namespace"`
	// MessageType is the local name of the root element, for example
	// "baugenehmigung.antrag.0200". It is always the root's name, even where
	// the header's nachrichtentyp names another message.
	MessageType string `json:"message_type"`
	// Standard is left empty by Identify; the caller fills it from the schema
	// catalog entry that the namespace selects.
	Standard string `json:"standard,omitempty"`
	// Version is left empty by Identify; the caller fills it from the schema
	// catalog like Standard.
	Version string `json:"version,omitempty"`
	// StandardAttr is the root attribute standard="…" as written.
	StandardAttr string `json:"-"`
	// VersionAttr is the root attribute version="…" as written.
	VersionAttr string `json:"-"`
	// TestAttr is the root attribute test="…" as written. It is empty both
	// when the attribute is missing and when it is written empty; Test tells
	// the two apart.
	TestAttr string `json:"-"`

	// Produkt is the root attribute produkt, or for xdomea the Produktname of
	// the SendendesSystem in the header.
	Produkt string `json:"produkt,omitempty"`
	// Produkthersteller is the root attribute produkthersteller.
	Produkthersteller string `json:"produkthersteller,omitempty"`
	// Produktversion is the root attribute produktversion, or for xdomea the
	// Version of the SendendesSystem in the header.
	Produktversion string `json:"produktversion,omitempty"`

	// Test reports whether the author marked the message as a test message.
	// XÖV says that the presence of the root attribute test makes a message a
	// test message; Identify follows it and only reads the explicit values
	// "false" and "0" (in any case) as not a test, so that a test message is
	// never taken for a production one.
	Test bool `json:"test"`

	// NachrichtenUUID is identifikation.nachricht/nachrichtenUUID of the
	// XÖV header. xdomea has no message UUID (see ProzessID).
	NachrichtenUUID string `json:"nachrichten_uuid,omitempty"`
	// NachrichtentypCode is the code of the header's nachrichtentyp (xdomea:
	// Nachrichtentyp/code, older XMeld header: nachrichtennummer/code).
	NachrichtentypCode string `json:"nachrichtentyp_code,omitempty"`
	// ProzessID is the xdomea ProzessID. It names the whole exchange (an
	// Anbieteverzeichnis, its Bewertungsverzeichnis and the Aussonderung
	// share it), so it is kept apart from NachrichtenUUID.
	ProzessID string `json:"prozess_id,omitempty"`

	// Author is the Behördenkennung of the author with its prefix, for
	// example "psw:01003110" (XÖV autor/kennung, xdomea Absender, older XMeld
	// absender/behoerdenkennung).
	Author string `json:"author,omitempty"`
	// AuthorName is the author's name as written in the header (XÖV
	// autor/name; xdomea Absender/Institution/Name, or else the name of the
	// Behördenkennung's code).
	AuthorName string `json:"author_name,omitempty"`
	// Reader is the Behördenkennung of the reader with its prefix (XÖV
	// leser/kennung, xdomea Empfaenger, older XMeld empfaenger/behoerdenkennung).
	Reader string `json:"reader,omitempty"`
	// ReaderName is the reader's name as written in the header, found like
	// AuthorName.
	ReaderName string `json:"reader_name,omitempty"`

	// Service is never read from the document: it comes from the metadata
	// only (see Merge). A standard-specific header field such as XWasser's
	// dvdvDienstkennung is not a reliable service identifier across
	// standards, and the real XWasser data fill it with placeholders.
	Service string `json:"service,omitempty"`
	// ReplyTo is never read from the document; it comes from the metadata.
	ReplyTo string `json:"reply_to,omitempty"`
}

// ErrDoctype is the cause of the error that Identify returns for a document
// with a document type declaration (<!DOCTYPE …>). XÖV messages have none, and
// entities must never be resolved, so such a document is refused outright.
var ErrDoctype = errors.New("document type declarations are not allowed")

// ErrNoRoot is the cause of the error that Identify returns for a document
// that ends before its root element starts (for example an empty document).
var ErrNoRoot = errors.New("document has no root element")

// SyntaxError reports that the start of a document — everything up to and
// including the start tag of the root element — could not be read. Use
// errors.Is with ErrDoctype or ErrNoRoot to learn the particular cause.
type SyntaxError struct {
	// Line is the 1-based line at which reading failed.
	Line int
	// Column is the 1-based column (in bytes) at which reading failed.
	Column int
	// Msg describes the problem in lower case, without position.
	Msg string
	// Err is the underlying cause, if any: ErrDoctype, ErrNoRoot or the
	// *xml.SyntaxError of encoding/xml.
	Err error
}

// Error returns the message with its position.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("identify: line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Unwrap returns the underlying cause.
func (e *SyntaxError) Unwrap() error { return e.Err }

// Identify reads the facts of an XÖV message from the document. It reads no
// further than the end of the header, which is the first child element of the
// root; a document whose first child is not a known header yields the facts
// of its root element only.
//
// Identify returns an error, always a *SyntaxError with the position, only
// when the start of the document cannot be read: when it is not XML, has no
// root element, declares an encoding that is not supported (UTF-8, UTF-16,
// US-ASCII, ISO-8859-1, ISO-8859-15 and Windows-1252 are), leaves the prefix
// of the root undeclared, or has a document type declaration (ErrDoctype;
// also refused when it follows the root start tag, malformed as that is).
// Any other syntax error after the root start tag is left to the validator
// to report: Identify then returns the facts read so far and no error.
//
// Identify is safe for concurrent use.
func Identify(doc []byte) (Facts, error) {
	if f, ok := quick(doc); ok {
		return f, nil
	}
	return identify(bytes.NewReader(doc))
}

// identify does the work of Identify on a reader, so that tests can measure
// how much of a document it reads.
func identify(r io.Reader) (Facts, error) {
	var f Facts
	r, err := decodeBOM(r)
	if err != nil {
		return f, &SyntaxError{Line: 1, Column: 1, Msg: err.Error(), Err: err}
	}
	var badCharset string
	d := xml.NewDecoder(r)
	d.Strict = true
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		cr, err := charsetReader(label, in)
		if err != nil {
			badCharset = label
		}
		return cr, err
	}

	// next reads a token and remembers where it starts, the position that
	// the errors of Identify report (encoding/xml's own syntax errors carry
	// the line where it noticed them).
	var line, col int
	next := func() (xml.Token, error) {
		line, col = d.InputPos()
		return d.Token()
	}
	fail := func(msg string, cause error) (Facts, error) {
		l, c := line, col
		var se *xml.SyntaxError
		if errors.As(cause, &se) {
			l, c = d.InputPos()
			l = se.Line
		}
		return Facts{}, &SyntaxError{Line: l, Column: c, Msg: msg, Err: cause}
	}

	// The prolog: up to the start tag of the root element.
	var root xml.StartElement
	for root.Name.Local == "" {
		tok, err := next()
		if err != nil {
			switch {
			case err == io.EOF:
				return fail(ErrNoRoot.Error(), ErrNoRoot)
			case badCharset != "":
				return fail(fmt.Sprintf("unsupported encoding %q", badCharset), err)
			}
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return fail(lowerFirst(se.Msg), err)
			}
			return fail(lowerFirst(strings.TrimPrefix(err.Error(), "xml: ")), err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			if isDoctype(t) {
				return fail(ErrDoctype.Error(), ErrDoctype)
			}
			return fail("unexpected markup declaration before the root element", nil)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return fail("text before the root element", nil)
			}
		case xml.StartElement:
			root = t
		}
	}

	// encoding/xml has resolved the prefix of the root, whose declaration can
	// only be on the root itself; an undeclared prefix it leaves in place.
	if !declared(root) {
		return fail(fmt.Sprintf("namespace prefix %q of the root element is not declared", root.Name.Space), nil)
	}
	f.MessageType = root.Name.Local
	f.Namespace = root.Name.Space
	readRootAttrs(&f, root)

	// The header: the first child element of the root. From here on a read
	// error ends the reading but is not returned (see Identify).
	if err := readHeader(next, &f); err != nil {
		return fail(err.Error(), err)
	}
	return f, nil
}

// declared reports whether the namespace of the root element is declared on
// it (or the root is in no namespace).
func declared(root xml.StartElement) bool {
	if root.Name.Space == "" {
		return true
	}
	for _, a := range root.Attr {
		if (a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns") && a.Value == root.Name.Space {
			return true
		}
	}
	return false
}

// readRootAttrs copies the XÖV root attributes (those in no namespace).
func readRootAttrs(f *Facts, root xml.StartElement) {
	testPresent := false
	for _, a := range root.Attr {
		if a.Name.Space != "" {
			continue
		}
		v := collapse(a.Value)
		switch a.Name.Local {
		case "standard":
			f.StandardAttr = v
		case "version":
			f.VersionAttr = v
		case "test":
			f.TestAttr = v
			testPresent = true
		case "produkt":
			f.Produkt = v
		case "produkthersteller":
			f.Produkthersteller = v
		case "produktversion":
			f.Produktversion = v
		}
	}
	f.Test = testPresent && isTestValue(f.TestAttr)
}

// isTestValue reports whether a present test attribute marks a test message.
func isTestValue(v string) bool {
	switch strings.ToLower(v) {
	case "false", "0":
		return false
	}
	return true
}

// isDoctype reports whether a directive is a document type declaration.
func isDoctype(d xml.Directive) bool {
	return len(d) >= 7 && strings.EqualFold(string(d[:7]), "DOCTYPE")
}

// collapse trims white space and collapses inner runs of it to one space,
// as XML Schema does for xs:token.
func collapse(s string) string {
	if !strings.ContainsAny(s, " \t\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// lowerFirst lowers the first letter of an error message from encoding/xml.
func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}
