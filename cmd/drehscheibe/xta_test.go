package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta/xtatest"
	"github.com/drehscheibe/drehscheibe/test/gatewaytest"
	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// TestXTACheckPassesAgainstDrehscheibe runs "drehscheibe xta check" against
// drehscheibe's own XTA server over HTTPS with client certificates.
func TestXTACheckPassesAgainstDrehscheibe(t *testing.T) {
	xtatest.Dir(t)
	r := root(t)
	tmp := t.TempDir()
	pki := xtatest.NewPKI(t, tmp)
	yaml := fmt.Sprintf(`
server: {listen: 127.0.0.1:0}
nats: {data_dir: %q}
schemas: {dirs: [%q]}
targets: [{name: box, type: xta-box}]
routes: [{name: box, match: {reader: "ags:07777000"}, target: box, sync: true}]
xta:
  enabled: true
  listen: 127.0.0.1:0
  tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
  parties:
    - {identifier: "efa:demo-portal", client: xta-check}
    - {identifier: "ags:07777000", client: xta-check}
`, filepath.Join(tmp, "nats"), filepath.Join(r, "schemas", "demo"), pki.CertFile, pki.KeyFile, pki.CAFile)
	g := gatewaytest.Start(t, yaml, nil)
	demo := testenv.Example(t, "antrag-valid.xml")
	msg := filepath.Join(tmp, "message.xml")
	require.NoError(t, os.WriteFile(msg, bytes.ReplaceAll(demo, []byte("ags:09999000"), []byte("ags:07777000")), 0o600))
	cert, key := pki.Client(t, "xta-check")

	code, out, stderr := runCLI(t, "xta", "check", "--url", "https://"+g.XTAAddr()+"/xta", "--cert", cert, "--key", key, "--ca", pki.CAFile,
		"--author", "efa:demo-portal", "--reader", "ags:07777000", "--message", msg, "--wait", "20s")
	assert.Equal(t, exitOK, code, "%s\n%s", out, stderr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Len(t, lines, 16, out)
	for _, l := range lines {
		assert.True(t, strings.HasPrefix(l, "PASS  "), "every check passes: %s", l)
	}
	for _, name := range []string{"tls-client-certificate-required", "getMessage", "close", "message-left-the-box", "getTransportReport", "every-response-is-MTOM"} {
		assert.Contains(t, out, "PASS  "+name+"\n")
	}

	// A party the certificate may not act for: the suite fails with a reason and exit 1.
	code, out, _ = runCLI(t, "xta", "check", "--url", "https://"+g.XTAAddr()+"/xta", "--cert", cert, "--key", key, "--ca", pki.CAFile,
		"--author", "ags:12345678", "--reader", "ags:07777000")
	assert.Equal(t, exitInvalid, code)
	assert.Contains(t, out, "FAIL  checkAccountActive: PermissionDeniedException 9012")

	code, _, stderr = runCLI(t, "xta", "check", "--url", "https://x")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "--author and --reader are required")
}
