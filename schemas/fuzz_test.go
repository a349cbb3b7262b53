package schemas

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// The demo catalog, loaded once for the fuzz target.
var (
	demoOnce    sync.Once
	demoCatalog *Catalog
	demoErr     error
)

// maxSeed keeps large documents out of the seed corpus.
const maxSeed = 64 << 10

// fuzzSeeds returns the examples of the repository, the real messages of
// ../shared/xoev (read now, skipped when missing) and the bodies of
// test/hostile/cases, each at most maxSeed bytes.
func fuzzSeeds(t testing.TB) [][]byte {
	root := filepath.Join("..")
	var out [][]byte
	walk := func(dir, suffix string) {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, suffix) {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil || len(b) > maxSeed {
				return nil
			}
			if suffix == ".case" {
				_, b, _ = bytes.Cut(b, []byte("\n\n"))
			}
			out = append(out, b)
			return nil
		})
	}
	walk(filepath.Join(root, "examples"), ".xml")
	walk(filepath.Join(root, "test", "hostile", "cases"), ".case")
	if _, err := os.Stat(filepath.Join(root, "..", "shared", "xoev")); err == nil {
		for _, f := range realMessages(t) {
			if b, err := os.ReadFile(f); err == nil && len(b) <= maxSeed {
				out = append(out, b)
			}
		}
	}
	return out
}

// FuzzValidate validates arbitrary documents against the demo standard. It
// checks that nothing panics or crashes in libxml2, that every verdict is
// one of the outcomes with the issues it promises, and that the scanner's
// verdict does not depend on where the document is cut into pieces (as
// ValidateFile reads it).
func FuzzValidate(f *testing.F) {
	for _, doc := range fuzzSeeds(f) {
		f.Add(doc, uint16(len(doc)/2))
	}
	f.Fuzz(func(t *testing.T, doc []byte, cut uint16) {
		demoOnce.Do(func() { demoCatalog, demoErr = Load(filepath.Join("demo")) })
		if demoErr != nil {
			t.Fatal(demoErr)
		}
		r := demoCatalog.Validate(doc)
		switch r.Outcome {
		case OutcomeValid:
			for _, is := range r.Errors {
				if is.Level != "warning" {
					t.Fatalf("valid with %+v", is)
				}
			}
		case OutcomeMalformed, OutcomeInvalid, OutcomeUnknownRoot, OutcomeForbidden:
			if len(r.Errors) == 0 {
				t.Fatalf("%s without an issue", r.Outcome)
			}
		default:
			t.Fatalf("outcome %q", r.Outcome)
		}
		if r.Limit != nil && r.Outcome != OutcomeForbidden {
			t.Fatalf("limit %+v on %s", r.Limit, r.Outcome)
		}

		k := int(cut) % (len(doc) + 1)
		whole := scan(doc, demoCatalog.Limits())
		s := newScanner(demoCatalog.Limits())
		pieces := s.feed(doc[:k])
		if pieces == nil {
			pieces = s.feed(doc[k:])
		}
		if pieces == nil {
			pieces = s.end()
		}
		if pieces != nil {
			s.locate(pieces, bytes.NewReader(doc))
		}
		if !reflect.DeepEqual(whole, pieces) {
			t.Fatalf("whole %+v, cut at %d %+v", whole, k, pieces)
		}
	})
}
