package identify

import (
	"bytes"
	"errors"
	"github.com/drehscheibe/drehscheibe/test/testenv"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxSeed keeps large documents out of the seed corpus: the fuzzer mutates
// small inputs faster, and the large ones add no new structure.
const maxSeed = 64 << 10

// seedDocs returns the documents that seed the fuzz targets: the examples
// of the repository, the real messages of ../shared/xoev (read now, skipped
// when missing, never copied) and the bodies of test/hostile/cases.
func seedDocs(t testing.TB) [][]byte {
	root := testenv.RepoRoot(t)
	var out [][]byte
	add := func(b []byte) {
		if len(b) <= maxSeed {
			out = append(out, b)
		}
	}
	walk := func(dir string, want func(path string) bool) {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !want(p) {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil {
				add(b)
			}
			return nil
		})
	}
	isXML := func(p string) bool { return strings.HasSuffix(p, ".xml") }
	walk(filepath.Join(root, "examples"), isXML)
	if shared := filepath.Join(root, "..", "shared", "xoev"); dirExists(shared) {
		for _, f := range realMessages(t, shared) {
			if b, err := os.ReadFile(f); err == nil {
				add(b)
			}
		}
	}
	walk(filepath.Join(root, "test", "hostile", "cases"), func(p string) bool {
		return strings.HasSuffix(p, ".case")
	})
	// Case files carry a header; the body follows the first empty line.
	for i, b := range out {
		if _, body, ok := bytes.Cut(b, []byte("\n\n")); ok && bytes.HasPrefix(b, []byte("about: ")) {
			out[i] = body
		}
	}
	return out
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// FuzzIdentify checks that Identify never panics, that every error is a
// *SyntaxError with a position, and that facts name the root.
func FuzzIdentify(f *testing.F) {
	for _, doc := range seedDocs(f) {
		f.Add(doc)
	}
	f.Add([]byte(g2gQualified))
	f.Add([]byte(`<r test="1"><Kopf><Absender><Behoerdenkennung><Kennung><code>k</code></Kennung></Behoerdenkennung></Absender></Kopf></r>`))
	f.Add([]byte(`<!DOCTYPE r><r/>`))
	f.Add([]byte{0xFF, 0xFE, '<', 0, 'r', 0, '/', 0, '>', 0})
	f.Fuzz(func(t *testing.T, doc []byte) {
		facts, err := Identify(doc)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 || se.Msg == "" {
				t.Fatalf("error %#v is no *SyntaxError with a position", err)
			}
			return
		}
		if facts.MessageType == "" {
			t.Fatalf("no error, but no message type: %+v", facts)
		}
	})
}
