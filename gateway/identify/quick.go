package identify

import (
	"bytes"
	"unicode/utf8"
)

// quick reads the facts of a document in the form real XÖV messages have:
// UTF-8, an optional XML declaration, comments, ASCII names, the predefined
// entities and character references. It reads the bytes in place instead of
// tokenising them with encoding/xml, which costs several times as much.
//
// quick follows the rules of identify exactly, but gives up (ok is false) as
// soon as the start of the document leaves that form or is not well-formed;
// Identify then reads the document with identify, which finds the same facts
// or reports the error with its position. The differential tests hold the two
// to the same facts over the real messages and under fuzzing.
func quick(doc []byte) (f Facts, ok bool) {
	s := scanner{b: doc}
	if !s.prolog() {
		return Facts{}, false
	}
	var attrs [16]attr
	root, ok := s.startTag(attrs[:0], true)
	if !ok || !s.rootFacts(&f, &root) {
		return Facts{}, false
	}
	if !root.empty && !s.header(&f, root.name) {
		return Facts{}, false
	}
	return f, true
}

// scanner reads a document in place.
type scanner struct {
	b []byte
	i int
}

// attr is an attribute of a start tag as written, its value not yet unescaped.
type attr struct {
	name, value []byte
}

// tag is a start tag as written.
type tag struct {
	name  []byte
	attrs []attr
	empty bool // written as <name/>
}

// isSpace reports whether c is XML white space.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// space skips white space.
func (s *scanner) space() {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
}

// has reports whether the unread input starts with p.
func (s *scanner) has(p string) bool {
	return len(s.b)-s.i >= len(p) && string(s.b[s.i:s.i+len(p)]) == p
}

// prolog reads up to the "<" of the root start tag: a UTF-8 byte order mark,
// an XML declaration of version 1.0 in UTF-8, white space and comments.
func (s *scanner) prolog() bool {
	if bytes.HasPrefix(s.b, []byte{0xEF, 0xBB, 0xBF}) {
		s.i = 3
	}
	if s.has("<?xml") && s.i+5 < len(s.b) && isSpace(s.b[s.i+5]) && !s.xmlDecl() {
		return false
	}
	for {
		s.space()
		switch {
		case s.i >= len(s.b):
			return false
		case s.b[s.i] != '<':
			return false
		case s.has("<!--"):
			if !s.comment() {
				return false
			}
		case s.has("<!"), s.has("<?"):
			return false
		default:
			return true
		}
	}
}

// xmlDecl reads an XML declaration written as
// <?xml version="1.0" encoding="UTF-8" standalone="yes"?>, the encoding and
// standalone parts optional, either quote, and no space around "=".
func (s *scanner) xmlDecl() bool {
	s.i += len("<?xml")
	pseudo := func(name string, want func([]byte) bool) bool {
		start := s.i
		s.space()
		if s.i == start || !s.has(name+"=") {
			s.i = start
			return false
		}
		s.i += len(name) + 1
		v, ok := s.quoted()
		if !ok || !want(v) {
			s.i = start
			return false
		}
		return true
	}
	if !pseudo("version", func(v []byte) bool { return string(v) == "1.0" }) {
		return false
	}
	pseudo("encoding", func(v []byte) bool { return bytes.EqualFold(v, []byte("utf-8")) })
	pseudo("standalone", func(v []byte) bool { return string(v) == "yes" || string(v) == "no" })
	s.space()
	if !s.has("?>") {
		return false
	}
	s.i += 2
	return true
}

// quoted reads a quoted value without markup or references.
func (s *scanner) quoted() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' && s.b[s.i] != '\'' {
		return nil, false
	}
	q := s.b[s.i]
	end := bytes.IndexByte(s.b[s.i+1:], q)
	if end < 0 {
		return nil, false
	}
	v := s.b[s.i+1 : s.i+1+end]
	if bytes.ContainsAny(v, "<&") {
		return nil, false
	}
	s.i += end + 2
	return v, true
}

// comment reads a comment at "<!--" as encoding/xml does: the first "--"
// must end it.
func (s *scanner) comment() bool {
	body := s.b[s.i+4:]
	k := bytes.Index(body, []byte("--"))
	if k < 0 || k+2 >= len(body) || body[k+2] != '>' {
		return false
	}
	s.i += 4 + k + 3
	return true
}

// name reads an ASCII XML name with at most one colon, not at either end.
func (s *scanner) name() ([]byte, bool) {
	start := s.i
	colons := 0
	for ; s.i < len(s.b); s.i++ {
		switch nameClass[s.b[s.i]] {
		case cStart:
		case cName:
			if s.i == start {
				return nil, false
			}
		case cColon:
			colons++
		case cOther:
			return nil, false
		default:
			n := s.b[start:s.i]
			if len(n) == 0 || colons > 1 || colons == 1 && (n[0] == ':' || n[len(n)-1] == ':') {
				return nil, false
			}
			return n, true
		}
	}
	return nil, false
}

// The classes of bytes in a name: cEnd ends it, cStart may begin it, cName
// may follow, cOther (not ASCII) makes quick give up.
const (
	cEnd = iota
	cStart
	cName
	cColon
	cOther
)

var nameClass = func() (t [256]uint8) {
	for c := range t {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
			t[c] = cStart
		case '0' <= c && c <= '9', c == '.', c == '-':
			t[c] = cName
		case c == ':':
			t[c] = cColon
		case c >= utf8.RuneSelf:
			t[c] = cOther
		}
	}
	return t
}()

// split returns the prefix and local part of a name.
func split(name []byte) (prefix, local []byte) {
	if k := bytes.IndexByte(name, ':'); k >= 0 {
		return name[:k], name[k+1:]
	}
	return nil, name
}

// startTag reads a start tag at "<". It appends the attributes to attrs
// when keep is set and only checks them otherwise.
func (s *scanner) startTag(attrs []attr, keep bool) (t tag, ok bool) {
	s.i++
	if t.name, ok = s.name(); !ok {
		return t, false
	}
	t.attrs = attrs
	for {
		s.space()
		if s.i >= len(s.b) {
			return t, false
		}
		switch s.b[s.i] {
		case '/':
			if !s.has("/>") {
				return t, false
			}
			s.i += 2
			t.empty = true
			return t, true
		case '>':
			s.i++
			return t, true
		}
		var a attr
		if a.name, ok = s.name(); !ok {
			return t, false
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '=' {
			return t, false
		}
		s.i++
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' && s.b[s.i] != '\'' {
			return t, false
		}
		q := s.b[s.i]
		end := bytes.IndexByte(s.b[s.i+1:], q)
		if end < 0 {
			return t, false
		}
		a.value = s.b[s.i+1 : s.i+1+end]
		if bytes.IndexByte(a.value, '<') >= 0 || !validChars(a.value) {
			return t, false
		}
		if !refsValid(a.value) {
			return t, false
		}
		s.i += end + 2
		if keep {
			t.attrs = append(t.attrs, a)
		}
	}
}

// rootFacts fills the facts of the root start tag as identify does: the
// namespace declared on the root and the attributes in no namespace.
func (s *scanner) rootFacts(f *Facts, root *tag) bool {
	prefix, local := split(root.name)
	if string(prefix) == "xml" || string(prefix) == "xmlns" {
		return false
	}
	var ns []byte
	found := false
	for _, a := range root.attrs {
		ap, al := split(a.name)
		switch {
		case string(ap) == "xmlns":
			if len(a.value) == 0 {
				return false // an empty prefix binding puts prefixed attributes in no namespace
			}
			if string(al) == string(prefix) {
				ns, found = a.value, true
			}
		case ap == nil && string(al) == "xmlns" && prefix == nil:
			ns, found = a.value, true
		}
	}
	if prefix != nil && !found {
		return false // identify reports the undeclared prefix
	}
	f.MessageType = string(local)
	if found {
		f.Namespace = attrValue(ns)
	}
	testPresent := false
	for _, a := range root.attrs {
		if bytes.IndexByte(a.name, ':') >= 0 {
			continue
		}
		var dst *string
		switch string(a.name) {
		case "standard":
			dst = &f.StandardAttr
		case "version":
			dst = &f.VersionAttr
		case "test":
			dst = &f.TestAttr
			testPresent = true
		case "produkt":
			dst = &f.Produkt
		case "produkthersteller":
			dst = &f.Produkthersteller
		case "produktversion":
			dst = &f.Produktversion
		default:
			continue
		}
		*dst = collapse(attrValue(a.value))
	}
	f.Test = testPresent && isTestValue(f.TestAttr)
	return true
}

// header reads the root's content up to the end of its first child, with the
// same state as readHeader, and fills the facts from a known header.
func (s *scanner) header(f *Facts, rootName []byte) bool {
	var (
		form  *headerForm
		vals  [numFields]string
		names [][]byte // the open elements below the root, as written
		path  []byte   // their local names joined by "/", the header's left out
		ends  []int    // the length of path before each open element
		cur   = field(-1)
		buf   []byte
		pbuf  [128]byte
		nbuf  [16][]byte
		ebuf  [16]int
		vbuf  [256]byte
	)
	path, names, ends, buf = pbuf[:0], nbuf[:0], ebuf[:0], vbuf[:0]
	// endElement closes the innermost open element, keeping the text of a
	// header field; it reports whether that was the header itself.
	endElement := func() bool {
		if cur >= 0 && vals[cur] == "" {
			vals[cur] = collapse(string(buf))
		}
		cur = -1
		names = names[:len(names)-1]
		if len(names) == 0 {
			return true
		}
		path = path[:ends[len(ends)-1]]
		ends = ends[:len(ends)-1]
		return false
	}
	tokens := 0
	for {
		if tokens++; tokens > maxHeaderTokens {
			return false
		}
		if s.i >= len(s.b) {
			return false
		}
		if s.b[s.i] != '<' {
			k := bytes.IndexByte(s.b[s.i:], '<')
			if k < 0 {
				return false
			}
			text := s.b[s.i : s.i+k]
			if bytes.IndexByte(text, '>') >= 0 && bytes.Contains(text, []byte("]]>")) || !validChars(text) {
				return false
			}
			var ok bool
			if cur >= 0 {
				buf, ok = unescape(buf, text)
			} else {
				ok = refsValid(text)
			}
			if !ok {
				return false
			}
			s.i += k
			continue
		}
		switch {
		case s.has("<!--"):
			if !s.comment() {
				return false
			}
		case s.has("<![CDATA["):
			s.i += len("<![CDATA[")
			k := bytes.Index(s.b[s.i:], []byte("]]>"))
			if k < 0 || !validChars(s.b[s.i:s.i+k]) {
				return false
			}
			if cur >= 0 {
				buf = appendLines(buf, s.b[s.i:s.i+k])
			}
			s.i += k + 3
		case s.has("<!"), s.has("<?"):
			return false
		case s.has("</"):
			s.i += 2
			n, ok := s.name()
			if !ok {
				return false
			}
			s.space()
			if !s.has(">") {
				return false
			}
			s.i++
			if form == nil {
				return bytes.Equal(n, rootName) // the root ended without children
			}
			if !bytes.Equal(n, names[len(names)-1]) {
				return false
			}
			if endElement() {
				form.apply(f, &vals)
				return true
			}
		default:
			t, ok := s.startTag(nil, false)
			if !ok {
				return false
			}
			_, local := split(t.name)
			if form == nil {
				if form = formOf(string(local)); form == nil {
					return true // the first child is no header: stop here
				}
			}
			names = append(names, t.name)
			cur = -1
			if len(names) > 1 {
				ends = append(ends, len(path))
				if len(names) > 2 {
					path = append(path, '/')
				}
				path = append(path, local...)
				if fld, ok := form.paths[string(path)]; ok {
					cur, buf = fld, buf[:0]
				}
			}
			if t.empty { // encoding/xml gives a start and an end element
				if tokens++; tokens > maxHeaderTokens {
					return false
				}
				if endElement() {
					form.apply(f, &vals)
					return true
				}
			}
		}
	}
}
