package identify

import (
	"bytes"
	"flag"
	"fmt"
	"github.com/drehscheibe/drehscheibe/test/testenv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sharedXOEV returns <root>/../shared/xoev, or skips the test without it.
func sharedXOEV(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(testenv.RepoRoot(t), "..", "shared", "xoev")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("real XÖV data not available: %v", err)
	}
	return dir
}

// realMessages lists every real message below dir: the XML files in a folder
// named tests or examples (XWasser tests/, XBeteiligung tests/res/, xdomea
// examples/), but no code lists and no catalogs.
func realMessages(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".xml") {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if slices.Contains(parts, "tests") || slices.Contains(parts, "examples") {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

// formatFacts renders facts (including the fields hidden from JSON) one per
// line, for golden files that a person can review.
func formatFacts(f Facts, err error) string {
	var b strings.Builder
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
		return b.String()
	}
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-20s %s\n", k+":", strconv.Quote(v))
		}
	}
	line("namespace", f.Namespace)
	line("message_type", f.MessageType)
	line("standard_attr", f.StandardAttr)
	line("version_attr", f.VersionAttr)
	line("test_attr", f.TestAttr)
	fmt.Fprintf(&b, "%-20s %t\n", "test:", f.Test)
	line("produkt", f.Produkt)
	line("produkthersteller", f.Produkthersteller)
	line("produktversion", f.Produktversion)
	line("nachrichten_uuid", f.NachrichtenUUID)
	line("nachrichtentyp_code", f.NachrichtentypCode)
	line("prozess_id", f.ProzessID)
	line("author", f.Author)
	line("author_name", f.AuthorName)
	line("reader", f.Reader)
	line("reader_name", f.ReaderName)
	line("standard", f.Standard)
	line("version", f.Version)
	line("service", f.Service)
	line("reply_to", f.ReplyTo)
	return b.String()
}

// checkGolden compares the facts of each file with a golden file.
func checkGolden(t *testing.T, golden, dir string, files []string) {
	t.Helper()
	var got bytes.Buffer
	for _, rel := range files {
		doc, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		f, err := Identify(doc)
		fmt.Fprintf(&got, "== %s\n%s\n", rel, formatFacts(f, err))
	}
	path := filepath.Join("testdata", golden)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got.Bytes(), want) {
		gotBlocks, wantBlocks := blocks(got.String()), blocks(string(want))
		for name, w := range wantBlocks {
			g, ok := gotBlocks[name]
			switch {
			case !ok:
				t.Errorf("%s: in %s but no longer found", name, golden)
			case g != w:
				t.Errorf("%s:\ngot:\n%s\nwant:\n%s", name, g, w)
			}
		}
		for name := range gotBlocks {
			if _, ok := wantBlocks[name]; !ok {
				t.Errorf("%s: found but not in %s", name, golden)
			}
		}
		t.Errorf("facts differ from testdata/%s (after review: go test -run %s -update)", golden, t.Name())
	}
}

// blocks splits a golden file into its per-file blocks.
func blocks(s string) map[string]string {
	m := map[string]string{}
	for _, blk := range strings.Split(s, "== ")[1:] {
		name, body, _ := strings.Cut(blk, "\n")
		m[name] = body
	}
	return m
}

// TestGoldenRealMessages identifies every real message in ../shared/xoev.
func TestGoldenRealMessages(t *testing.T) {
	dir := sharedXOEV(t)
	files := realMessages(t, dir)
	if len(files) < 37 {
		t.Fatalf("found %d real messages, want at least 37: %v", len(files), files)
	}
	checkGolden(t, "facts.golden", dir, files)
}

// TestGoldenExamples identifies the messages the project ships in examples/.
func TestGoldenExamples(t *testing.T) {
	root := testenv.RepoRoot(t)
	var files []string
	err := filepath.WalkDir(filepath.Join(root, "examples"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".xml") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples found in examples/")
	}
	slices.Sort(files)
	checkGolden(t, "examples.golden", root, files)
}
