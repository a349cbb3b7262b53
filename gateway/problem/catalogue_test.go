package problem

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// problemsDoc is the user documentation of the catalogue, relative to this package.
const problemsDoc = "../../docs/problems.md"

// slugPattern is the form of a slug: it is also the GitHub anchor of its heading,
// so BaseURI+slug resolves to the section.
var slugPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// docSection is one "## <heading>" section of docs/problems.md.
type docSection struct {
	heading string
	line    int
	body    string
}

// readSections splits the document into its level-2 sections, skipping fenced code blocks.
func readSections(t *testing.T, path string) []docSection {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var (
		out     []docSection
		cur     *docSection
		body    strings.Builder
		inFence bool
	)
	flush := func() {
		if cur != nil {
			cur.body = body.String()
			out = append(out, *cur)
		}
		body.Reset()
	}
	for i, ln := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(ln), "```") {
			inFence = !inFence
		}
		if !inFence && strings.HasPrefix(ln, "## ") {
			flush()
			cur = &docSection{heading: strings.TrimSpace(strings.TrimPrefix(ln, "## ")), line: i + 1}
			continue
		}
		body.WriteString(ln)
		body.WriteByte('\n')
	}
	flush()
	return out
}

// field returns the value of a "- **Name:** value" line of a section.
func (s docSection) field(name string) (string, bool) {
	prefix := "- **" + name + ":**"
	for _, ln := range strings.Split(s.body, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(ln), prefix); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// squash collapses runs of white space, so that a wrapped paragraph compares
// equal to the one-line Doc text of the catalogue.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// TestCatalogueDocumented keeps docs/problems.md in step with the catalogue:
// every type has its "## <slug>" section, in catalogue order, with its status,
// title, type URI and Doc text; and the document has no section for a slug
// that the catalogue does not know.
func TestCatalogueDocumented(t *testing.T) {
	sections := readSections(t, problemsDoc)
	bySlug := map[string]docSection{}
	var order []string
	for _, s := range sections {
		if !slugPattern.MatchString(s.heading) {
			continue // a prose section such as "## The problem document"
		}
		if prev, dup := bySlug[s.heading]; dup {
			t.Errorf("%s:%d: second section ## %s (first at line %d)", problemsDoc, s.line, s.heading, prev.line)
		}
		bySlug[s.heading] = s
		order = append(order, s.heading)
	}

	known := map[string]bool{}
	var want []string
	for _, typ := range Catalogue {
		known[typ.Slug] = true
		want = append(want, typ.Slug)
		s, ok := bySlug[typ.Slug]
		if !ok {
			t.Errorf("%s has no section \"## %s\" for %q (%d %s)", problemsDoc, typ.Slug, typ.Title, typ.Status, http.StatusText(typ.Status))
			continue
		}
		status, ok := s.field("Status")
		switch {
		case !ok:
			t.Errorf("%s:%d: ## %s has no \"- **Status:**\" line", problemsDoc, s.line, typ.Slug)
		case status != strconv.Itoa(typ.Status)+" "+http.StatusText(typ.Status):
			t.Errorf("%s:%d: ## %s: status %q, the catalogue says \"%d %s\"", problemsDoc, s.line, typ.Slug, status, typ.Status, http.StatusText(typ.Status))
		}
		title, ok := s.field("Title")
		switch {
		case !ok:
			t.Errorf("%s:%d: ## %s has no \"- **Title:**\" line", problemsDoc, s.line, typ.Slug)
		case title != typ.Title:
			t.Errorf("%s:%d: ## %s: title %q, the catalogue says %q", problemsDoc, s.line, typ.Slug, title, typ.Title)
		}
		uri, ok := s.field("Type")
		switch {
		case !ok:
			t.Errorf("%s:%d: ## %s has no \"- **Type:**\" line", problemsDoc, s.line, typ.Slug)
		case uri != "`"+typ.URI()+"`":
			t.Errorf("%s:%d: ## %s: type %s, want `%s`", problemsDoc, s.line, typ.Slug, uri, typ.URI())
		}
		if !strings.Contains(squash(s.body), squash(typ.Doc)) {
			t.Errorf("%s:%d: ## %s does not quote the catalogue's Doc text:\n%s", problemsDoc, s.line, typ.Slug, typ.Doc)
		}
	}
	for _, slug := range order {
		if !known[slug] {
			t.Errorf("%s:%d: section ## %s documents a problem type the catalogue does not have", problemsDoc, bySlug[slug].line, slug)
		}
	}
	if !t.Failed() && strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("%s: sections are in the order\n  %v\nthe catalogue's order is\n  %v", problemsDoc, order, want)
	}
}

// TestCatalogueWellFormed checks the entries themselves: unique slugs that are
// valid anchors, error statuses, titles and docs present.
func TestCatalogueWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, typ := range Catalogue {
		if !slugPattern.MatchString(typ.Slug) {
			t.Errorf("slug %q is not lower-case words joined by hyphens (it must be its own anchor)", typ.Slug)
		}
		if seen[typ.Slug] {
			t.Errorf("slug %q appears twice in Catalogue", typ.Slug)
		}
		seen[typ.Slug] = true
		if typ.Status < 400 || typ.Status > 599 || http.StatusText(typ.Status) == "" {
			t.Errorf("%s: status %d is not an HTTP error status", typ.Slug, typ.Status)
		}
		if strings.TrimSpace(typ.Title) == "" || strings.TrimSpace(typ.Doc) == "" {
			t.Errorf("%s: title and doc are required", typ.Slug)
		}
		if got, want := typ.URI(), BaseURI+typ.Slug; got != want {
			t.Errorf("%s: URI %q, want %q", typ.Slug, got, want)
		}
	}
}

// TestCatalogueListsEveryType finds every Type literal declared in
// catalogue.go and checks that Catalogue lists it, so that a type added to the
// file but not to the list (and so not to the documentation test) is caught.
func TestCatalogueListsEveryType(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "catalogue.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, typ := range Catalogue {
		listed[typ.Slug] = true
	}
	declared := 0
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.CompositeLit)
		if !ok {
			return true
		}
		if id, ok := lit.Type.(*ast.Ident); !ok || id.Name != "Type" || len(lit.Elts) == 0 {
			return true
		}
		bl, ok := lit.Elts[0].(*ast.BasicLit)
		if !ok || bl.Kind != token.STRING {
			return true
		}
		slug, err := strconv.Unquote(bl.Value)
		if err != nil {
			t.Fatal(err)
		}
		declared++
		if !listed[slug] {
			t.Errorf("catalogue.go declares the type %q but Catalogue does not list it", slug)
		}
		return true
	})
	if declared != len(Catalogue) {
		t.Errorf("catalogue.go declares %d types, Catalogue lists %d", declared, len(Catalogue))
	}
}

// decode renders p and reads the JSON back as a generic object.
func decode(t *testing.T, p *Problem) map[string]any {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("the rendering is not a JSON object: %v\n%s", err, b)
	}
	return m
}

// TestProblemJSON checks the RFC 9457 rendering: the standard members come
// from the catalogue, the extension members are kept as given, and an
// extension member cannot overwrite a standard one.
func TestProblemJSON(t *testing.T) {
	type lineError struct {
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Level   string `json:"level"`
		Message string `json:"message"`
	}
	p := New(SchemaViolation, "the message violates the %s %s schema (%d errors)", "XMeld", "26.11", 2).
		With("errors", []lineError{
			{Line: 9, Column: 0, Level: "error", Message: "Element 'nachrichtenUUID': not a valid value"},
			{Line: 31, Column: 0, Level: "error", Message: "Element 'geburtsdatum': This element is not expected."},
		}).
		With("request_id", "req-1").
		With("type", "https://example.org/forged").
		With("status", 200)
	m := decode(t, p)

	if got, want := m["type"], BaseURI+"schema-violation"; got != want {
		t.Errorf("type = %v, want %s", got, want)
	}
	if got := m["title"]; got != "Schema violation" {
		t.Errorf("title = %v, want %q", got, "Schema violation")
	}
	if got := m["status"]; got != float64(http.StatusUnprocessableEntity) {
		t.Errorf("status = %v, want 422", got)
	}
	if got, want := m["detail"], "the message violates the XMeld 26.11 schema (2 errors)"; got != want {
		t.Errorf("detail = %v, want %q", got, want)
	}
	if got := m["request_id"]; got != "req-1" {
		t.Errorf("request_id = %v, want req-1", got)
	}
	errs, ok := m["errors"].([]any)
	if !ok || len(errs) != 2 {
		t.Fatalf("errors = %#v, want an array of 2", m["errors"])
	}
	first, _ := errs[0].(map[string]any)
	if first["line"] != float64(9) || first["column"] != float64(0) || first["level"] != "error" ||
		first["message"] != "Element 'nachrichtenUUID': not a valid value" {
		t.Errorf("errors[0] = %v", first)
	}
	if second, _ := errs[1].(map[string]any); second["line"] != float64(31) {
		t.Errorf("errors[1].line = %v, want 31", second["line"])
	}

	// Without a detail the member is left out rather than written empty.
	m = decode(t, New(Internal, ""))
	if _, ok := m["detail"]; ok {
		t.Errorf("empty detail rendered as %q; want it left out", m["detail"])
	}
	if m["status"] != float64(500) || m["type"] != BaseURI+"internal-error" {
		t.Errorf("internal error rendered as %v", m)
	}

	if got, want := p.Error(), "schema-violation: the message violates the XMeld 26.11 schema (2 errors)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestProblemWrite checks the HTTP side: status, content type, and instance.
func TestProblemWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	New(NoRoute, "no rule matches reader %q", "ags:09162000").
		With("facts", map[string]any{"reader": "ags:09162000", "message_type": "onlinedienste.anmeldung.meldeschein.1704"}).
		Write(rec, "/v1/submissions")

	if rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("status code %d, want 422", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, rec.Body)
	}
	if m["instance"] != "/v1/submissions" {
		t.Errorf("instance = %v, want the request path", m["instance"])
	}
	if m["type"] != BaseURI+"no-route" || m["status"] != float64(422) || m["title"] != NoRoute.Title {
		t.Errorf("standard members wrong: %v", m)
	}
	facts, _ := m["facts"].(map[string]any)
	if facts["reader"] != "ags:09162000" {
		t.Errorf("facts = %v", m["facts"])
	}

	// An instance set by the caller is kept.
	rec = httptest.NewRecorder()
	New(NotFound, "no submission").With("instance", "/v1/submissions/x").Write(rec, "/other")
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["instance"] != "/v1/submissions/x" || rec.Code != http.StatusNotFound {
		t.Errorf("instance = %v, code %d; want the caller's instance and 404", m["instance"], rec.Code)
	}
}
