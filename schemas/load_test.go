package schemas

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPackages(t *testing.T) {
	c := shared(t)
	for _, want := range []struct {
		standard, version, namespace, dir string
		messageTypes                      int
		someTypes                         []string
	}{
		{"XBau", "2.6", "http://www.xleitstelle.de/xbau/2/6", "xbau/2.6/xsd/xsd_dev", 121,
			[]string{"baugenehmigung.antrag.0200"}},
		{"XBau-Kernmodul", "1.3.0", "http://www.xleitstelle.de/xbau/kernmodul/1/3/0", "xbau/2.6/xsd/xsd_dev", 18,
			[]string{"universellerAntrag.antrag.1200", "prozessnachrichten.rueckweisung.G2G.1100"}},
		{"XMeld", "26.11", "http://www.osci.de/xmeld2611", "xmeld/26.11/xsd", 140,
			[]string{"anmeldung.datenanforderung.0300"}},
		{"XWasser", "1.0.0", "https://gitlab.opencode.de/akdb/xoev/xwasser/-/raw/main/V1_0_0", "xwasser/1.0.0/schemas/V1_0_0", 12,
			[]string{"vorgang.transportieren.2010"}},
		{"xdomea", "2.3.0", "urn:xoev-de:xdomea:schema:2.3.0", "xdomea/2.3.0/xsd/2.3.0", 47,
			[]string{"Aussonderung.Aussonderung.0503"}},
		{"xdomea", "2.4.0", "urn:xoev-de:xdomea:schema:2.4.0", "xdomea/2.4.0/xsd/2.4.0", 47,
			[]string{"Aussonderung.Aussonderung.0503"}},
		{"xdomea", "3.0.0", "urn:xoev-de:xdomea:schema:3.0.0", "xdomea/3.0.0/xsd/3.0.0", 64,
			[]string{"Aussonderung.Aussonderung.0503", "Zwischenarchivierung.Auslagerung.0701"}},
		{"xdomea", "3.1.0", "urn:xoev-de:xdomea:schema:3.1.0", "xdomea/3.1.0/xsd/3.1.0", 64,
			[]string{"Aussonderung.Aussonderung.0503"}},
		{"XBeteiligung", "1.2", "https://www.xleitstelle.de/xbeteiligung/12", "xbeteiligung/1.2/Resources/xsd", 69,
			[]string{"kommunal.Aktualisieren.0402", "kommunal.Initiieren.0401"}},
	} {
		p, ok := c.Lookup(want.namespace)
		if !ok {
			t.Errorf("%s %s: namespace %s not loaded", want.standard, want.version, want.namespace)
			continue
		}
		if p.Standard != want.standard || p.Version != want.version || p.Dir != sharedDir(t, "xoev", want.dir) ||
			len(p.MessageTypes) != want.messageTypes {
			t.Errorf("%s %s: got %s %s in %s with %d message types", want.standard, want.version,
				p.Standard, p.Version, p.Dir, len(p.MessageTypes))
		}
		for _, mt := range want.someTypes {
			if !contains(p.MessageTypes, mt) {
				t.Errorf("%s %s: message type %s missing", want.standard, want.version, mt)
			}
		}
	}
	pkgs := c.Packages()
	for i := 1; i < len(pkgs); i++ {
		if lessPackage(pkgs[i], pkgs[i-1]) {
			t.Errorf("packages not sorted: %v before %v", pkgs[i-1], pkgs[i])
		}
	}
	var order []string
	for _, p := range pkgs {
		if p.Standard == "xdomea" {
			order = append(order, p.Version)
		}
	}
	if strings.Join(order, " ") != "2.3.0 2.4.0 3.0.0 3.1.0" {
		t.Errorf("xdomea versions in order %q", order)
	}
}

// TestEveryGlobalElementIsARoot validates a bare element for every message
// type of every package: none may be reported as unknown, not even those
// libxml2 misses when it compiles an entry point (XBau 2.6
// universellerAntrag.antrag.1200 through xbau-baukasten.xsd).
func TestEveryGlobalElementIsARoot(t *testing.T) {
	c := shared(t)
	n := 0
	for _, p := range c.Packages() {
		for _, mt := range p.MessageTypes {
			n++
			r := c.Validate([]byte(`<m:` + mt + ` xmlns:m="` + p.Namespace + `"/>`))
			if r.Outcome == OutcomeUnknownRoot || r.Outcome == OutcomeMalformed || r.Standard != p.Standard {
				t.Errorf("%s %s: %s: %s %q", p.Standard, p.Version, mt, r.Outcome, messages(r))
			}
		}
	}
	if n < 600 {
		t.Errorf("only %d message types", n)
	}
}

// TestVersionsSideBySide checks that the xdomea versions, each with its own
// namespace, validate side by side and each against its own schema.
func TestVersionsSideBySide(t *testing.T) {
	c := shared(t)
	for _, v := range []string{"2.3.0", "2.4.0", "3.0.0"} {
		doc, err := os.ReadFile(sharedDir(t, "xoev", "xdomea", v, "examples", "xdomea_toolkit-patterns", "xx_Aussonderung.Aussonderung.0503.xml"))
		if err != nil {
			t.Fatal(err)
		}
		r := c.Validate(doc)
		if r.Outcome != OutcomeValid || r.Standard != "xdomea" || r.Version != v || r.Namespace != "urn:xoev-de:xdomea:schema:"+v {
			t.Errorf("xdomea %s: %+v", v, r)
		}
		// The same message under the 3.1.0 namespace is checked against 3.1.0.
		other := c.Validate([]byte(strings.ReplaceAll(string(doc), "urn:xoev-de:xdomea:schema:"+v, "urn:xoev-de:xdomea:schema:3.1.0")))
		if other.Version != "3.1.0" || other.Outcome == OutcomeUnknownRoot {
			t.Errorf("xdomea %s as 3.1.0: %s %s", v, other.Version, other.Outcome)
		}
	}
}

// TestLibraryCopies checks the documented rule for namespaces present in
// several directories: the lexicographically smallest directory wins.
func TestLibraryCopies(t *testing.T) {
	c := shared(t)
	for ns, dir := range map[string]string{
		"http://xoev.de/schemata/code/1_0":               "_shared/xoev-bibliothek/from-xbau-2.6-xsd_dev",
		"http://xoev.de/schemata/basisnachricht/g2g/1_1": "_shared/xoev-bibliothek/from-xbau-2.6-xsd_dev",
		"http://www.opengis.net/gml/3.2":                 "xbau/2.6/xsd/xsd_dev",
		"http://www.osci.de/xinneres/datum/2":            "xinneres/xbeteiligung-addon-2023-06-21/Resources/xsd",
	} {
		if p, ok := c.Lookup(ns); !ok || p.Dir != sharedDir(t, "xoev", dir) {
			t.Errorf("%s: got %s, want %s", ns, p.Dir, dir)
		}
	}
	if _, ok := c.Lookup("urn:unbekannt"); ok {
		t.Error("Lookup of an unknown namespace succeeded")
	}
}

// TestLoadTime reports how long compiling all of ../shared/xoev takes. It
// asserts no time (shared machines are noisy); docs/benchmarks.md has figures.
func TestLoadTime(t *testing.T) {
	dir := sharedDir(t, "xoev")
	start := time.Now()
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := time.Since(start)
	t.Logf("Load(%s): %d namespaces, %d compiled, in %v", dir, len(c.Packages()), len(c.known), d)
	if len(c.known) == 0 {
		t.Error("nothing compiled")
	}
}

// TestFileNamesNeedingEscapes compiles schemas whose directory and file
// names contain spaces, umlauts, parentheses, colons, '#' and '%'.
func TestFileNamesNeedingEscapes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "XÖV Schemata (Test) #1")
	schema := func(element, body string) string {
		return `<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:t" targetNamespace="urn:t">` +
			body + `<xs:element name="` + element + `" type="t:Text"/></xs:schema>`
	}
	writeFile(t, dir, "Typen ü (Basis).xsd", `<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t">
		<xs:simpleType name="Text"><xs:restriction base="xs:string"><xs:maxLength value="3"/></xs:restriction></xs:simpleType></xs:schema>`)
	writeFile(t, dir, "Nachrichten: Teil 1.xsd", schema("a", `<xs:include schemaLocation="Typen%20%C3%BC%20(Basis).xsd"/>`))
	writeFile(t, dir, "sub dir/Extra #%.xsd", schema("b", `<xs:include schemaLocation="../Typen%20%C3%BC%20(Basis).xsd"/>`))
	writeFile(t, dir, "Nachrichten: Teil 2.xsd", schema("c", `<xs:include schemaLocation="./Nachrichten:%20Teil%201.xsd"/>`))
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, root := range []string{"a", "c"} {
		if r := c.Validate([]byte(`<t:` + root + ` xmlns:t="urn:t">abcd</t:` + root + `>`)); r.Outcome != OutcomeInvalid ||
			len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "maxLength") {
			t.Errorf("%s: %s %q", root, r.Outcome, messages(r))
		}
	}
	// b lives in another directory of the same namespace: that copy is not
	// the one chosen, as documented.
	if r := c.Validate([]byte(`<t:b xmlns:t="urn:t">abc</t:b>`)); r.Outcome != OutcomeUnknownRoot {
		t.Errorf("b: %s %q", r.Outcome, messages(r))
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(); err == nil {
		t.Error("Load() succeeded")
	}
	if _, err := Load(filepath.Join(t.TempDir(), "fehlt")); err == nil {
		t.Error("Load of a missing directory succeeded")
	}
	dir := t.TempDir()
	writeFile(t, dir, "kaputt.xsd", `<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:k">
<xs:element name="a" type="xs:nichtda"/>
</xs:schema>`)
	writeFile(t, dir, "kein-schema.xsd", `<html/>`)
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), "compiling namespace urn:k") ||
		!strings.Contains(err.Error(), filepath.Join(dir, "kaputt.xsd")) || !strings.Contains(err.Error(), "nichtda") {
		t.Errorf("error %v", err)
	}
	t.Log(err)
}

// TestEntryPointTrap shows the libxml2 behaviour the wrapper schemas work
// around: compiled through xbau-baukasten.xsd, which imports the Kernmodul
// namespace twice, universellerAntrag.antrag.1200 is not declared.
func TestEntryPointTrap(t *testing.T) {
	roots, err := rootDirs([]string{sharedDir(t, "xoev")})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(roots[0], "xbau", "2.6", "xsd", "xsd_dev")
	entry := `<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="http://www.xleitstelle.de/xbau/2/6">
		<xs:include schemaLocation="xbau-baukasten.xsd"/></xs:schema>`
	s, err := compile([]byte(entry), fileURL(filepath.Join(dir, "entry.xsd")).EscapedPath(), &resolver{roots: roots, dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	const kernmodul = "http://www.xleitstelle.de/xbau/kernmodul/1/3/0"
	set := newSchemaSet()
	defer set.free()
	set.add(kernmodul, s)
	doc := []byte(`<k:universellerAntrag.antrag.1200 xmlns:k="` + kernmodul + `"/>`)
	if res := set.validate(doc, -1, DefaultLimits().MaxDepth); !res.unknownRoot {
		t.Errorf("through the entry point: %+v", res)
	}
	if r := shared(t).Validate(doc); r.Outcome != OutcomeInvalid || r.Standard != "XBau-Kernmodul" {
		t.Errorf("through the wrapper: %s %q", r.Outcome, messages(r))
	}
}

// TestLatin1Schema reads the appinfo of a schema file in ISO-8859-1.
func TestLatin1Schema(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "l.xsd", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n"+
		`<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:l"><xs:annotation><xs:appinfo>`+
		"<standard><nameKurz>Gr\xfcn</nameKurz></standard><versionStandard><version>1</version></versionStandard>"+
		`</xs:appinfo></xs:annotation><xs:element name="a"/></xs:schema>`)
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p, _ := c.Lookup("urn:l"); p.Standard != "Grün" || p.Version != "1" {
		t.Errorf("%+v", p)
	}
}
