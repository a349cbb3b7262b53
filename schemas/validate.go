package schemas

import (
	"io"
	"os"
	"runtime"
)

// Outcome is the verdict on one document.
type Outcome string

// The outcomes of a validation, from the first check that fails.
const (
	// OutcomeValid means the document is valid against the schema of its
	// root element's namespace.
	OutcomeValid Outcome = "valid"
	// OutcomeMalformed means the document is not well-formed XML (or not
	// namespace-well-formed); its issues carry line and column.
	OutcomeMalformed Outcome = "malformed"
	// OutcomeInvalid means the document violates its schema.
	OutcomeInvalid Outcome = "invalid"
	// OutcomeUnknownRoot means no schema is loaded for the root element's
	// namespace, or the namespace is loaded but declares no global element
	// of that name.
	OutcomeUnknownRoot Outcome = "unknown-root"
	// OutcomeForbidden means the document was refused before validation:
	// it has a document type declaration (and with it entity declarations),
	// or it exceeds one of the Catalog's Limits (Report.Limit names it).
	OutcomeForbidden Outcome = "forbidden"
)

// Report is the result of validating one document.
type Report struct {
	Outcome Outcome `json:"outcome"`
	// Namespace and Root name the root element; both are empty if the
	// parser did not reach it.
	Namespace string `json:"namespace,omitempty"`
	Root      string `json:"root,omitempty"`
	// Standard and Version are those of the package of Namespace, if any.
	Standard string `json:"standard,omitempty"`
	Version  string `json:"version,omitempty"`
	// Errors lists every diagnostic in document order, never capped. A
	// valid document may carry warnings.
	Errors []Issue `json:"errors"`
	// Known lists, for OutcomeUnknownRoot, the namespaces that have message
	// types, so the user sees what is loaded.
	Known []string `json:"known,omitempty"`
	// Limit names the limit an OutcomeForbidden document exceeded; it is
	// nil for any other outcome and for a document type declaration.
	Limit *LimitHit `json:"limit,omitempty"`
}

// Issue is one diagnostic. For schema violations Line and Column locate the
// end of the start tag of the element concerned (libxml2 reports the same
// line); for well-formedness errors, the position where the parser stopped.
type Issue struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Level   string `json:"level"` // "error", "fatal" or "warning"
	Message string `json:"message"`
	// schema marks findings about the schema rather than the XML itself.
	schema bool
}

// Valid reports whether the outcome is OutcomeValid.
func (r *Report) Valid() bool {
	return r.Outcome == OutcomeValid
}

// Validate validates doc against the schema of its root element's namespace;
// xsi:schemaLocation is ignored. It is safe for concurrent use: all
// goroutines share one compiled schema per namespace. doc is parsed in place,
// streaming, without building a tree. A document type declaration, an
// encoding other than UTF-8, UTF-16, US-ASCII, ISO-8859-1, ISO-8859-15 and
// Windows-1252, and anything beyond the Limits are refused before libxml2
// reads the markup concerned.
func (c *Catalog) Validate(doc []byte) *Report {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if r := scan(doc, c.limits); r != nil {
		return r
	}
	return c.report(c.schemas().validate(doc, -1, c.limits.MaxDepth))
}

// ValidateFile validates the file at path like Validate, streaming it from
// disk. A file that cannot be read is reported as malformed, the I/O error
// being its only issue.
func (c *Catalog) ValidateFile(path string) *Report {
	f, err := os.Open(path)
	if err != nil {
		return ioReport(err)
	}
	defer f.Close()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if r := scanFile(f, c.limits); r != nil {
		return r
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return ioReport(err)
	}
	res := c.schemas().validate(nil, int(f.Fd()), c.limits.MaxDepth)
	runtime.KeepAlive(f)
	return c.report(res)
}

// scanFile runs the scanner over a whole file; an I/O error is reported
// as malformed.
func scanFile(f *os.File, l Limits) *Report {
	s := newScanner(l)
	buf := make([]byte, 256<<10)
	var r *Report
	for r == nil {
		n, err := f.Read(buf)
		if n > 0 {
			r = s.feed(buf[:n])
		}
		if r == nil && err == io.EOF {
			if r = s.end(); r == nil {
				return nil
			}
		} else if r == nil && err != nil {
			return ioReport(err)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err == nil {
		s.locate(r, f)
	}
	return r
}

func (c *Catalog) schemas() *schemaSet {
	if c.set == nil {
		panic("schemas: Catalog used after Close")
	}
	return c.set
}

func (c *Catalog) report(res result) *Report {
	r := &Report{Namespace: res.namespace, Root: res.root, Errors: res.issues}
	switch {
	case res.forbidden:
		r.Outcome = OutcomeForbidden
		// Schema findings made before the refusal would hide its reason.
		r.Errors = wellFormednessOnly(r.Errors)
		if res.depthExceeded {
			r.Limit = &LimitHit{Name: LimitDepth, Value: c.limits.MaxDepth}
		}
	case res.malformed:
		r.Outcome = OutcomeMalformed
		// Schema findings made before the parser gave up only distract from
		// what makes the document unreadable.
		r.Errors = wellFormednessOnly(r.Errors)
	case res.unknownRoot:
		r.Outcome = OutcomeUnknownRoot
		r.Known = append([]string{}, c.known...)
	case res.invalid:
		r.Outcome = OutcomeInvalid
	default:
		r.Outcome = OutcomeValid
	}
	if i, ok := c.byNS[r.Namespace]; ok && r.Namespace != "" {
		r.Standard, r.Version = c.packages[i].Standard, c.packages[i].Version
	}
	if r.Errors == nil {
		r.Errors = []Issue{}
	}
	for i := range r.Errors {
		r.Errors[i].schema = false // only needed above; keeps Issues comparable by value
	}
	return r
}

func ioReport(err error) *Report {
	return &Report{Outcome: OutcomeMalformed, Errors: []Issue{{Level: "fatal", Message: err.Error()}}}
}

func wellFormednessOnly(issues []Issue) []Issue {
	out := issues[:0]
	for _, is := range issues {
		if !is.schema {
			out = append(out, is)
		}
	}
	return out
}
