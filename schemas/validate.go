package schemas

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"unicode/utf8"
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
	// or its elements nest deeper than 256 levels.
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
// streaming, without building a tree.
func (c *Catalog) Validate(doc []byte) *Report {
	if r := checkProlog(doc, true); r != nil {
		return r
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.report(c.schemas().validate(doc, -1))
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
	head := make([]byte, 8<<10)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return ioReport(err)
	}
	if r := checkProlog(head[:n], n < len(head)); r != nil {
		return r
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return ioReport(err)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	res := c.schemas().validate(nil, int(f.Fd()))
	runtime.KeepAlive(f)
	return c.report(res)
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

// checkProlog scans the prolog of an ASCII-compatible document. It refuses a
// document type declaration before libxml2 sees it, and with it any entity
// declaration; documents in other encodings, or whose prolog is longer than
// doc, reach libxml2, which stops at the DOCTYPE before its internal subset.
// When doc is the complete document, checkProlog also reports a document
// without any element, which libxml2's push parser describes poorly.
func checkProlog(doc []byte, complete bool) *Report {
	i := 0
	if bytes.HasPrefix(doc, []byte("\xef\xbb\xbf")) {
		i = 3
	}
	for i < len(doc) {
		rest := doc[i:]
		switch {
		case rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r':
			i++
		case bytes.HasPrefix(rest, []byte("<!--")):
			end := bytes.Index(rest[4:], []byte("-->"))
			if end < 0 {
				return nil
			}
			i += 4 + end + 3
		case bytes.HasPrefix(rest, []byte("<?")):
			end := bytes.Index(rest, []byte("?>"))
			if end < 0 {
				return nil
			}
			i += end + 2
		case bytes.HasPrefix(rest, []byte("<!DOCTYPE")):
			line, col := position(doc, i)
			return &Report{Outcome: OutcomeForbidden, Errors: []Issue{{
				Line: line, Column: col, Level: "fatal",
				Message: "document type declarations (DOCTYPE) are not allowed",
			}}}
		default:
			return nil
		}
	}
	if !complete {
		return nil
	}
	line, col := position(doc, len(doc))
	return &Report{Outcome: OutcomeMalformed, Errors: []Issue{{
		Line: line, Column: col, Level: "fatal", Message: "Document is empty",
	}}}
}

// position returns the 1-based line and column of byte offset off.
func position(doc []byte, off int) (line, col int) {
	before := doc[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	if nl := bytes.LastIndexByte(before, '\n'); nl >= 0 {
		before = before[nl+1:]
	}
	return line, 1 + utf8.RuneCount(before)
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
