package schemas

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// BenchmarkPattern measures what libxml2's pattern facets cost per
// character: the same 20,000 ASCII values of about 50 characters, validated
// against a string type with no pattern, with simple patterns, and with the
// two long XÖV string patterns of ../shared/xoev (DIN SPEC 91379
// "datatypeC" and "String.Latin" of the XÖV "Lateinische Zeichen in
// Unicode"). The metric ns/char is the time per character of all values,
// parsing included: the difference to "none" is the pattern's cost
// (docs/benchmarks.md, "Cheaper validation does not close the gap").
func BenchmarkPattern(b *testing.B) {
	xsd := sharedDir(b, "xoev", "xbeteiligung", "1.2", "Resources", "xsd")
	patterns := []struct{ name, pattern string }{
		{"none", ""},
		{"class-star", `[ -~]*`},
		{"one-alternative", `([ -~])*`},
		{"two-alternatives", `([ -~]|x)*`},
		{"din-91379-datatypeC", facet(b, filepath.Join(xsd, "din-norm-91379-datatypes.xsd"), "datatypeC")},
		{"string-latin", facet(b, filepath.Join(xsd, "latinchars.xsd"), "String.Latin")},
	}
	words := []string{"Bebauungsplan", "Nr.", "12", "Gemeinde", "Musterstadt", "Strasse", "Flurstueck", "-", "/", "(", ")"}
	var values strings.Builder
	chars := 0
	for i := 0; i < 20000; i++ {
		var v []string
		for j := 0; j < 8; j++ {
			v = append(v, words[(i*7+j*13+i/11)%len(words)])
		}
		s := strings.Join(v, " ")
		chars += len(s)
		values.WriteString("<v>" + s + "</v>")
	}
	for _, p := range patterns {
		b.Run(p.name, func(b *testing.B) {
			ns := "urn:drehscheibe:bench:pattern:" + p.name
			restriction := `<xs:restriction base="xs:string"/>`
			if p.pattern != "" {
				restriction = `<xs:restriction base="xs:string"><xs:pattern value="` + p.pattern + `"/></xs:restriction>`
			}
			dir := b.TempDir()
			writeFile(b, dir, "pattern.xsd", `<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="`+ns+`" elementFormDefault="qualified">`+
				`<xs:element name="r"><xs:complexType><xs:sequence><xs:element name="v" maxOccurs="unbounded"><xs:simpleType>`+restriction+
				`</xs:simpleType></xs:element></xs:sequence></xs:complexType></xs:element></xs:schema>`)
			c, err := Load(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			doc := []byte(`<r xmlns="` + ns + `">` + values.String() + `</r>`)
			if r := c.Validate(doc); !r.Valid() {
				b.Fatalf("%s: %s %v", p.name, r.Outcome, messages(r))
			}
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				c.Validate(doc)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(chars), "ns/char")
		})
	}
}

// facet is the pattern of the simple type name in the schema file path, as
// written there (character references left as they are).
func facet(b *testing.B, path, name string) string {
	src, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)<xs:simpleType name="` + regexp.QuoteMeta(name) + `".*?<xs:pattern value="([^"]*)"`).FindSubmatch(src)
	if m == nil {
		b.Fatal(fmt.Errorf("%s: no pattern of type %s", path, name))
	}
	return string(m[1])
}
