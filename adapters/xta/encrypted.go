package xta

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
)

// Encrypted is the xenc:EncryptedData element of a GenericContentContainer:
// a content container the author encrypted end to end. drehscheibe does not
// read it; it keeps and forwards it as it came.
type Encrypted struct {
	// Raw is the element exactly as received, made a standalone document:
	// the namespace declarations it inherits from the envelope and uses are
	// copied onto its start tag, and an xop:Include inside it (an
	// MTOM-optimised CipherValue) is replaced by the base64 of its part.
	// Everything else, prefixes and white space included, is byte for byte
	// the sender's.
	Raw []byte
}

// UnmarshalXML skips the element; Read fills Raw from the bytes of the envelope.
func (e *Encrypted) UnmarshalXML(d *xml.Decoder, _ xml.StartElement) error { return d.Skip() }

// WriteEncrypted writes xta:GenericContentContainer holding the
// xenc:EncryptedData element raw (a standalone element as Encrypted.Raw).
func WriteEncrypted(w *Writer, raw []byte) {
	w.Open("xta:GenericContentContainer")
	w.raw(raw)
	w.Close()
}

// encryptedElement cuts the xenc:EncryptedData child of the body's
// GenericContentContainer out of the envelope root.
func encryptedElement(root []byte, parts map[string][]byte) ([]byte, error) {
	dec := xml.NewDecoder(bytes.NewReader(root))
	var names []xml.Name
	var scopes []map[string]string
	for {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			return nil, errors.New("no xenc:EncryptedData in the GenericContentContainer")
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			decls := declarations(t)
			if t.Name.Space == NSXMLEnc && t.Name.Local == "EncryptedData" && len(names) == 3 &&
				names[2].Space == NSXTA && names[2].Local == "GenericContentContainer" {
				inherited := map[string]string{}
				for _, sc := range scopes {
					for k, v := range sc {
						inherited[k] = v
					}
				}
				for k := range decls {
					delete(inherited, k)
				}
				return capture(dec, root, off, t, inherited, parts)
			}
			names = append(names, t.Name)
			scopes = append(scopes, decls)
		case xml.EndElement:
			names, scopes = names[:len(names)-1], scopes[:len(scopes)-1]
		}
	}
}

// declarations are the namespace declarations on a start tag, by prefix ("" for the default).
func declarations(t xml.StartElement) map[string]string {
	out := map[string]string{}
	for _, a := range t.Attr {
		switch {
		case a.Name.Space == "xmlns":
			out[a.Name.Local] = a.Value
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			out[""] = a.Value
		}
	}
	return out
}

// capture reads the element that starts at offset start (its start tag
// already read) and returns it standalone.
func capture(dec *xml.Decoder, root []byte, start int64, el0 xml.StartElement, inherited map[string]string, parts map[string][]byte) ([]byte, error) {
	type span struct {
		from, to int64
		with     []byte
	}
	var incl []span
	used := map[string]bool{NSXMLEnc: true}
	for _, a := range el0.Attr {
		used[a.Name.Space] = true
	}
	depth, inclFrom, href := 1, int64(-1), ""
	for depth > 0 {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			used[t.Name.Space] = true
			for _, a := range t.Attr {
				used[a.Name.Space] = true
			}
			if t.Name.Space == NSXOP && t.Name.Local == "Include" {
				inclFrom = off
				for _, a := range t.Attr {
					if a.Name.Local == "href" {
						href = a.Value
					}
				}
			}
		case xml.EndElement:
			depth--
			if t.Name.Space == NSXOP && t.Name.Local == "Include" && inclFrom >= 0 {
				data, err := partData(parts, href)
				if err != nil {
					return nil, err
				}
				b64 := make([]byte, base64.StdEncoding.EncodedLen(len(data)))
				base64.StdEncoding.Encode(b64, data)
				incl = append(incl, span{inclFrom, dec.InputOffset(), b64})
				inclFrom = -1
			}
		}
	}
	end := dec.InputOffset()
	el := root[start:end]
	nameEnd := bytes.IndexAny(el, " \t\r\n/>")
	var out bytes.Buffer
	out.Grow(len(el) + 256)
	out.Write(el[:nameEnd])
	// Only the declarations the element needs: its own names' namespaces.
	prefixes := make([]string, 0, len(inherited))
	for p, uri := range inherited {
		if used[uri] && uri != NSXOP {
			prefixes = append(prefixes, p)
		}
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		if p == "" {
			out.WriteString(` xmlns="`)
		} else {
			out.WriteString(` xmlns:` + p + `="`)
		}
		_ = xml.EscapeText(&out, []byte(inherited[p]))
		out.WriteByte('"')
	}
	pos := int64(nameEnd)
	for _, s := range incl {
		out.Write(el[pos : s.from-start])
		out.Write(s.with)
		pos = s.to - start
	}
	out.Write(el[pos:])
	return out.Bytes(), nil
}

// partData finds the MTOM part an xop:Include's href (cid:…) names.
func partData(parts map[string][]byte, href string) ([]byte, error) {
	data, ok := parts[cidOf(href)]
	if !ok {
		return nil, fmt.Errorf("xop:Include href %q names no MIME part", href)
	}
	return data, nil
}

// cidOf is the Content-ID an xop:Include's href (cid:…, URL-escaped) names.
func cidOf(href string) string {
	ref, _ := strings.CutPrefix(strings.TrimSpace(href), "cid:")
	if u, err := url.PathUnescape(ref); err == nil {
		ref = u
	}
	return ref
}
