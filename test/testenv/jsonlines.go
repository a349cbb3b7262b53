package testenv

import (
	"encoding/json"
	"strings"
	"testing"
)

// JSONLines decodes b as one JSON object a line (an audit or log file);
// blank lines are skipped, any other line that is not a JSON object fails
// the test.
func JSONLines(t testing.TB, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ln := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(ln) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(ln), &m); err != nil {
			t.Fatalf("not a JSON object: %q: %v", ln, err)
		}
		out = append(out, m)
	}
	return out
}
