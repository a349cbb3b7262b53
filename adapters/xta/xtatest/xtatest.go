// Package xtatest checks SOAP messages against the XTA 2 Version 3 schemas
// in ../shared/xta/v3 (read by path, never copied into the repository). Tests
// of the XTA server and client use it to assert that every envelope
// drehscheibe writes is MTOM and schema-valid.
package xtatest

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/schemas"
	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// Dir returns the directory of the XTA v3 schemas, or skips the test if
// ../shared/xta/v3 is not there.
func Dir(t testing.TB) string {
	t.Helper()
	d := testenv.Shared(t, "xta", "v3")
	if _, err := os.Stat(filepath.Join(d, "XTA.wsdl")); err != nil {
		t.Skipf("../shared/xta/v3 has no XTA.wsdl: %v", err)
	}
	return d
}

var (
	once    sync.Once
	catalog *schemas.Catalog
	loadErr error
)

// Validator validates SOAP messages against the XTA v3 schemas.
type Validator struct{ c *schemas.Catalog }

// New loads the schemas once per test binary.
func New(t testing.TB) *Validator {
	d := Dir(t)
	once.Do(func() { catalog, loadErr = schemas.Load(d) })
	if loadErr != nil {
		t.Fatalf("load XTA schemas: %v", loadErr)
	}
	return &Validator{c: catalog}
}

var include = regexp.MustCompile(`<xop:Include href="cid:([^"]+)"\s*/>`)

// Check asserts that an HTTP message is MTOM (multipart/related with
// type="application/xop+xml"), rebuilds the XML infoset (every xop:Include
// replaced by the base64 of its part), validates the envelope and every
// child of soap:Header, soap:Body and soap:Fault/soap:Detail on its own, and
// returns the envelope as xta.Read reads it.
func (v *Validator) Check(t testing.TB, ctype string, body []byte) *xta.Envelope {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil || mt != "multipart/related" || params["type"] != "application/xop+xml" {
		t.Fatalf("not MTOM: Content-Type %q", ctype)
	}
	root, parts := split(t, params["boundary"], body)
	infoset := include.ReplaceAllFunc(root, func(m []byte) []byte {
		cid := string(include.FindSubmatch(m)[1])
		data, ok := parts[cid]
		if !ok {
			t.Errorf("xop:Include of a missing part %s", cid)
		}
		return []byte(base64.StdEncoding.EncodeToString(data))
	})
	v.CheckXML(t, infoset)
	env, err := xta.Read(ctype, "", bytes.NewReader(body), 0)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	return env
}

// CheckXML validates a SOAP envelope (with inline content) and every child
// of its soap:Header, soap:Body and soap:Fault/soap:Detail on its own.
func (v *Validator) CheckXML(t testing.TB, env []byte) {
	t.Helper()
	if r := v.c.Validate(env); !r.Valid() {
		t.Errorf("envelope invalid: %+v\n%s", r.Errors, shorten(env))
	}
	frags, err := Fragments(env)
	if err != nil {
		t.Fatalf("split envelope: %v", err)
	}
	for _, f := range frags {
		if r := v.c.Validate(f); !r.Valid() {
			t.Errorf("%s invalid: %+v\n%s", r.Root, r.Errors, shorten(f))
		}
	}
}

func shorten(b []byte) string {
	if len(b) > 4000 {
		return string(b[:4000]) + "…"
	}
	return string(b)
}

func split(t testing.TB, boundary string, body []byte) ([]byte, map[string][]byte) {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var root []byte
	parts := map[string][]byte{}
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		if root == nil {
			if !strings.HasPrefix(p.Header.Get("Content-Type"), "application/xop+xml") {
				t.Errorf("root part Content-Type %q, want application/xop+xml", p.Header.Get("Content-Type"))
			}
			root = data
			continue
		}
		parts[strings.Trim(p.Header.Get("Content-Id"), "<>")] = data
	}
	return root, parts
}

// Fragments cuts every child element of soap:Header, soap:Body and
// soap:Detail out of a SOAP envelope as a standalone document, with the
// namespace declarations it inherits copied onto its start tag.
func Fragments(doc []byte) ([][]byte, error) {
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var stack []map[string]string // namespace declarations per open element
	var names []string
	var out [][]byte
	start, depth := int64(-1), 0
	var inherited map[string]string
	for {
		off := dec.InputOffset()
		tok, err := dec.RawToken()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			decls := map[string]string{}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" {
					decls[a.Name.Local] = a.Value
				} else if a.Name.Space == "" && a.Name.Local == "xmlns" {
					decls[""] = a.Value
				}
			}
			if start < 0 && len(names) > 0 && t.Name.Local != "Fault" {
				switch names[len(names)-1] {
				case "Header", "Body", "Detail":
					start, depth = off, len(names)
					inherited = map[string]string{}
					for _, l := range stack {
						for k, v := range l {
							inherited[k] = v
						}
					}
					for k := range decls {
						delete(inherited, k)
					}
				}
			}
			stack = append(stack, decls)
			names = append(names, t.Name.Local)
		case xml.EndElement:
			stack, names = stack[:len(stack)-1], names[:len(names)-1]
			if start >= 0 && len(names) == depth {
				out = append(out, withDecls(doc[start:dec.InputOffset()], inherited))
				start = -1
			}
		}
	}
}

// withDecls inserts namespace declarations after the element name of frag's start tag.
func withDecls(frag []byte, decls map[string]string) []byte {
	i := bytes.IndexAny(frag, " \t\r\n/>")
	var b bytes.Buffer
	b.Write(frag[:i])
	for k, v := range decls {
		if k == "" {
			fmt.Fprintf(&b, ` xmlns="%s"`, v)
		} else {
			fmt.Fprintf(&b, ` xmlns:%s="%s"`, k, v)
		}
	}
	b.Write(frag[i:])
	return b.Bytes()
}
