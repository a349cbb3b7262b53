package schemas

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestCatalogResolution(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "catalog.xml", `<?xml version="1.0"?>
<!DOCTYPE catalog PUBLIC "-//OASIS//DTD XML Catalogs V1.1//EN" "http://www.oasis-open.org/committees/entity/release/1.1/catalog.dtd">
<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
  <system systemId="http://example.org/sys.xsd" uri="local/sys.xsd"/>
  <uri name="http://example.org/uri.xsd" uri="local/uri.xsd"/>
  <uri name="http://example.org/both.xsd" uri="local/both-uri.xsd"/>
  <system systemId="http://example.org/both.xsd" uri="local/both-system.xsd"/>
  <rewriteURI uriStartString="http://example.org/lib/" rewritePrefix="lib/"/>
  <rewriteURI uriStartString="http://example.org/lib/deep/" rewritePrefix="deeper/"/>
  <rewriteSystem systemIdStartString="https://example.org/s/" rewritePrefix="sys/"/>
  <uriSuffix uriSuffix="/suffix.xsd" uri="by-suffix.xsd"/>
  <systemSuffix systemIdSuffix="/ssuffix.xsd" uri="by-system-suffix.xsd"/>
  <group xml:base="grouped/">
    <uri name="http://example.org/grouped.xsd" uri="g.xsd"/>
  </group>
  <uri name="http://example.org/umlaut ä.xsd" uri="local/umlaut.xsd"/>
  <nextCatalog catalog="sub/next.xml"/>
</catalog>`)
	writeFile(t, dir, "sub/next.xml", `<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
  <uri name="http://example.org/next.xsd" uri="n.xsd"/>
  <uri name="http://example.org/uri.xsd" uri="shadowed.xsd"/>
  <nextCatalog catalog="../catalog.xml"/>
</catalog>`)
	writeFile(t, dir, "other/catalog.xml", `<catalog xmlns="urn:example:not-oasis"><uri name="x" uri="y"/></catalog>`)
	roots := []string{dir}
	set := catalogSet{}
	for _, p := range []string{filepath.Join(dir, "catalog.xml"), filepath.Join(dir, "other", "catalog.xml")} {
		if err := set.load(p, roots); err != nil {
			t.Fatal(err)
		}
	}
	chain := set.governing(filepath.Join(dir, "a", "b"), roots)
	if len(chain) != 1 || len(set.governing(filepath.Join(dir, "other"), roots)) != 1 {
		t.Fatalf("governing catalogs: %d", len(chain))
	}
	for id, want := range map[string]string{
		"http://example.org/sys.xsd":             "local/sys.xsd",
		"http://example.org/uri.xsd":             "local/uri.xsd",
		"http://example.org/both.xsd":            "local/both-system.xsd",
		"http://example.org/lib/a/b.xsd":         "lib/a/b.xsd",
		"http://example.org/lib/deep/c.xsd":      "deeper/c.xsd",
		"https://example.org/s/x.xsd":            "sys/x.xsd",
		"http://anything.example/suffix.xsd":     "by-suffix.xsd",
		"http://anything.example/ssuffix.xsd":    "by-system-suffix.xsd",
		"http://example.org/grouped.xsd":         "grouped/g.xsd",
		"http://example.org/next.xsd":            "sub/n.xsd",
		"http://example.org/umlaut%20%c3%a4.xsd": "local/umlaut.xsd",
		"http://example.org/umlaut ä.xsd":        "local/umlaut.xsd",
	} {
		got, ok := set.resolve(chain, id)
		if !ok {
			t.Errorf("%s: not resolved", id)
			continue
		}
		if p, err := localPath(got); err != nil || p != filepath.Join(dir, want) {
			t.Errorf("%s: got %s (%v), want %s", id, got, err, want)
		}
	}
	if got, ok := set.resolve(chain, "http://example.org/unmapped.xsd"); ok {
		t.Errorf("unmapped URL resolved to %s", got)
	}
}

// TestCatalogCompile compiles a schema whose imports point at a web server
// through catalogs: the catalog of a parent directory maps them, and the
// server is never asked. Without a mapping, compiling fails clearly.
func TestCatalogCompile(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	dir := t.TempDir()
	writeFile(t, dir, "catalog.xml", `<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
  <rewriteURI uriStartString="`+srv.URL+`/lib/" rewritePrefix="cache/lib/"/>
</catalog>`)
	writeFile(t, dir, "cache/lib/types.xsd", `<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:lib">
  <xs:simpleType name="Kurz"><xs:restriction base="xs:string"><xs:maxLength value="2"/></xs:restriction></xs:simpleType>
</xs:schema>`)
	writeFile(t, dir, "std/1.0/std.xsd", `<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:lib="urn:lib" targetNamespace="urn:std">
  <xs:import namespace="urn:lib" schemaLocation="`+srv.URL+`/lib/types.xsd"/>
  <xs:element name="nachricht" type="lib:Kurz"/>
</xs:schema>`)
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r := c.Validate([]byte(`<nachricht xmlns="urn:std">abc</nachricht>`)); r.Outcome != OutcomeInvalid {
		t.Errorf("%s %q", r.Outcome, messages(r))
	}
	if p, _ := c.Lookup("urn:std"); p.Standard != "std" || p.Version != "1.0" {
		t.Errorf("package from directory names: %+v", p)
	}
	// Loading below the catalog's directory leaves the import unmapped.
	_, err = Load(filepath.Join(dir, "std"))
	if err == nil || !strings.Contains(err.Error(), srv.URL+"/lib/types.xsd: no catalog.xml governing") ||
		!strings.Contains(err.Error(), "the network is never used") {
		t.Errorf("error %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d HTTP requests while compiling", n)
	}
}

// TestCatalogRealBundles compiles XWasser and XMeld, which import by
// absolute URL and compile offline only through their catalog.xml.
func TestCatalogRealBundles(t *testing.T) {
	c, err := Load(sharedDir(t, "xoev", "xwasser", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p, ok := c.Lookup("https://gitlab.opencode.de/akdb/xoev/xwasser/-/raw/main/V1_0_0"); !ok || len(p.MessageTypes) != 12 {
		t.Errorf("XWasser: %+v", p)
	}
	r := c.ValidateFile(sharedDir(t, "xoev", "xwasser", "1.0.0", "tests", "quality_report_maximal.xml"))
	if !r.Valid() {
		t.Errorf("%s %q", r.Outcome, messages(r))
	}

	// Without the catalog, the remote imports cannot be resolved.
	_, err = Load(sharedDir(t, "xoev", "xwasser", "1.0.0", "schemas"))
	if err == nil || !strings.Contains(err.Error(), ".xsd: no catalog.xml governing "+sharedDir(t, "xoev", "xwasser", "1.0.0", "schemas", "V1_0_0")) {
		t.Errorf("XWasser without catalog: %v", err)
	}
	// XMeld's catalog maps to the XÖV library in ../../_shared: loading
	// xmeld/26.11 alone must not open files outside it.
	_, err = Load(sharedDir(t, "xoev", "xmeld", "26.11"))
	if err == nil || !strings.Contains(err.Error(), "is outside the configured schema directories") {
		t.Errorf("XMeld alone: %v", err)
	}
	xmeld := shared(t)
	doc := `<x:anmeldung.datenanforderung.0300 xmlns:x="http://www.osci.de/xmeld2611"/>`
	if r := xmeld.Validate([]byte(doc)); r.Outcome != OutcomeInvalid || r.Standard != "XMeld" || len(r.Errors) == 0 {
		t.Errorf("XMeld: %s %q", r.Outcome, messages(r))
	}
}
