package identify

import (
	"github.com/drehscheibe/drehscheibe/test/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// TestExamplesAgainstSchemas checks with xmllint that the example messages in
// examples/ are what examples/README.md says they are: valid, or invalid with
// errors on the documented lines. The gateway's own validator is tested in
// the schemas package; this test guards the examples themselves.
func TestExamplesAgainstSchemas(t *testing.T) {
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skip("xmllint not installed (Debian: apt-get install libxml2-utils)")
	}
	root := testenv.RepoRoot(t)
	demo := filepath.Join(root, "schemas", "demo", "demo-1.0", "demo-nachrichten.xsd")
	tests := []struct {
		file   string
		schema string // absolute, or relative to ../shared/xoev
		lines  []int  // lines with errors; nil: the file validates
	}{
		{"examples/demo/antrag-valid.xml", demo, nil},
		{"examples/demo/antrag-test.xml", demo, nil},
		{"examples/demo/quittung-valid.xml", demo, nil},
		{"examples/demo/antrag-invalid.xml", demo, []int{27, 34, 38}},
		{"examples/demo/antrag-malformed.xml", demo, []int{32}},
		{"examples/xmeld/anmeldung.datenanforderung.0300.xml", "xmeld", nil},
		{"examples/xmeld/anmeldung.datenanforderung.0300-invalid.xml", "xmeld", []int{40, 64, 74}},
		{"examples/xmeld/onlinedienste.abrufanfrage.vorausgefuellterMeldeschein.1702.xml", "xmeld", nil},
		{"examples/xmeld/onlinedienste.abrufanfrage.vorausgefuellterMeldeschein.1702-test.xml", "xmeld", nil},
	}
	errLine := regexp.MustCompile(`(?m)^[^\n]*?\.xml:(\d+): (?:element [^:]+: Schemas validity error|parser error)`)
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			schema, env := tt.schema, os.Environ()
			if schema == "xmeld" {
				dir := filepath.Join(sharedXOEV(t), "xmeld", "26.11")
				schema = filepath.Join(dir, "xsd", "xinneres.xmeld.xsd")
				env = append(env, "XML_CATALOG_FILES="+filepath.Join(dir, "catalog.xml"))
			}
			cmd := exec.Command("xmllint", "--nonet", "--noout", "--schema", schema, filepath.Join(root, tt.file))
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			var got []int
			for _, m := range errLine.FindAllStringSubmatch(string(out), -1) {
				n, _ := strconv.Atoi(m[1])
				got = append(got, n)
			}
			switch {
			case tt.lines == nil && err != nil:
				t.Errorf("does not validate: %v\n%s", err, out)
			case tt.lines != nil && err == nil:
				t.Errorf("validates, but should fail on lines %v", tt.lines)
			case !slices.Equal(got, tt.lines):
				t.Errorf("errors on lines %v, want %v\n%s", got, tt.lines, out)
			}
		})
	}
}
