package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics or hangs (YAML aliases are
// bounded), and that it returns either a configuration that validates or
// errors that each name what is wrong.
func FuzzParse(f *testing.F) {
	for _, p := range []string{
		filepath.Join("..", "..", "deploy", "examples", "drehscheibe.yaml"),
		filepath.Join("testdata", "invalid.yaml"),
	} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"schemas: {dirs: [.]}\n",
		"schemas: {dirs: [.]}\nserver: {max_body_bytes: 1MiB, tls: {cert_file: x}}\nlimits: {max_xml_depth: 3}\n",
		"a: &a [1, 2]\nb: &b [*a, *a]\nlog: {<<: *b}\n",
		"targets:\n  - {name: fv, type: filedrop, options: {dir: /tmp}}\nroutes:\n  - {name: r, target: fv, match: {test: true}}\n",
		"---\n---\n", "\t", "key: [", "!!binary x",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, nil)
		if err == nil {
			if c == nil {
				t.Fatal("no config and no error")
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Parse accepted what Validate refuses: %v", err)
			}
			return
		}
		ps := Problems(err)
		if len(ps) == 0 {
			t.Fatalf("error without a keyed problem: %v", err)
		}
		for _, p := range ps {
			if p.Msg == "" {
				t.Fatalf("problem without a message: %+v", p)
			}
		}
	})
}
