package identify

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// sameAsIdentify fails t when quick found facts for doc that differ from what
// identify, the encoding/xml reader, finds. It reports whether quick read doc.
func sameAsIdentify(t *testing.T, name string, doc []byte) bool {
	t.Helper()
	q, ok := quick(doc)
	if !ok {
		return false
	}
	want, err := identify(bytes.NewReader(doc))
	if err != nil {
		t.Errorf("%s: quick read facts %+v, identify fails: %v", name, q, err)
	} else if q != want {
		t.Errorf("%s: quick read\n%+v\nidentify reads\n%+v", name, q, want)
	}
	return true
}

// TestQuickMatchesIdentifyOnCorpus compares the two readers on every XML file
// of ../shared/xoev (messages, code lists and catalogs alike), the examples
// and the hostile cases, and checks that the real messages take the quick way.
func TestQuickMatchesIdentifyOnCorpus(t *testing.T) {
	root := testenv.RepoRoot(t)
	read, all := 0, 0
	walk := func(dir, suffix string) {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, suffix) {
				return nil
			}
			doc, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if suffix == ".case" {
				if _, body, ok := bytes.Cut(doc, []byte("\n\n")); ok && bytes.HasPrefix(doc, []byte("about: ")) {
					doc = body
				}
			}
			all++
			if sameAsIdentify(t, p, doc) {
				read++
			} else if testing.Verbose() {
				t.Logf("left to identify: %s", p)
			}
			return nil
		})
	}
	walk(filepath.Join(root, "examples"), ".xml")
	walk(filepath.Join(root, "test", "hostile", "cases"), ".case")
	shared := filepath.Join(root, "..", "shared", "xoev")
	if dirExists(shared) {
		walk(shared, ".xml")
		for _, rel := range realMessages(t, shared) {
			doc, err := os.ReadFile(filepath.Join(shared, rel))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := quick(doc); !ok {
				t.Errorf("%s: a real message is not read by quick", rel)
			}
		}
	}
	t.Logf("quick read %d of %d documents", read, all)
}

// TestQuickMatchesIdentify compares the two readers on the corner cases of
// the XML syntax that quick reads itself or leaves to identify.
func TestQuickMatchesIdentify(t *testing.T) {
	head := `<k:nachrichtenkopf.g2g><k:identifikation.nachricht><k:nachrichtenUUID>%s</k:nachrichtenUUID></k:identifikation.nachricht>` +
		`<k:autor><k:kennung>psw:1</k:kennung></k:autor></k:nachrichtenkopf.g2g>`
	docs := []string{
		g2gQualified,
		strings.ReplaceAll(g2gQualified, "\n", "\r\n"),
		`<?xml version="1.0" encoding="UTF-8"?><r/>`,
		`<?xml version='1.0' encoding='utf-8' standalone='yes' ?>` + "\n<!-- c -->\n<r test='0'/>",
		`<?xml version="1.0" encoding="ISO-8859-1"?><r/>`,
		`<?xml version="1.1"?><r/>`,
		`<?xml version = "1.0"?><r/>`,
		`<?xml-stylesheet href="a"?><r/>`,
		"\xEF\xBB\xBF<r/>",
		`<r/>`,
		`<r></r>`,
		`<r></s>`,
		`<p:r xmlns:p="urn:a" test=" ja  bitte "/>`,
		`<p:r xmlns:p="urn:a" xmlns:p="urn:b"/>`,
		`<p:r/>`,
		`<p:r xmlns:p=""/>`,
		`<r xmlns="urn:&amp;&#x41;&#66;"/>`,
		"<r xmlns=\"urn:a\r\nb\"/>",
		`<r xmlns="urn:a" xmlns:p="urn:p" p:test="1" standard="X&lt;" version="1"/>`,
		`<xml:r/>`,
		`<r test="&bogus;"/>`,
		`<r test="&#0;"/>`,
		`<r test="&#xD800;"/>`,
		`<r test="a<b"/>`,
		`<r test=1/>`,
		`<r test/>`,
		`<r a="1"b="2"/>`,
		`<r><nachrichtenkopf.g2g/></r>`,
		`<r><daten><nachrichtenkopf.g2g/></daten></r>`,
		`<r>text<!-- c --><nachrichtenkopf.g2g><autor><kennung>a&amp;b</kennung></autor></nachrichtenkopf.g2g></r>`,
		`<r><nachrichtenkopf.g2g><autor><kennung>a<x/>b</kennung></autor></nachrichtenkopf.g2g></r>`,
		`<r><nachrichtenkopf.g2g><autor><kennung>1</kennung><kennung>2</kennung></autor></nachrichtenkopf.g2g></r>`,
		`<r><nachrichtenkopf.g2g><autor><kennung><![CDATA[a]]></kennung></autor></nachrichtenkopf.g2g></r>`,
		`<r><nachrichtenkopf.g2g><autor><kennung><![CDATA[a&amp;]]>` + "\r\n" + `<![CDATA[b` + "\r\r\n" + `c]]></kennung></autor></nachrichtenkopf.g2g></r>`,
		`<r><nachrichtenkopf.g2g><autor><kennung><![CDATA[a]]></kennung></autor></nachrichtenkopf.g2g></r>`,
		`<r><nachrichtenkopf.g2g><autor><kennung><![CDATA[a</kennung></autor></nachrichtenkopf.g2g></r>`,
		`<r><nachrichtenkopf.g2g><autor><kennung>a]]>b</kennung></autor></nachrichtenkopf.g2g></r>`,
		`<r><nachrichtenkopf.g2g><autor><kennung>a</kennung></autor></nachrichtenkopf.g2g>`,
		`<r><nachrichtenkopf.g2g><autor><kennung>a</kennung></autor>`,
		`<r><nachrichtenkopf.g2g><autor><kennung>a</kennung></x></nachrichtenkopf.g2g></r>`,
		`<r><nachrichtenkopf.g2g><!DOCTYPE r></nachrichtenkopf.g2g></r>`,
		`<r><nachrichtenkopf.g2g><!-- a -- b --></nachrichtenkopf.g2g></r>`,
		`<r><nachrichtenkopf.g2g><autor><kennung>` + "a\x01b" + `</kennung></autor></nachrichtenkopf.g2g></r>`,
		`<r><nachrichtenkopf.g2g><autor><kennung>` + "a\xffb" + `</kennung></autor></nachrichtenkopf.g2g></r>`,
		`<r><nachrichtenkopf.g2g><autor><kennung>` + "ä\u00a0b" + `</kennung></autor></nachrichtenkopf.g2g></r>`,
		`<r><Kopf><ProzessID>p</ProzessID><Absender><Behoerdenkennung><Praefix><code>psw</code></Praefix><Kennung><code>1</code></Kennung></Behoerdenkennung></Absender></Kopf></r>`,
		`<r><a:b:c/></r>`,
		`<r><:b/></r>`,
		`<r><ä/></r>`,
		"<r>\x00</r>",
		"<\x00r/>",
		"\xFF\xFE<\x00r\x00/\x00>\x00",
		``,
		`text<r/>`,
	}
	for _, uuid := range []string{"u", " u  v ", "&lt;u&gt;", "&#x1F600;"} {
		docs = append(docs, `<x:r xmlns:x="urn:x" xmlns:k="urn:k">`+strings.Replace(head, "%s", uuid, 1)+`</x:r>`)
	}
	for _, d := range docs {
		sameAsIdentify(t, d, []byte(d))
	}
	if _, ok := quick([]byte(g2gQualified)); !ok {
		t.Error("quick does not read the qualified XÖV header")
	}
}

// FuzzQuick checks that the facts quick reads are always those of identify.
func FuzzQuick(f *testing.F) {
	for _, doc := range seedDocs(f) {
		f.Add(doc)
	}
	f.Add([]byte(g2gQualified))
	f.Fuzz(func(t *testing.T, doc []byte) {
		sameAsIdentify(t, "fuzz input", doc)
	})
}
