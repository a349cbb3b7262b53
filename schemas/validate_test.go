package schemas

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"
)

// TestRealMessages gives every real message instance in ../shared/xoev the
// verdict xmllint gives it: the two XWasser monitoring plans lag the schema,
// everything else is valid.
func TestRealMessages(t *testing.T) {
	c := shared(t)
	files := realMessages(t)
	if len(files) != 37 {
		t.Fatalf("found %d real messages, want 37", len(files))
	}
	invalid := map[string]bool{
		"xwasser/1.0.0/tests/monitoring_plan_minimal.xml": true,
		"xwasser/1.0.0/tests/monitoring_plan_maximal.xml": true,
	}
	root := sharedDir(t, "xoev")
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		t.Run(rel, func(t *testing.T) {
			want := OutcomeValid
			if invalid[filepath.ToSlash(rel)] {
				want = OutcomeInvalid
			}
			r := c.ValidateFile(f)
			if r.Outcome != want {
				t.Fatalf("outcome %s, want %s: %q", r.Outcome, want, messages(r))
			}
			if want == OutcomeInvalid && len(r.Errors) == 0 {
				t.Error("invalid without errors")
			}
			if r.Standard == "" || r.Version == "" || r.Namespace == "" || r.Root == "" {
				t.Errorf("report lacks package facts: %+v", r)
			}
			doc, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if m := c.Validate(doc); !reflect.DeepEqual(m, r) {
				t.Errorf("Validate and ValidateFile differ:\n%+v\n%+v", m, r)
			}
		})
	}
}

func TestErrorPositions(t *testing.T) {
	c := quality(t)
	doc := `<?xml version="1.0"?>
<q:nachricht xmlns:q="urn:drehscheibe:test:quality"
             version="1">
  <q:eintrag>1</q:eintrag>
  <q:eintrag>zwei</q:eintrag>
  <q:falsch/>
</q:nachricht>
`
	r := c.Validate([]byte(doc))
	if r.Outcome != OutcomeInvalid {
		t.Fatalf("outcome %s: %q", r.Outcome, messages(r))
	}
	want := []Issue{
		{Line: 5, Column: 13, Level: "error", Message: "Element '{urn:drehscheibe:test:quality}eintrag': 'zwei' is not a valid value of the atomic type 'xs:int'."},
		{Line: 6, Column: 12, Level: "error", Message: "Element '{urn:drehscheibe:test:quality}falsch': This element is not expected. Expected is one of ( {urn:drehscheibe:test:quality}eintrag, {urn:drehscheibe:test:quality}anhang )."},
	}
	if !reflect.DeepEqual(r.Errors, want) {
		t.Errorf("errors\n got %+v\nwant %+v", r.Errors, want)
	}
	if r.Standard != "Testqualität" || r.Version != "1.0" || r.Root != "nachricht" || r.Namespace != qualityNS {
		t.Errorf("package facts %+v", r)
	}
}

// TestNoErrorCap checks that every error is reported, in document order.
func TestNoErrorCap(t *testing.T) {
	c := quality(t)
	var b strings.Builder
	b.WriteString(`<nachricht xmlns="urn:drehscheibe:test:quality" version="1">` + "\n")
	const n = 150
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "<eintrag>x%d</eintrag>\n", i)
	}
	b.WriteString("</nachricht>\n")
	r := c.Validate([]byte(b.String()))
	if r.Outcome != OutcomeInvalid || len(r.Errors) != n {
		t.Fatalf("outcome %s with %d errors, want invalid with %d", r.Outcome, len(r.Errors), n)
	}
	for i, is := range r.Errors {
		if is.Line != i+2 || is.Column != 9 || !strings.Contains(is.Message, fmt.Sprintf("'x%d'", i)) {
			t.Fatalf("error %d: %+v", i, is)
		}
	}
}

func TestMalformed(t *testing.T) {
	c := quality(t)
	for _, tc := range []struct {
		name, doc  string
		line, col  int
		msgContain string
	}{
		{"tag mismatch", "<nachricht xmlns='urn:drehscheibe:test:quality' version='1'>\n  <eintrag>1</eintraq>\n</nachricht>", 2, 23, "Opening and ending tag mismatch"},
		{"empty", "", 1, 1, "Document is empty"},
		{"whitespace only", "  \n ", 2, 2, "Document is empty"},
		{"undeclared entity", "<nachricht xmlns='urn:drehscheibe:test:quality' version='1'><eintrag>&x;</eintrag></nachricht>", 1, 73, "Entity 'x' not defined"},
		{"undeclared prefix", "<p:nachricht version='1'/>", 1, 25, "Namespace prefix p on nachricht is not defined"},
		{"content after root", "<nachricht xmlns='urn:drehscheibe:test:quality' version='1'><eintrag>1</eintrag></nachricht><x/>", 1, 93, "Extra content at the end of the document"},
		{"invalid UTF-8", "<nachricht xmlns='urn:drehscheibe:test:quality' version='\xff'/>", 1, 58, "Input is not proper UTF-8"},
		{"truncated", "<nachricht xmlns='urn:drehscheibe:test:quality' version='1'><eintrag>1</eintr", 1, 78, "expected '>'"},
		{"comment only", "<!-- nichts -->\n", 2, 1, "Document is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.Validate([]byte(tc.doc))
			if r.Outcome != OutcomeMalformed || len(r.Errors) == 0 {
				t.Fatalf("outcome %s: %+v", r.Outcome, r.Errors)
			}
			var found bool
			for _, is := range r.Errors {
				if strings.Contains(is.Message, tc.msgContain) {
					found = true
					if is.Line != tc.line || is.Column != tc.col || is.Level != "fatal" && is.Level != "error" {
						t.Errorf("issue %+v, want line %d column %d", is, tc.line, tc.col)
					}
				}
			}
			if !found {
				t.Errorf("no issue contains %q: %+v", tc.msgContain, r.Errors)
			}
		})
	}
}

const billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<nachricht xmlns="urn:drehscheibe:test:quality" version="&lol9;"><eintrag>1</eintrag></nachricht>
`

// utf16LE encodes s as UTF-16 little endian with a byte order mark, which
// the Go prolog scan leaves to libxml2.
func utf16LE(s string) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xff, 0xfe})
	for _, u := range utf16.Encode([]rune(strings.Replace(s, `<?xml version="1.0"?>`, `<?xml version="1.0" encoding="UTF-16"?>`, 1))) {
		_ = binary.Write(&b, binary.LittleEndian, u)
	}
	return b.Bytes()
}

func TestForbidden(t *testing.T) {
	c := quality(t)
	passwd := writeFile(t, t.TempDir(), "secret.txt", "TOPSECRET")
	longProlog := "<?xml version=\"1.0\"?>\n<!--" + strings.Repeat("x", 100<<10) + "-->\n<!DOCTYPE nachricht>\n<nachricht/>"
	for _, tc := range []struct {
		name string
		doc  []byte
		line int
	}{
		{"doctype", []byte("<!DOCTYPE nachricht>\n<nachricht/>"), 1},
		{"doctype after prolog", []byte("\xef\xbb\xbf<?xml version=\"1.0\"?>\n<!-- c -->\n<?pi x?>\n<!DOCTYPE nachricht SYSTEM \"http://127.0.0.1:1/x.dtd\">\n<nachricht/>"), 4},
		{"billion laughs", []byte(billionLaughs), 2},
		{"xxe", []byte(`<!DOCTYPE r [<!ENTITY x SYSTEM "file://` + passwd + `">]><nachricht xmlns="urn:drehscheibe:test:quality" version="1"><eintrag>&x;</eintrag></nachricht>`), 1},
		{"parameter entity xxe", []byte(`<!DOCTYPE r [<!ENTITY % p SYSTEM "file://` + passwd + `"> %p;]><r/>`), 1},
		{"billion laughs in UTF-16", utf16LE(billionLaughs), 2},
		{"doctype after 100 KiB prolog", []byte(longProlog), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for mode, validate := range map[string]func([]byte) *Report{
				"memory": c.Validate,
				"file": func(doc []byte) *Report {
					return c.ValidateFile(writeFile(t, t.TempDir(), "doc.xml", string(doc)))
				},
			} {
				start := time.Now()
				r := validate(tc.doc)
				if d := time.Since(start); d > time.Second {
					t.Errorf("%s: took %v", mode, d)
				}
				if r.Outcome != OutcomeForbidden || len(r.Errors) != 1 {
					t.Fatalf("%s: outcome %s: %+v", mode, r.Outcome, r.Errors)
				}
				is := r.Errors[0]
				if is.Line != tc.line || is.Level != "fatal" || !strings.Contains(is.Message, "DOCTYPE") || strings.Contains(is.Message, "TOPSECRET") {
					t.Errorf("%s: issue %+v, want line %d", mode, is, tc.line)
				}
			}
		})
	}
}

func TestDepthLimit(t *testing.T) {
	c := quality(t)
	nested := func(depth int) []byte {
		return []byte(`<knoten xmlns="urn:drehscheibe:test:quality">` + strings.Repeat("<knoten>", depth-1) +
			strings.Repeat("</knoten>", depth))
	}
	for _, max := range []int{DefaultLimits().MaxDepth, 3, 1000} {
		l := DefaultLimits()
		l.MaxDepth = max
		if err := c.SetLimits(l); err != nil {
			t.Fatal(err)
		}
		if r := c.Validate(nested(max)); r.Outcome != OutcomeValid {
			t.Errorf("depth %d: %s %+v", max, r.Outcome, r.Errors)
		}
		r := c.Validate(nested(max + 1))
		want := fmt.Sprintf("deeper than %d levels", max)
		if r.Outcome != OutcomeForbidden || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, want) {
			t.Errorf("depth %d: %s %+v", max+1, r.Outcome, r.Errors)
		}
		if r.Limit == nil || *r.Limit != (LimitHit{LimitDepth, max}) {
			t.Errorf("depth %d: limit %+v", max+1, r.Limit)
		}
	}
	if err := c.SetLimits(DefaultLimits()); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownRoot(t *testing.T) {
	c := shared(t)
	for _, tc := range []struct{ name, doc, ns, msg string }{
		{"unknown namespace", `<a:x xmlns:a="urn:unbekannt"/>`, "urn:unbekannt", "no schema declaring message types is loaded for namespace 'urn:unbekannt' (root element 'x')"},
		{"types-only namespace", `<c:Code xmlns:c="http://xoev.de/schemata/code/1_0"/>`, "http://xoev.de/schemata/code/1_0", "no schema declaring message types is loaded"},
		{"no namespace", `<nachricht/>`, "", "root element 'nachricht' has no namespace"},
		{"not a global element", `<x:Akte xmlns:x="urn:xoev-de:xdomea:schema:3.0.0"/>`, "urn:xoev-de:xdomea:schema:3.0.0", "No matching global declaration available for the validation root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.Validate([]byte(tc.doc))
			if r.Outcome != OutcomeUnknownRoot || r.Namespace != tc.ns || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, tc.msg) {
				t.Fatalf("%+v", r)
			}
			if len(r.Known) < 9 || !contains(r.Known, "http://www.xleitstelle.de/xbau/2/6") {
				t.Errorf("known namespaces %q", r.Known)
			}
		})
	}
	// A document that is both unknown and malformed is malformed.
	if r := c.Validate([]byte(`<a:x xmlns:a="urn:unbekannt"><y></a:x>`)); r.Outcome != OutcomeMalformed {
		t.Errorf("outcome %s", r.Outcome)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestNothingExternalDuringValidation checks that xsi:schemaLocation and
// xsi:noNamespaceSchemaLocation are ignored and nothing is fetched.
func TestNothingExternalDuringValidation(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	permissive := writeFile(t, t.TempDir(), "permissive.xsd", `<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
		targetNamespace="urn:drehscheibe:test:quality"><xs:element name="nachricht"/></xs:schema>`)
	c := quality(t)
	for _, loc := range []string{srv.URL + "/permissive.xsd", "file://" + permissive, permissive} {
		doc := `<nachricht xmlns="urn:drehscheibe:test:quality" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
			xsi:schemaLocation="urn:drehscheibe:test:quality ` + loc + `" xsi:noNamespaceSchemaLocation="` + loc + `" version="1">
			<eintrag>zwei</eintrag></nachricht>`
		r := c.Validate([]byte(doc))
		if r.Outcome != OutcomeInvalid || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "'zwei'") {
			t.Errorf("%s: %s %+v", loc, r.Outcome, r.Errors)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d HTTP requests during validation", n)
	}
}

// TestNoStderr checks that libxml2 never writes to the process's stderr,
// neither while compiling broken schemas nor while validating broken
// documents on many threads.
func TestNoStderr(t *testing.T) {
	c := quality(t)
	broken := t.TempDir()
	writeFile(t, broken, "broken.xsd", `<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x">
		<xs:element name="a" type="xs:nichtda"/><xs:import namespace="urn:y" schemaLocation="http://127.0.0.1:1/y.xsd"/></xs:schema>`)
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	captured := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(pr)
		captured <- b
	}()
	if err := syscall.Dup3(int(pw.Fd()), 2, 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var loadErrs atomic.Int32
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := Load(broken); err != nil {
				loadErrs.Add(1)
			}
			for i := 0; i < 50; i++ {
				c.Validate([]byte("<nachricht xmlns='urn:drehscheibe:test:quality'><eintrag>x</eintrag><a></b>"))
				c.Validate([]byte("<nachricht xmlns='urn:drehscheibe:test:quality' version='1'><eintrag>x</eintrag></nachricht>"))
				c.Validate([]byte("<n xmlns:p='rel'><p:x/>&e;</n>"))
				c.Validate(utf16LE(billionLaughs))
			}
		}()
	}
	wg.Wait()
	if err := syscall.Dup3(saved, 2, 0); err != nil {
		t.Fatal(err)
	}
	syscall.Close(saved)
	pw.Close()
	if out := <-captured; len(out) > 0 {
		t.Errorf("libxml2 wrote to stderr:\n%s", out)
	}
	if loadErrs.Load() != 8 {
		t.Errorf("%d of 8 loads of a broken schema failed", loadErrs.Load())
	}
}

// TestConcurrentValidation validates the real messages on many goroutines
// at once against the shared compiled schemas; run it with -race.
func TestConcurrentValidation(t *testing.T) {
	c := shared(t)
	files := realMessages(t)
	docs := make([][]byte, len(files))
	want := make([]*Report, len(files))
	for i, f := range files {
		var err error
		if docs[i], err = os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
		want[i] = c.Validate(docs[i])
	}
	rounds := 10
	if testing.Short() {
		rounds = 2
	}
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				for i := range docs {
					j := (i + g) % len(docs)
					if got := c.Validate(docs[j]); !reflect.DeepEqual(got, want[j]) {
						t.Errorf("%s: concurrent result differs:\n%+v\n%+v", files[j], got, want[j])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

func TestReportJSON(t *testing.T) {
	c := quality(t)
	r := c.Validate([]byte("<nachricht xmlns=\"urn:drehscheibe:test:quality\">\n<eintrag>1</eintrag></nachricht>"))
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"outcome":"invalid","namespace":"urn:drehscheibe:test:quality","root":"nachricht","standard":"Testqualität","version":"1.0",` +
		`"errors":[{"line":1,"column":48,"level":"error","message":"Element '{urn:drehscheibe:test:quality}nachricht': The attribute 'version' is required but missing."}]}`
	if string(got) != want {
		t.Errorf("JSON\n got %s\nwant %s", got, want)
	}
	valid, _ := json.Marshal(c.Validate([]byte(`<nachricht xmlns="urn:drehscheibe:test:quality" version="1"><eintrag>1</eintrag></nachricht>`)))
	if want := `{"outcome":"valid","namespace":"urn:drehscheibe:test:quality","root":"nachricht","standard":"Testqualität","version":"1.0","errors":[]}`; string(valid) != want {
		t.Errorf("JSON\n got %s\nwant %s", valid, want)
	}
	unknown, _ := json.Marshal(c.Validate([]byte(`<x/>`)))
	if want := `{"outcome":"unknown-root","root":"x","errors":[{"line":1,"column":3,"level":"error","message":"root element 'x' has no namespace; no schema applies"}],"known":["urn:drehscheibe:test:quality"]}`; string(unknown) != want {
		t.Errorf("JSON\n got %s\nwant %s", unknown, want)
	}
}

func TestValidateFileUnreadable(t *testing.T) {
	c := quality(t)
	r := c.ValidateFile(filepath.Join(t.TempDir(), "fehlt.xml"))
	if r.Outcome != OutcomeMalformed || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "no such file") {
		t.Errorf("%+v", r)
	}
}

func TestUseAfterClose(t *testing.T) {
	c, err := Load("testdata/quality")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	defer func() {
		if recover() == nil {
			t.Error("Validate after Close did not panic")
		}
	}()
	c.Validate([]byte("<x/>"))
}

func TestEncodings(t *testing.T) {
	c := quality(t)
	doc := `<?xml version="1.0"?>
<nachricht xmlns="urn:drehscheibe:test:quality" version="Grüße"><eintrag>1</eintrag><eintrag>x</eintrag></nachricht>`
	for name, b := range map[string][]byte{
		"UTF-8":      []byte(doc),
		"UTF-16":     utf16LE(doc),
		"ISO-8859-1": []byte(strings.Replace(strings.Replace(doc, "ü", "\xfc", 1), "ß", "\xdf", 1)),
	} {
		if name == "ISO-8859-1" {
			b = bytes.Replace(b, []byte(`<?xml version="1.0"?>`), []byte(`<?xml version="1.0" encoding="ISO-8859-1"?>`), 1)
		}
		r := c.Validate(b)
		if r.Outcome != OutcomeInvalid || len(r.Errors) != 1 || r.Errors[0].Line != 2 || !strings.Contains(r.Errors[0].Message, "'x'") {
			t.Errorf("%s: %s %+v", name, r.Outcome, r.Errors)
		}
	}
}

// A malformed document reports why it cannot be read, not schema findings
// made on the way.
func TestMalformedReportsOnlyWellFormednessErrors(t *testing.T) {
	c := quality(t)
	r := c.Validate([]byte("<?xml version=\"1.0\"?>\n<a>\n  <b>\n</a>\n"))
	if r.Outcome != OutcomeMalformed {
		t.Fatalf("outcome %s", r.Outcome)
	}
	if len(r.Errors) != 1 || r.Errors[0].Line != 4 || r.Errors[0].Level != "fatal" {
		t.Fatalf("errors %+v", r.Errors)
	}
}
