package schemas

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// scanner reads a document ahead of libxml2 and refuses what libxml2 must
// not see: a document type declaration (and with it every entity and
// external reference), an encoding whose markup the scanner could not read,
// and start tags beyond the Limits, whose parsing costs libxml2 time
// quadratic in their size. It knows only as much XML as it needs to find
// markup: text, comments, CDATA sections, processing instructions, start
// and end tags with their attributes.
//
// It reads the document in code units: bytes for UTF-8 and the ASCII-based
// encodings, 16-bit units for UTF-16, so that markup in UTF-16 is checked
// too. Everything that is not ASCII is "other" to it. Where the document is
// not well-formed the scanner goes on as best it can; libxml2 stops at the
// first fatal error, so the scanner never has to agree with it beyond that
// point, only never skip markup that libxml2 would parse.
//
// A scanner is fed the document in pieces (feed) and told when it ended
// (end); each returns a report when the document is refused. The scanner
// keeps no line and column, only the offset of the refusal; locate turns
// that into a position, once.
type scanner struct {
	lim Limits

	head     []byte // the first bytes, until the encoding is known
	width    int    // 0 until known, then 1 or 2
	bigEnd   bool   // UTF-16 big-endian
	pending  []byte // half a UTF-16 code unit from the previous piece
	bomUnits int    // units of the byte order mark, skipped

	state scanState
	unit  int64     // units read so far, the byte order mark not counted
	prev  [2]uint16 // the last two units
	at    int64     // the unit the refusal is about

	// The XML declaration, collected while it is read.
	decl   []byte
	inDecl bool

	// The markup being read.
	bang     []byte // after "<!", up to 7 units, to tell comment, CDATA and DOCTYPE apart
	name     []byte // the first units of an attribute name
	quote    uint16
	valueLen int
	valueAt  int64 // the unit where the attribute value starts
	attrs    int
	nsDecls  int

	// Elements, and the namespace declarations of the open elements that
	// have any: ns holds (depth, count) pairs, nsInScope their sum.
	depth     int
	ns        []int
	nsInScope int

	sawElement bool // a start tag was read
	sawOther   bool // something other than white space, comments and PIs was read
}

type scanState uint8

const (
	sText scanState = iota
	sLT             // after "<"
	sBang           // after "<!"
	sComment
	sCDATA
	sPI
	sDecl    // "<!" neither comment nor CDATA: read to ">"
	sEndTag  // after "</"
	sTagName // the name of a start tag
	sAttrs   // between attributes
	sAttrName
	sAfterName // after an attribute name, before "="
	sAfterEq   // after "=", before the quote
	sValue
	sSlash // after "/" in a start tag
)

func newScanner(l Limits) *scanner {
	return &scanner{lim: l}
}

// scan checks a whole document in memory.
func scan(doc []byte, l Limits) *Report {
	s := newScanner(l)
	r := s.feed(doc)
	if r == nil {
		r = s.end()
	}
	if r != nil {
		s.locate(r, bytes.NewReader(doc))
	}
	return r
}

// feed reads the next piece of the document.
func (s *scanner) feed(p []byte) *Report {
	if s.width == 0 {
		// The encoding is known from the first four bytes.
		if len(s.head)+len(p) < 4 {
			s.head = append(s.head, p...)
			return nil
		}
		n := 4 - len(s.head)
		head := append(s.head, p[:n]...)
		s.head = nil
		if r := s.detect(head); r != nil {
			return r
		}
		if r := s.piece(head[s.bomUnits*s.width:]); r != nil {
			return r
		}
		p = p[n:]
	}
	return s.piece(p)
}

func (s *scanner) piece(p []byte) *Report {
	if s.width == 1 {
		return s.bytes(p)
	}
	return s.units(p)
}

// end is called at the end of the document.
func (s *scanner) end() *Report {
	if s.width == 0 {
		head := s.head
		s.head = nil
		if r := s.detect(head); r != nil {
			return r
		}
		if r := s.piece(head[min(s.bomUnits*s.width, len(head)):]); r != nil {
			return r
		}
	}
	if s.inDecl {
		if r := s.checkDecl(); r != nil {
			return r
		}
	}
	if !s.sawElement && !s.sawOther && s.state == sText {
		s.at = s.unit
		return s.refuse(OutcomeMalformed, nil, "Document is empty")
	}
	return nil
}

// detect tells the encoding family from the first four bytes as libxml2
// does (XML 1.0 appendix F) and refuses those whose markup the scanner
// cannot read.
func (s *scanner) detect(h []byte) *Report {
	s.width = 1
	switch {
	case bytes.HasPrefix(h, []byte{0xEF, 0xBB, 0xBF}):
		s.bomUnits = 3
	case bytes.HasPrefix(h, []byte{0x00, 0x00, 0xFE, 0xFF}), bytes.HasPrefix(h, []byte{0xFF, 0xFE, 0x00, 0x00}),
		bytes.HasPrefix(h, []byte{0x00, 0x00, 0x00, '<'}), bytes.HasPrefix(h, []byte{'<', 0x00, 0x00, 0x00}):
		return s.refuse(OutcomeMalformed, nil, "unsupported encoding UCS-4 (UTF-32); send UTF-8")
	case bytes.HasPrefix(h, []byte{0x4C, 0x6F, 0xA7, 0x94}):
		return s.refuse(OutcomeMalformed, nil, "unsupported encoding EBCDIC; send UTF-8")
	case bytes.HasPrefix(h, []byte{0xFE, 0xFF}):
		s.width, s.bigEnd, s.bomUnits = 2, true, 1
	case bytes.HasPrefix(h, []byte{0xFF, 0xFE}):
		s.width, s.bomUnits = 2, 1
	case bytes.HasPrefix(h, []byte{0x00, '<'}):
		s.width, s.bigEnd = 2, true
	case bytes.HasPrefix(h, []byte{'<', 0x00}):
		s.width = 2
	}
	return nil
}

// bytes reads a piece of a document in an ASCII-based encoding. Text,
// attribute values, comments, CDATA sections and processing instructions
// are skipped with bytes.IndexByte; the rest goes unit by unit.
func (s *scanner) bytes(p []byte) *Report {
	for i := 0; i < len(p); {
		switch s.state {
		case sText, sValue, sComment, sCDATA, sPI, sDecl, sEndTag:
			if s.inDecl {
				break // the XML declaration is collected unit by unit
			}
			stop := byte('>')
			switch s.state {
			case sText:
				stop = '<'
			case sValue:
				stop = byte(s.quote)
			}
			j := bytes.IndexByte(p[i:], stop)
			if j < 0 {
				j = len(p) - i
			}
			if j > 0 {
				if r := s.skip(p[i : i+j]); r != nil {
					return r
				}
				i += j
				continue
			}
		}
		if s.state == sTagName || s.state == sAttrName {
			// Names end at white space, "=", "/" or ">".
			j := i
			for j < len(p) && !nameEnd[p[j]] {
				j++
			}
			if j > i {
				if s.state == sAttrName && len(s.name) < 6 {
					s.name = append(s.name, p[i:min(j, i+6-len(s.name))]...)
				}
				s.unit += int64(j - i)
				if j-i == 1 {
					s.prev = [2]uint16{s.prev[1], uint16(p[i])}
				} else {
					s.prev = [2]uint16{uint16(p[j-2]), uint16(p[j-1])}
				}
				i = j
				continue
			}
		}
		if r := s.step(uint16(p[i])); r != nil {
			return r
		}
		i++
	}
	return nil
}

// nameEnd marks the bytes that end a name in a start tag.
var nameEnd = [256]bool{' ': true, '\t': true, '\r': true, '\n': true, '=': true, '/': true, '>': true}

// skip passes over a run of units that contains no unit the current state
// stops at, keeping position and history.
func (s *scanner) skip(run []byte) *Report {
	switch s.state {
	case sText:
		if !s.sawOther && len(bytes.TrimLeft(run, " \t\r\n")) > 0 {
			s.sawOther = true
		}
	case sValue:
		s.valueLen += len(run)
		if s.valueLen > s.lim.MaxAttributeBytes {
			return s.valueTooLong()
		}
	}
	s.unit += int64(len(run))
	switch len(run) {
	case 1:
		s.prev = [2]uint16{s.prev[1], uint16(run[0])}
	default:
		s.prev = [2]uint16{uint16(run[len(run)-2]), uint16(run[len(run)-1])}
	}
	return nil
}

// units reads a piece of a UTF-16 document.
func (s *scanner) units(p []byte) *Report {
	if len(s.pending) > 0 && len(p) > 0 {
		pair := []byte{s.pending[0], p[0]}
		s.pending, p = nil, p[1:]
		if r := s.units(pair); r != nil {
			return r
		}
	}
	n := len(p) &^ 1
	for i := 0; i < n; i += 2 {
		u := uint16(p[i]) | uint16(p[i+1])<<8
		if s.bigEnd {
			u = uint16(p[i])<<8 | uint16(p[i+1])
		}
		if r := s.step(u); r != nil {
			return r
		}
	}
	if n < len(p) {
		s.pending = []byte{p[n]}
	}
	return nil
}

func isSpace(u uint16) bool { return u == ' ' || u == '\t' || u == '\n' || u == '\r' }

// step reads one code unit.
func (s *scanner) step(u uint16) *Report {
	prev := s.prev
	s.prev = [2]uint16{prev[1], u}
	s.at = s.unit
	r := s.markup(u, prev)
	s.unit++
	return r
}

// markup advances the state by one unit; prev holds the two units before.
func (s *scanner) markup(u uint16, prev [2]uint16) *Report {
	if s.inDecl && len(s.decl) < 512 {
		s.decl = append(s.decl, byte(min(u, 0x7f)))
	}
	switch s.state {
	case sText:
		if u == '<' {
			s.state = sLT
		} else if !isSpace(u) {
			s.sawOther = true
		}
	case sLT:
		switch {
		case u == '!':
			s.state, s.bang = sBang, s.bang[:0]
		case u == '?':
			s.state = sPI
			if s.unit == 1 { // "<?" at the very start: perhaps the XML declaration
				s.inDecl, s.decl = true, []byte("<?")
			}
		case u == '/':
			s.state = sEndTag
			s.sawOther = true
		default:
			s.state = sTagName
			s.attrs, s.nsDecls = 0, 0
			s.sawElement = true
		}
	case sBang:
		s.bang = append(s.bang, byte(min(u, 0x7f)))
		b := string(s.bang)
		switch {
		case b == "--":
			s.state, s.prev = sComment, [2]uint16{}
		case b == "[CDATA[":
			s.state, s.prev = sCDATA, [2]uint16{}
			s.sawOther = true
		case b == "DOCTYPE":
			return s.refuse(OutcomeForbidden, nil, "document type declarations (DOCTYPE) are not allowed")
		case !strings.HasPrefix("--", b) && !strings.HasPrefix("[CDATA[", b) && !strings.HasPrefix("DOCTYPE", b):
			s.state = sDecl
			if u == '>' {
				s.state = sText
			}
			s.sawOther = true
		}
	case sComment:
		if u == '>' && prev == [2]uint16{'-', '-'} {
			s.state = sText
		}
	case sCDATA:
		if u == '>' && prev == [2]uint16{']', ']'} {
			s.state = sText
		}
	case sPI:
		if u == '>' && prev[1] == '?' {
			s.state = sText
			if s.inDecl {
				s.inDecl = false
				return s.checkDecl()
			}
		}
	case sDecl, sEndTag:
		if u == '>' {
			if s.state == sEndTag {
				s.endElement()
			}
			s.state = sText
		}
	case sTagName:
		switch {
		case u == '>':
			return s.startElement(false)
		case u == '/':
			s.state = sSlash
		case isSpace(u):
			s.state = sAttrs
		}
	case sSlash:
		if u == '>' {
			return s.startElement(true)
		}
		s.state = sAttrs
		return s.attrStep(u)
	case sAttrs:
		return s.attrStep(u)
	case sAttrName:
		switch {
		case u == '=' || isSpace(u) || u == '>' || u == '/':
			if n := string(s.name); n == "xmlns" || strings.HasPrefix(n, "xmlns:") {
				s.nsDecls++
				if s.nsInScope+s.nsDecls > s.lim.MaxNamespaces {
					return s.refuse(OutcomeForbidden, &LimitHit{LimitNamespaces, s.lim.MaxNamespaces},
						fmt.Sprintf("more than %d namespace declarations are in scope; such documents are refused", s.lim.MaxNamespaces))
				}
			}
			s.state = sAfterName
			return s.afterName(u)
		default:
			if len(s.name) < 6 {
				s.name = append(s.name, byte(min(u, 0x7f)))
			}
		}
	case sAfterName:
		return s.afterName(u)
	case sAfterEq:
		switch {
		case u == '"' || u == '\'':
			s.state, s.quote, s.valueLen = sValue, u, 0
			s.valueAt = s.unit + 1
		case !isSpace(u):
			s.state = sAttrs
			return s.attrStep(u)
		}
	case sValue:
		if u == s.quote {
			s.state = sAttrs
			return nil
		}
		s.valueLen++
		if s.valueLen > s.lim.MaxAttributeBytes {
			return s.valueTooLong()
		}
	}
	return nil
}

// attrStep reads a unit between the attributes of a start tag.
func (s *scanner) attrStep(u uint16) *Report {
	switch {
	case u == '>':
		return s.startElement(false)
	case u == '/':
		s.state = sSlash
	case isSpace(u):
	default:
		s.attrs++
		if s.attrs > s.lim.MaxAttributes {
			return s.refuse(OutcomeForbidden, &LimitHit{LimitAttributes, s.lim.MaxAttributes},
				fmt.Sprintf("a start tag has more than %d attributes; such documents are refused", s.lim.MaxAttributes))
		}
		s.state, s.name = sAttrName, append(s.name[:0], byte(min(u, 0x7f)))
	}
	return nil
}

// afterName reads a unit after an attribute name.
func (s *scanner) afterName(u uint16) *Report {
	switch {
	case u == '=':
		s.state = sAfterEq
	case isSpace(u):
	default:
		s.state = sAttrs
		return s.attrStep(u)
	}
	return nil
}

// startElement ends a start tag; empty is true for "/>".
func (s *scanner) startElement(empty bool) *Report {
	s.state = sText
	if empty {
		return nil
	}
	s.depth++
	if s.nsDecls > 0 {
		s.ns = append(s.ns, s.depth, s.nsDecls)
		s.nsInScope += s.nsDecls
	}
	return nil
}

func (s *scanner) endElement() {
	if s.depth == 0 {
		return
	}
	if n := len(s.ns); n > 0 && s.ns[n-2] == s.depth {
		s.nsInScope -= s.ns[n-1]
		s.ns = s.ns[:n-2]
	}
	s.depth--
}

// checkDecl refuses an XML declaration whose encoding the scanner cannot
// read, or which contradicts the byte order mark or byte pattern.
func (s *scanner) checkDecl() *Report {
	if len(s.decl) < 6 || string(s.decl[:5]) != "<?xml" || !isSpace(uint16(s.decl[5])) {
		return nil // a processing instruction, not the declaration
	}
	enc, ok := declEncoding(string(s.decl))
	if !ok {
		return nil // no encoding declared: UTF-8, or UTF-16 as detected
	}
	label := strings.ToLower(enc)
	if s.width == 2 {
		switch label {
		case "utf-16", "utf-16le", "utf-16be", "utf16":
			return nil
		}
		return s.refuse(OutcomeMalformed, nil, fmt.Sprintf("the XML declaration names the encoding %q, but the document is UTF-16", enc))
	}
	switch label {
	case "utf-8", "utf8", "us-ascii", "ascii",
		"iso-8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "iso8859-1",
		"iso-8859-15", "iso_8859-15", "latin-9", "latin9", "iso8859-15",
		"windows-1252", "cp1252":
		return nil
	case "utf-16", "utf-16le", "utf-16be", "utf16":
		return s.refuse(OutcomeMalformed, nil, fmt.Sprintf("the XML declaration names the encoding %q, but the document is not UTF-16", enc))
	}
	return s.refuse(OutcomeMalformed, nil, fmt.Sprintf("unsupported encoding %q; send UTF-8 (or UTF-16, ISO-8859-1, ISO-8859-15, Windows-1252)", enc))
}

// declEncoding returns the value of the encoding pseudo-attribute of an XML
// declaration.
func declEncoding(decl string) (string, bool) {
	i := strings.Index(decl, "encoding")
	if i < 0 {
		return "", false
	}
	rest := strings.TrimLeft(decl[i+len("encoding"):], " \t\r\n")
	if !strings.HasPrefix(rest, "=") {
		return "", false
	}
	rest = strings.TrimLeft(rest[1:], " \t\r\n")
	if rest == "" || (rest[0] != '"' && rest[0] != '\'') {
		return "", false
	}
	end := strings.IndexByte(rest[1:], rest[0])
	if end < 0 {
		return rest[1:], true
	}
	return rest[1 : 1+end], true
}

// valueTooLong refuses the attribute value being read, located where it
// starts.
func (s *scanner) valueTooLong() *Report {
	s.at = s.valueAt
	return s.refuse(OutcomeForbidden, &LimitHit{LimitAttributeBytes, s.lim.MaxAttributeBytes},
		fmt.Sprintf("an attribute value is longer than %d bytes; such documents are refused", s.lim.MaxAttributeBytes))
}

// refuse makes the report of a refused document; locate fills in where.
func (s *scanner) refuse(o Outcome, hit *LimitHit, msg string) *Report {
	return &Report{Outcome: o, Limit: hit, Errors: []Issue{{Level: "fatal", Message: msg}}}
}

// locate sets the line and column of r's issue from the document, read
// again from its start up to the unit the refusal is about. Columns count
// characters: UTF-8 continuation bytes and the second halves of UTF-16
// surrogate pairs do not count.
func (s *scanner) locate(r *Report, doc io.Reader) {
	width := max(s.width, 1)
	end := int64(s.bomUnits*width) + s.at*int64(width)
	br := bufio.NewReader(io.LimitReader(doc, end))
	if _, err := br.Discard(s.bomUnits * width); err != nil {
		return
	}
	line, col := 1, 1
	for {
		var u uint16
		b0, err := br.ReadByte()
		if err != nil {
			break
		}
		u = uint16(b0)
		if width == 2 {
			b1, err := br.ReadByte()
			if err != nil {
				break
			}
			u = uint16(b0) | uint16(b1)<<8
			if s.bigEnd {
				u = uint16(b0)<<8 | uint16(b1)
			}
		}
		switch {
		case u == '\n':
			line, col = line+1, 1
		case width == 1 && u >= 0x80 && u < 0xC0, width == 2 && u >= 0xDC00 && u < 0xE000:
		default:
			col++
		}
	}
	r.Errors[0].Line, r.Errors[0].Column = line, col
}
