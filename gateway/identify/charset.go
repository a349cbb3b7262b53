package identify

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// errEncoding is returned by charsetReader for an encoding it does not know.
var errEncoding = errors.New("unsupported encoding")

// decodeBOM removes a UTF-8 byte order mark and transcodes a UTF-16 document
// (recognised by its byte order mark or by a leading "<" in either byte
// order) to UTF-8, which is all that encoding/xml reads by itself.
func decodeBOM(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		_, _ = br.Discard(3)
		return br, nil
	case bytes.HasPrefix(head, []byte{0x00, 0x00, 0xFE, 0xFF}),
		bytes.HasPrefix(head, []byte{0xFF, 0xFE, 0x00, 0x00}):
		return nil, errors.New("unsupported encoding \"UTF-32\"")
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		_, _ = br.Discard(2)
		return &utf16Reader{r: br, bigEndian: true}, nil
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		_, _ = br.Discard(2)
		return &utf16Reader{r: br}, nil
	case bytes.HasPrefix(head, []byte{0x00, '<'}):
		return &utf16Reader{r: br, bigEndian: true}, nil
	case bytes.HasPrefix(head, []byte{'<', 0x00}):
		return &utf16Reader{r: br}, nil
	}
	return br, nil
}

// utf16Reader transcodes UTF-16 to UTF-8 while reading.
type utf16Reader struct {
	r         *bufio.Reader
	bigEndian bool
	buf, out  []byte
	err       error
}

// Read implements io.Reader.
func (u *utf16Reader) Read(p []byte) (int, error) {
	for len(u.out) == 0 {
		if u.err != nil {
			return 0, u.err
		}
		u.fill()
	}
	n := copy(p, u.out)
	u.out = u.out[n:]
	return n, nil
}

// fill transcodes up to 1024 code units into u.out.
func (u *utf16Reader) fill() {
	u.out = u.buf[:0]
	defer func() { u.buf = u.out }()
	for i := 0; i < 1024; i++ {
		c, err := u.unit()
		if err != nil {
			u.err = err
			return
		}
		r := rune(c)
		if r >= 0xD800 && r < 0xDC00 { // a high surrogate wants a low one
			c2, err := u.unit()
			if err != nil {
				u.err = err
				return
			}
			if r2 := utf16.DecodeRune(r, rune(c2)); r2 != utf8.RuneError {
				r = r2
			} else {
				u.out = utf8.AppendRune(u.out, utf8.RuneError)
				r = rune(c2)
			}
		}
		if utf16.IsSurrogate(r) {
			r = utf8.RuneError
		}
		u.out = utf8.AppendRune(u.out, r)
	}
}

// unit reads one UTF-16 code unit.
func (u *utf16Reader) unit() (uint16, error) {
	b1, err := u.r.ReadByte()
	if err != nil {
		return 0, err
	}
	b2, err := u.r.ReadByte()
	if err != nil {
		return 0, io.ErrUnexpectedEOF
	}
	if u.bigEndian {
		return uint16(b1)<<8 | uint16(b2), nil
	}
	return uint16(b2)<<8 | uint16(b1), nil
}

// charsetReader returns a reader that transcodes the declared encoding to
// UTF-8. It knows UTF-8, US-ASCII, UTF-16 (already transcoded by decodeBOM),
// ISO-8859-1, ISO-8859-15 and Windows-1252.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "utf-8", "utf8", "us-ascii", "ascii", "utf-16", "utf-16le", "utf-16be":
		return in, nil
	case "iso-8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "iso8859-1":
		return &singleByteReader{r: bufio.NewReader(in), table: &latin1}, nil
	case "iso-8859-15", "iso_8859-15", "latin-9", "latin9", "iso8859-15":
		return &singleByteReader{r: bufio.NewReader(in), table: &latin9}, nil
	case "windows-1252", "cp1252":
		return &singleByteReader{r: bufio.NewReader(in), table: &cp1252}, nil
	}
	return nil, errEncoding
}

// singleByteReader transcodes a single-byte encoding to UTF-8.
type singleByteReader struct {
	r        *bufio.Reader
	table    *[256]rune
	buf, out []byte
}

// Read implements io.Reader.
func (s *singleByteReader) Read(p []byte) (int, error) {
	if len(s.out) == 0 {
		s.out = s.buf[:0]
		for i := 0; i < 1024; i++ {
			b, err := s.r.ReadByte()
			if err != nil {
				if len(s.out) == 0 {
					return 0, err
				}
				break
			}
			s.out = utf8.AppendRune(s.out, s.table[b])
		}
		s.buf = s.out
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

var latin1, latin9, cp1252 [256]rune

func init() {
	for i := range latin1 {
		latin1[i] = rune(i)
	}
	latin9, cp1252 = latin1, latin1
	for b, r := range map[byte]rune{0xA4: 0x20AC, 0xA6: 0x0160, 0xA8: 0x0161, 0xB4: 0x017D,
		0xB8: 0x017E, 0xBC: 0x0152, 0xBD: 0x0153, 0xBE: 0x0178} {
		latin9[b] = r
	}
	// Windows-1252 differs from ISO-8859-1 in 0x80–0x9F; the five unassigned
	// bytes keep their C1 code points, as the WHATWG encoding standard does.
	for b, r := range map[byte]rune{0x80: 0x20AC, 0x82: 0x201A, 0x83: 0x0192, 0x84: 0x201E,
		0x85: 0x2026, 0x86: 0x2020, 0x87: 0x2021, 0x88: 0x02C6, 0x89: 0x2030, 0x8A: 0x0160,
		0x8B: 0x2039, 0x8C: 0x0152, 0x8E: 0x017D, 0x91: 0x2018, 0x92: 0x2019, 0x93: 0x201C,
		0x94: 0x201D, 0x95: 0x2022, 0x96: 0x2013, 0x97: 0x2014, 0x98: 0x02DC, 0x99: 0x2122,
		0x9A: 0x0161, 0x9B: 0x203A, 0x9C: 0x0153, 0x9E: 0x017E, 0x9F: 0x0178} {
		cp1252[b] = r
	}
}
