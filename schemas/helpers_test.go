package schemas

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The catalog of ../shared/xoev, loaded once and shared by the tests.
var (
	sharedOnce    sync.Once
	sharedCatalog *Catalog
	sharedErr     error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedCatalog != nil {
		sharedCatalog.Close()
	}
	os.Exit(code)
}

// sharedDir returns <repo root>/../shared/<sub>, or skips the test when the
// reference data is missing (CI always has it).
func sharedDir(t testing.TB, sub ...string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
	p := filepath.Join(append([]string{dir, "..", "shared"}, sub...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("reference data %s is missing (expected beside the repository root): %v", p, err)
	}
	// The catalog reports real paths; ../shared may be a link.
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	return p
}

// shared returns the catalog of all schemas in ../shared/xoev.
func shared(t testing.TB) *Catalog {
	t.Helper()
	dir := sharedDir(t, "xoev")
	sharedOnce.Do(func() { sharedCatalog, sharedErr = Load(dir) })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedCatalog
}

// quality returns a catalog of the test schema in testdata/quality.
func quality(t testing.TB) *Catalog {
	t.Helper()
	c, err := Load("testdata/quality")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

const qualityNS = "urn:drehscheibe:test:quality"

// realMessages lists the real message instances in ../shared/xoev: the .xml
// files below a tests or examples directory, without catalogs and code lists.
func realMessages(t testing.TB) []string {
	t.Helper()
	root := sharedDir(t, "xoev")
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".xml" || d.Name() == "catalog.xml" {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		segs := strings.Split(filepath.ToSlash(rel), "/")
		instance := false
		for _, s := range segs[:len(segs)-1] {
			if strings.Contains(s, "codelists") {
				return nil
			}
			instance = instance || s == "tests" || s == "examples"
		}
		if instance {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeFile writes content to dir/name, creating directories.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// messages returns the messages of a report's issues.
func messages(r *Report) []string {
	var out []string
	for _, is := range r.Errors {
		out = append(out, is.Message)
	}
	return out
}
