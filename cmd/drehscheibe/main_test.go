package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// root is the repository root (two levels above this package).
func root(t *testing.T) string {
	r, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return r
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidateExitCodes(t *testing.T) {
	r := root(t)
	demo := filepath.Join(r, "schemas", "demo")
	valid := filepath.Join(r, "examples", "demo", "antrag-valid.xml")
	invalid := filepath.Join(r, "examples", "demo", "antrag-invalid.xml")

	code, out, _ := runCLI(t, "validate", "--schemas", demo, valid)
	assert.Equal(t, exitOK, code, out)
	assert.Contains(t, out, "valid (Demo 1.0 antrag.einreichen.0100)")

	code, out, _ = runCLI(t, "validate", "--schemas", demo, valid, invalid)
	assert.Equal(t, exitInvalid, code)
	assert.Contains(t, out, "antrag-invalid.xml:27:")
	assert.Contains(t, out, "antrag-invalid.xml:34:")

	code, out, _ = runCLI(t, "validate", "--json", "--schemas", demo, invalid)
	assert.Equal(t, exitInvalid, code)
	var reports []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &reports))
	require.Len(t, reports, 1)
	assert.Equal(t, "invalid", reports[0]["outcome"])
	assert.Len(t, reports[0]["errors"], 3)

	code, _, errOut := runCLI(t, "validate", "--schemas", demo)
	assert.Equal(t, exitUsage, code, "no file")
	assert.Contains(t, errOut, "name at least one FILE")

	code, _, errOut = runCLI(t, "validate", "--schemas", filepath.Join(r, "does-not-exist"), valid)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "does-not-exist")

	code, _, _ = runCLI(t, "validate", "--schemas", demo, filepath.Join(r, "missing.xml"))
	assert.Equal(t, exitUsage, code)
}

func TestSchemasList(t *testing.T) {
	code, out, _ := runCLI(t, "schemas", "list", "--schemas", filepath.Join(root(t), "schemas", "demo"))
	require.Equal(t, exitOK, code)
	assert.Contains(t, out, "Demo")
	assert.Contains(t, out, "urn:xoev-de:drehscheibe:standard:demo:1.0")

	shared := filepath.Join(root(t), "..", "shared", "xoev")
	if _, err := os.Stat(shared); err != nil {
		t.Skip("../shared/xoev not present")
	}
	code, out, _ = runCLI(t, "schemas", "list", "--json", "--schemas", shared)
	require.Equal(t, exitOK, code)
	var pkgs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &pkgs))
	seen := map[string]bool{}
	for _, p := range pkgs {
		seen[p["standard"].(string)+" "+p["version"].(string)] = true
	}
	for _, want := range []string{"XBau 2.6", "XMeld 26.11", "XWasser 1.0.0", "xdomea 2.3.0", "xdomea 3.1.0", "XBeteiligung 1.2"} {
		assert.True(t, seen[want], "schemas list shows %s", want)
	}
}

func TestRoutesExplain(t *testing.T) {
	r := root(t)
	cfg := filepath.Join(t.TempDir(), "cfg.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`
schemas:
  dirs: [`+filepath.Join(r, "schemas", "demo")+`]
targets:
  - name: prod
    type: filedrop
    options: {dir: `+t.TempDir()+`}
routes:
  - name: only-xbau
    match: {message_type: "baugenehmigung.*"}
    target: prod
  - name: demo-antrag
    match: {message_type: "antrag.*", reader: "ags:*"}
    target: prod
`), 0o600))
	code, out, errOut := runCLI(t, "routes", "explain", "--config", cfg, filepath.Join(r, "examples", "demo", "antrag-valid.xml"))
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "only-xbau")
	assert.Contains(t, out, "demo-antrag")
	assert.Contains(t, out, "prod")

	// A test message with no test target is refused: exit 1.
	code, out, _ = runCLI(t, "routes", "explain", "--config", cfg, filepath.Join(r, "examples", "demo", "antrag-test.xml"))
	assert.Equal(t, exitInvalid, code, out)
}

func TestKeysHashAndVersion(t *testing.T) {
	code, out, _ := runCLI(t, "keys", "hash", "demo-key-change-me")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "090d1548c9d65f413a1a2c828a0bee3a7ae02d2137caf51e6029e6c3cb1f1fa4\n", out)
	code, _, _ = runCLI(t, "keys", "hash", "short")
	assert.Equal(t, exitUsage, code)

	code, out, _ = runCLI(t, "--version")
	assert.Equal(t, exitOK, code)
	assert.True(t, strings.HasPrefix(out, "drehscheibe "))

	code, _, errOut := runCLI(t, "frobnicate")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "unknown command")
}

func TestServeRefusesInvalidConfigNamingTheKey(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("schemas:\n  dirs: [schemas/demo]\nserver:\n  lisen: x\n"), 0o600))
	code, _, errOut := runCLI(t, "serve", "--config", cfg)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "bad.yaml:4: server.lisen")

	require.NoError(t, os.WriteFile(cfg, []byte("schemas:\n  dirs: [/nonexistent-dir]\n"), 0o600))
	code, _, errOut = runCLI(t, "serve", "--config", cfg)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "schemas.dirs[0]")
}
