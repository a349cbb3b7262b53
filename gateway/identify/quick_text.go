package identify

import (
	"bytes"
	"unicode/utf8"
)

// validChars reports whether b, text or an attribute value, is UTF-8 of
// characters that XML allows, as encoding/xml checks. Markup needs no check:
// the scanner accepts only ASCII names and white space there.
func validChars(b []byte) bool {
	for len(b) > 0 {
		c := b[0]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			b = b[1:]
			continue
		}
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 || !isXMLChar(r) {
			return false
		}
		b = b[n:]
	}
	return true
}

// isXMLChar reports whether r is a character that XML 1.0 allows.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// unescape appends text (or an attribute value) to dst with its references
// replaced and its line ends normalised, as encoding/xml reads it. It reports
// false for a reference that encoding/xml refuses or that quick leaves to it.
func unescape(dst, text []byte) ([]byte, bool) {
	if bytes.IndexByte(text, '&') < 0 {
		return appendLines(dst, text), true
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch c {
		case '\r':
			dst = append(dst, '\n')
			if i+1 < len(text) && text[i+1] == '\n' {
				i++
			}
			continue
		case '&':
		default:
			dst = append(dst, c)
			continue
		}
		end := bytes.IndexByte(text[i:], ';')
		if end < 0 {
			return dst, false
		}
		ref := text[i+1 : i+end]
		switch string(ref) {
		case "lt":
			dst = append(dst, '<')
		case "gt":
			dst = append(dst, '>')
		case "amp":
			dst = append(dst, '&')
		case "apos":
			dst = append(dst, '\'')
		case "quot":
			dst = append(dst, '"')
		default:
			r, ok := charRef(ref)
			if !ok {
				return dst, false
			}
			dst = utf8.AppendRune(dst, r)
		}
		i += end
	}
	return dst, true
}

// appendLines appends text to dst with its line ends normalised to "\n".
func appendLines(dst, text []byte) []byte {
	for {
		k := bytes.IndexByte(text, '\r')
		if k < 0 {
			return append(dst, text...)
		}
		dst = append(append(dst, text[:k]...), '\n')
		text = text[k+1:]
		if len(text) > 0 && text[0] == '\n' {
			text = text[1:]
		}
	}
}

// attrValue returns an attribute value that startTag accepted, unescaped.
func attrValue(v []byte) string {
	if bytes.IndexByte(v, '&') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return string(v)
	}
	u, _ := unescape(nil, v)
	return string(u)
}

// refsValid reports whether unescape accepts every reference in text.
func refsValid(text []byte) bool {
	for {
		i := bytes.IndexByte(text, '&')
		if i < 0 {
			return true
		}
		text = text[i:]
		end := bytes.IndexByte(text, ';')
		if end < 0 {
			return false
		}
		switch ref := text[1:end]; string(ref) {
		case "lt", "gt", "amp", "apos", "quot":
		default:
			if _, ok := charRef(ref); !ok {
				return false
			}
		}
		text = text[end+1:]
	}
}

// charRef decodes the inside of a character reference (#65 or #x41) to a
// character that XML allows.
func charRef(ref []byte) (rune, bool) {
	if len(ref) < 2 || ref[0] != '#' {
		return 0, false
	}
	digits, base := ref[1:], rune(10)
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 || len(digits) > 8 {
		return 0, false
	}
	var r rune
	for _, c := range digits {
		var d rune
		switch {
		case '0' <= c && c <= '9':
			d = rune(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return 0, false
		}
		r = r*base + d
	}
	return r, isXMLChar(r)
}
