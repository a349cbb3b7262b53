package identify

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

const g2gQualified = `<?xml version="1.0" encoding="UTF-8"?>
<x:antrag.einreichen.0100 xmlns:x="urn:example:demo" xmlns:k="http://xoev.de/schemata/basisnachricht/g2g/1_1"
    xmlns:b="http://xoev.de/schemata/basisnachricht/behoerde/1_1" xmlns:c="http://xoev.de/schemata/basisnachricht/kommunikation/1_1"
    standard="Demo" version="1.0" produkt="Formular" produkthersteller="Beispiel GmbH" produktversion="2.1">
  <k:nachrichtenkopf.g2g>
    <k:identifikation.nachricht>
      <k:nachrichtenUUID>
        7f1c9a56-3b0e-4d7a-9c1e-2f4b8d6e0a13
      </k:nachrichtenUUID>
      <k:nachrichtentyp listURI="urn:example" listVersionID="1"><code>0100</code><name>antrag.einreichen</name></k:nachrichtentyp>
    </k:identifikation.nachricht>
    <k:leser>
      <b:verzeichnisdienst listVersionID="3"><code>DVDV</code></b:verzeichnisdienst>
      <b:kennung>ags:09162000</b:kennung>
      <b:name>Landeshauptstadt   München,
        Kreisverwaltungsreferat</b:name>
      <c:erreichbarkeit><c:kanal listVersionID="3"><code>01</code></c:kanal><c:kennung>kvr@example.org</c:kennung></c:erreichbarkeit>
    </k:leser>
    <k:autor>
      <c:erreichbarkeit><c:kanal listVersionID="3"><code>01</code></c:kanal><c:kennung>not-the-author</c:kennung></c:erreichbarkeit>
      <b:kennung><![CDATA[mbp:00000001]]></b:kennung>
      <b:name>Portal &amp; Co &#x2013; Test</b:name>
    </k:autor>
  </k:nachrichtenkopf.g2g>
  <x:inhalt/>
</x:antrag.einreichen.0100>`

func TestIdentifyForms(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want Facts
	}{{
		name: "qualified g2g header with odd prefixes",
		doc:  g2gQualified,
		want: Facts{
			Namespace: "urn:example:demo", MessageType: "antrag.einreichen.0100",
			StandardAttr: "Demo", VersionAttr: "1.0",
			Produkt: "Formular", Produkthersteller: "Beispiel GmbH", Produktversion: "2.1",
			NachrichtenUUID: "7f1c9a56-3b0e-4d7a-9c1e-2f4b8d6e0a13", NachrichtentypCode: "0100",
			Reader: "ags:09162000", ReaderName: "Landeshauptstadt München, Kreisverwaltungsreferat",
			Author: "mbp:00000001", AuthorName: "Portal & Co – Test",
		},
	}, {
		name: "unqualified g2g header, default namespace, test attribute",
		doc: `<m xmlns="urn:a" standard="S" version="2" test="true" produkt="P" produkthersteller="H">
<nachrichtenkopf.g2g xmlns=""><identifikation.nachricht><nachrichtenUUID>u</nachrichtenUUID>
<nachrichtentyp><code>0001</code></nachrichtentyp></identifikation.nachricht>
<leser><kennung>psw:1</kennung><name>L</name></leser><autor><kennung>psw:2</kennung><name>A</name></autor>
</nachrichtenkopf.g2g></m>`,
		want: Facts{Namespace: "urn:a", MessageType: "m", StandardAttr: "S", VersionAttr: "2", TestAttr: "true", Test: true,
			Produkt: "P", Produkthersteller: "H", NachrichtenUUID: "u", NachrichtentypCode: "0001",
			Reader: "psw:1", ReaderName: "L", Author: "psw:2", AuthorName: "A"},
	}, {
		name: "older XMeld nachrichtenkopf with absender and empfaenger",
		doc: `<xmeld:administration.returntosender.0900 xmlns:xmeld="http://www.osci.de/xmeld2611" version="26.11" fassung="2026-01-31" produkt="P" produkthersteller="H">
<xmeld:nachrichtenkopf><xmeld:identifikation.nachricht><xmeld:nachrichtennummer listURI="x" listVersionID="1"><code>0900</code></xmeld:nachrichtennummer>
<xmeld:erstellungszeitpunkt>2026-01-01T00:00:00Z</xmeld:erstellungszeitpunkt></xmeld:identifikation.nachricht>
<xmeld:absender><xmeld:behoerdenkennung>ags:09162000</xmeld:behoerdenkennung></xmeld:absender>
<xmeld:empfaenger><xmeld:behoerdenkennung>ags:09761000</xmeld:behoerdenkennung></xmeld:empfaenger>
</xmeld:nachrichtenkopf></xmeld:administration.returntosender.0900>`,
		want: Facts{Namespace: "http://www.osci.de/xmeld2611", MessageType: "administration.returntosender.0900",
			VersionAttr: "26.11", Produkt: "P", Produkthersteller: "H", NachrichtentypCode: "0900",
			Author: "ags:09162000", Reader: "ags:09761000"},
	}, {
		name: "xdomea 3 Kopf with Behoerdenschluessel, empty Absender kennung",
		doc: `<x:Geschaeftsgang.Geschaeftsgang.0201 xmlns:x="urn:xoev-de:xdomea:schema:3.1.0"><x:Kopf>
<x:ProzessID>p-1</x:ProzessID><x:Nachrichtentyp><code>0201</code></x:Nachrichtentyp>
<x:Absender><x:Behoerdenkennung>
</x:Behoerdenkennung><x:Institution><x:Name>Amt A</x:Name></x:Institution></x:Absender>
<x:Empfaenger><x:Behoerdenkennung><x:Behoerdenschluessel><code>01003110</code><name>Amt B (Schlüssel)</name></x:Behoerdenschluessel>
<x:Praefix><code>psw:</code></x:Praefix></x:Behoerdenkennung></x:Empfaenger>
<x:SendendesSystem><x:Produktname>DMS</x:Produktname><x:Version>7</x:Version></x:SendendesSystem>
</x:Kopf></x:Geschaeftsgang.Geschaeftsgang.0201>`,
		want: Facts{Namespace: "urn:xoev-de:xdomea:schema:3.1.0", MessageType: "Geschaeftsgang.Geschaeftsgang.0201",
			ProzessID: "p-1", NachrichtentypCode: "0201", AuthorName: "Amt A",
			Reader: "psw:01003110", ReaderName: "Amt B (Schlüssel)", Produkt: "DMS", Produktversion: "7"},
	}, {
		name: "xdomea 2 Kopf with Kennung and no prefix",
		doc: `<x:Abgabe.Abgabe.0401 xmlns:x="urn:xoev-de:xdomea:schema:2.4.0"><x:Kopf><x:ProzessID>p</x:ProzessID>
<x:Absender><x:Behoerdenkennung><x:Kennung><code>K1</code></x:Kennung></x:Behoerdenkennung></x:Absender>
<x:Empfaenger><x:Behoerdenkennung><x:Praefix><code>psw</code></x:Praefix></x:Behoerdenkennung></x:Empfaenger>
</x:Kopf></x:Abgabe.Abgabe.0401>`,
		want: Facts{Namespace: "urn:xoev-de:xdomea:schema:2.4.0", MessageType: "Abgabe.Abgabe.0401",
			ProzessID: "p", Author: "K1"},
	}, {
		name: "no header: the first child is something else",
		doc:  `<r xmlns="urn:r" test="1"><daten><nachrichtenkopf.g2g><leser><kennung>x</kennung></leser></nachrichtenkopf.g2g></daten></r>`,
		want: Facts{Namespace: "urn:r", MessageType: "r", TestAttr: "1", Test: true},
	}, {
		name: "root only",
		doc:  `<?xml version="1.0"?><!-- a comment --><?pi x?><r/>`,
		want: Facts{MessageType: "r"},
	}, {
		name: "syntax error after the header is left to the validator",
		doc:  `<r><nachrichtenkopf.g2g><leser><kennung>x</kennung></leser></nachrichtenkopf.g2g><a></b></r>`,
		want: Facts{MessageType: "r", Reader: "x"},
	}, {
		name: "syntax error inside the header keeps what was read",
		doc:  `<r><nachrichtenkopf.g2g><leser><kennung>x</kennung><name>&bogus;</name></leser></nachrichtenkopf.g2g></r>`,
		want: Facts{MessageType: "r", Reader: "x"},
	}, {
		name: "attributes in a namespace are not root attributes",
		doc:  `<r xmlns:o="urn:o" o:test="true" o:standard="X"/>`,
		want: Facts{MessageType: "r"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Identify([]byte(tt.doc))
			if err != nil {
				t.Fatalf("Identify: %v", err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestTestAttribute(t *testing.T) {
	for attr, want := range map[string]bool{
		``:                 false,
		`test="true"`:      true,
		`test="1"`:         true,
		`test=" TRUE "`:    true,
		`test="false"`:     false,
		`test="False"`:     false,
		`test="0"`:         false,
		`test=""`:          true, // present: XÖV says it is a test message
		`test="Abnahme"`:   true,
		`test="bilateral"`: true,
	} {
		f, err := Identify([]byte(`<r ` + attr + `/>`))
		if err != nil {
			t.Fatal(err)
		}
		if f.Test != want {
			t.Errorf("%s: Test = %t, want %t", attr, f.Test, want)
		}
	}
}

func TestIdentifyErrors(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		line      int
		is        error
		msgSubstr string
	}{
		{"empty", ``, 1, ErrNoRoot, "no root element"},
		{"white space only", "  \n\n ", 3, ErrNoRoot, "no root element"},
		{"prolog only", "<?xml version=\"1.0\"?>\n<!-- c -->\n", 3, ErrNoRoot, "no root element"},
		{"not XML", `{"json": true}`, 1, nil, "text before the root element"},
		{"text before root", "hello\n<r/>", 1, nil, "text before the root element"},
		{"doctype", "<?xml version=\"1.0\"?>\n<!-- x -->\n<!DOCTYPE r>\n<r/>", 3, ErrDoctype, "document type declarations are not allowed"},
		{"billion laughs", `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol9 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol9;</lolz>`, 2, ErrDoctype, "document type"},
		{"XXE", "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>", 2, ErrDoctype, "document type"},
		{"doctype after the root start", "<r>\n<!DOCTYPE r>\n</r>", 2, ErrDoctype, "document type"},
		{"bad start tag", "<?xml version=\"1.0\"?>\n\n<r a=>", 3, nil, "unquoted or missing attribute value"},
		{"end tag first", "</r>", 1, nil, "unexpected end element </r>"},
		{"unsupported encoding", `<?xml version="1.0" encoding="EBCDIC-US"?><r/>`, 1, nil, `unsupported encoding "EBCDIC-US"`},
		{"undeclared prefix", "<x:r xmlns:y=\"urn:y\"/>", 1, nil, `namespace prefix "x" of the root element is not declared`},
		{"UTF-32", "\x00\x00\xfe\xff\x00\x00\x00<", 1, nil, "UTF-32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			f, err := Identify([]byte(tt.doc))
			if err == nil {
				t.Fatalf("no error; facts %+v", f)
			}
			if time.Since(start) > time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not a *SyntaxError", err, err)
			}
			if se.Line != tt.line {
				t.Errorf("line %d, want %d (%v)", se.Line, tt.line, err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.msgSubstr) {
				t.Errorf("error %q does not contain %q", err, tt.msgSubstr)
			}
			if !strings.HasPrefix(err.Error(), "identify: line ") {
				t.Errorf("error %q lacks its position", err)
			}
			if f != (Facts{}) {
				t.Errorf("facts with an error: %+v", f)
			}
		})
	}
}

func TestEncodings(t *testing.T) {
	const body = `<r standard="S"><nachrichtenkopf.g2g><leser><name>Gemeinde Ötisheim</name></leser></nachrichtenkopf.g2g></r>`
	utf16le := func(s string, bom bool) []byte {
		var b bytes.Buffer
		if bom {
			b.Write([]byte{0xFF, 0xFE})
		}
		for _, u := range utf16.Encode([]rune(s)) {
			_ = binary.Write(&b, binary.LittleEndian, u)
		}
		return b.Bytes()
	}
	utf16be := func(s string) []byte {
		b := bytes.NewBuffer([]byte{0xFE, 0xFF})
		for _, u := range utf16.Encode([]rune(s)) {
			_ = binary.Write(b, binary.BigEndian, u)
		}
		return b.Bytes()
	}
	latin1 := func(s string) []byte {
		var b []byte
		for _, r := range s {
			b = append(b, byte(r))
		}
		return b
	}
	docs := map[string][]byte{
		"UTF-8":          []byte(`<?xml version="1.0" encoding="UTF-8"?>` + body),
		"UTF-8 BOM":      append([]byte{0xEF, 0xBB, 0xBF}, `<?xml version="1.0" encoding="utf-8"?>`+body...),
		"UTF-16LE BOM":   utf16le(`<?xml version="1.0" encoding="UTF-16"?>`+body, true),
		"UTF-16LE noBOM": utf16le(`<?xml version="1.0" encoding="UTF-16"?>`+body, false),
		"UTF-16BE BOM":   utf16be(`<?xml version="1.0" encoding="UTF-16"?>` + body),
		"ISO-8859-1":     latin1(`<?xml version="1.0" encoding="ISO-8859-1"?>` + body),
		"ISO-8859-15":    latin1(`<?xml version="1.0" encoding="iso-8859-15"?>` + body),
		"windows-1252":   latin1(`<?xml version="1.0" encoding="windows-1252"?>` + body),
	}
	for name, doc := range docs {
		f, err := Identify(doc)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if f.ReaderName != "Gemeinde Ötisheim" || f.StandardAttr != "S" {
			t.Errorf("%s: got %+v", name, f)
		}
	}
	// The bytes where Windows-1252 and ISO-8859-15 differ from ISO-8859-1.
	f, err := Identify(append([]byte(`<?xml version="1.0" encoding="windows-1252"?><r produkt="`), 0x80, 0x93, 'x', 0x94, '"', '/', '>'))
	if err != nil || f.Produkt != "€“x”" {
		t.Errorf("windows-1252: %q, %v", f.Produkt, err)
	}
	f, err = Identify(append([]byte(`<?xml version="1.0" encoding="ISO-8859-15"?><r produkt="`), 0xA4, 0xBD, '"', '/', '>'))
	if err != nil || f.Produkt != "€œ" {
		t.Errorf("ISO-8859-15: %q, %v", f.Produkt, err)
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// bigDoc returns a document of about size bytes with the header at its start.
func bigDoc(size int) []byte {
	var b bytes.Buffer
	b.WriteString(g2gQualified[:strings.Index(g2gQualified, "<x:inhalt/>")])
	b.WriteString("<x:inhalt>")
	chunk := "<x:zeile>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</x:zeile>\n"
	for b.Len() < size {
		b.WriteString(chunk)
	}
	b.WriteString("</x:inhalt></x:antrag.einreichen.0100>")
	return b.Bytes()
}

func TestIdentifyStopsAfterHeader(t *testing.T) {
	doc := bigDoc(40 << 20)
	cr := &countingReader{r: bytes.NewReader(doc)}
	f, err := identify(cr)
	if err != nil {
		t.Fatal(err)
	}
	if f.NachrichtenUUID != "7f1c9a56-3b0e-4d7a-9c1e-2f4b8d6e0a13" || f.Author != "mbp:00000001" {
		t.Errorf("facts %+v", f)
	}
	if cr.n > 64<<10 {
		t.Errorf("read %d bytes of a %d byte document; want no more than 64 KiB", cr.n, len(doc))
	}
	// A document without a header is not read to its end either.
	noHeader := append([]byte(`<r><daten>`), doc...)
	cr = &countingReader{r: bytes.NewReader(noHeader)}
	if _, err := identify(cr); err != nil {
		t.Fatal(err)
	}
	if cr.n > 64<<10 {
		t.Errorf("read %d bytes of a document without header", cr.n)
	}
	// Nor is a document whose header never ends.
	endless := bytes.Replace(doc, []byte("</k:nachrichtenkopf.g2g>"), nil, 1)
	cr = &countingReader{r: bytes.NewReader(endless)}
	f, err = identify(cr)
	if err != nil {
		t.Fatal(err)
	}
	if f.Author != "mbp:00000001" {
		t.Errorf("facts of a header without end: %+v", f)
	}
	if cr.n > 1<<20 {
		t.Errorf("read %d bytes of a document whose header does not end", cr.n)
	}
}

func TestIdentifyConcurrent(t *testing.T) {
	docs := [][]byte{[]byte(g2gQualified), []byte(`<r test="true"/>`), []byte(`<!DOCTYPE r><r/>`)}
	done := make(chan struct{})
	for i := 0; i < 8; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := 0; j < 200; j++ {
				_, _ = Identify(docs[(i+j)%len(docs)])
			}
		}()
	}
	for i := 0; i < 8; i++ {
		<-done
	}
}

func BenchmarkIdentify40MB(b *testing.B) {
	doc := bigDoc(40 << 20)
	b.SetBytes(int64(len(doc)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Identify(doc); err != nil {
			b.Fatal(err)
		}
	}
}
