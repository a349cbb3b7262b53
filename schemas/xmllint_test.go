package schemas

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// xmllintSchema is what xmllint needs to validate against the schema this
// package compiles for one namespace: the wrapper schema written to a file,
// and the catalogs to use.
type xmllintSchema struct {
	path     string
	catalogs string // for XML_CATALOG_FILES
}

// xmllintSchemas writes the wrapper schema of every namespace under root
// into a temporary directory, exactly as Load compiles them.
func xmllintSchemas(t testing.TB, root string) map[string]xmllintSchema {
	t.Helper()
	roots, err := rootDirs([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	xsds, catalogFiles, err := walk(roots)
	if err != nil {
		t.Fatal(err)
	}
	catalogs := catalogSet{}
	for _, p := range catalogFiles {
		if err := catalogs.load(p, roots); err != nil {
			t.Fatal(err)
		}
	}
	files, err := readXSDs(xsds)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	out := map[string]xmllintSchema{}
	for i, g := range chooseGroups(files, roots) {
		var chain []string
		for _, c := range catalogs.governing(g.dir, roots) {
			chain = append(chain, c.path)
		}
		p := filepath.Join(tmp, fmt.Sprintf("wrapper-%02d.xsd", i))
		if err := os.WriteFile(p, g.wrapper(), 0o644); err != nil {
			t.Fatal(err)
		}
		out[g.namespace] = xmllintSchema{p, strings.Join(chain, " ")}
	}
	return out
}

// xmllint runs xmllint --nonet --noout with extra arguments and returns its
// exit code and stderr.
func (s xmllintSchema) xmllint(args ...string) (int, string, error) {
	cmd := exec.Command("xmllint", append([]string{"--nonet", "--noout", "--schema", s.path}, args...)...)
	cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+s.catalogs)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), stderr.String(), nil
	}
	return 0, stderr.String(), err
}

var xmllintValidityError = regexp.MustCompile(`(?m)^.*:(\d+): element [^:]*: Schemas validity error : (.*)$`)

// TestRealMessagesAgreeWithXmllint checks every real message against
// xmllint, given the same wrapper schemas and catalogs: the verdicts agree,
// and for invalid messages so do the lines and texts of the errors.
func TestRealMessagesAgreeWithXmllint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs xmllint once per message")
	}
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skip("xmllint is not on PATH")
	}
	c := shared(t)
	root := sharedDir(t, "xoev")
	lint := xmllintSchemas(t, root)
	for _, f := range realMessages(t) {
		rel, _ := filepath.Rel(root, f)
		t.Run(rel, func(t *testing.T) {
			r := c.ValidateFile(f)
			s, ok := lint[r.Namespace]
			if !ok {
				t.Fatalf("no schema for %q", r.Namespace)
			}
			code, stderr, err := s.xmllint(f)
			if err != nil {
				t.Fatal(err)
			}
			want := map[int]Outcome{0: OutcomeValid, 3: OutcomeInvalid}[code]
			if r.Outcome != want {
				t.Fatalf("outcome %s, xmllint exit %d:\n%s", r.Outcome, code, stderr)
			}
			var ours, theirs []string
			for _, is := range r.Errors {
				ours = append(ours, strconv.Itoa(is.Line)+": "+is.Message)
			}
			for _, m := range xmllintValidityError.FindAllStringSubmatch(stderr, -1) {
				theirs = append(theirs, m[1]+": "+m[2])
			}
			sort.Strings(ours)
			sort.Strings(theirs)
			if strings.Join(ours, "\n") != strings.Join(theirs, "\n") {
				t.Errorf("errors differ\nours:\n%s\nxmllint:\n%s", strings.Join(ours, "\n"), strings.Join(theirs, "\n"))
			}
		})
	}
}
