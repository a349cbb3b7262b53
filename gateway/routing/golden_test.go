package routing

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/drehscheibe/drehscheibe/gateway/config"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/*.txt")

// separator divides the three parts of a golden case: a line of ten or more
// dashes.
var separator = regexp.MustCompile(`(?m)^-{10,}\n`)

// goldenInput is one message of a golden case, in YAML.
type goldenInput struct {
	Namespace   string `yaml:"namespace"`
	Standard    string `yaml:"standard"`
	MessageType string `yaml:"message_type"`
	Reader      string `yaml:"reader"`
	Service     string `yaml:"service"`
	Sender      string `yaml:"sender"`
	Test        bool   `yaml:"test"`
}

// TestGolden runs testdata/*.txt. Each file is a configuration fragment
// (targets and routes, parsed by config.Parse like a real file), a separator
// line, a YAML list of messages, a separator line, and the expected output:
// Explain's report for each message, or the configuration errors if the
// fragment is invalid. Run with -update to rewrite the expected output.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 12 {
		t.Fatalf("found %d golden cases in testdata, want at least 12", len(files))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			parts := separator.Split(string(data), 3)
			if len(parts) != 3 {
				t.Fatalf("%s: want config, inputs and expected output separated by lines of dashes", file)
			}
			got := runCase(t, parts[0], parts[1])
			if *update {
				var out bytes.Buffer
				out.WriteString(parts[0])
				out.WriteString(strings.Repeat("-", 10) + "\n")
				out.WriteString(parts[1])
				out.WriteString(strings.Repeat("-", 10) + "\n")
				out.WriteString(got)
				if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != parts[2] {
				t.Errorf("output differs (run go test ./gateway/routing -update to accept)\n--- got\n%s--- want\n%s", got, parts[2])
			}
		})
	}
}

// runCase builds a router from the fragment and explains every input.
func runCase(t *testing.T, fragment, inputs string) string {
	t.Helper()
	env := map[string]string{"DREHSCHEIBE_SCHEMAS_DIRS": "testdata"}
	cfg, err := config.Parse([]byte(fragment), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		return "config error:\n" + err.Error() + "\n"
	}
	r, err := New(cfg.Routes, cfg.Targets)
	if err != nil {
		t.Fatalf("config.Parse accepted routes that New refuses: %v", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(inputs))
	dec.KnownFields(true)
	var msgs []goldenInput
	if err := dec.Decode(&msgs); err != nil {
		t.Fatalf("inputs: %v", err)
	}
	var out strings.Builder
	for i, m := range msgs {
		if i > 0 {
			out.WriteByte('\n')
		}
		in := Input(m)
		ex := r.Explain(in)
		out.WriteString(ex.String())
		// Explain and Route must agree.
		d, err := r.Route(in)
		if d != ex.Decision || fmt.Sprint(err) != fmt.Sprint(ex.Err) {
			t.Errorf("input %d: Route gives %+v, %v; Explain gives %+v, %v", i, d, err, ex.Decision, ex.Err)
		}
	}
	return out.String()
}
