package e2e

import (
	"bytes"
	"context"
	"fmt"
	"github.com/drehscheibe/drehscheibe/test/testenv"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/gateway"
	"github.com/drehscheibe/drehscheibe/gateway/config"
)

// startEncrypted starts a gateway on dataDir whose JetStream files are
// encrypted with the key in keyFile ("" for none). The caller shuts it down.
func startEncrypted(t *testing.T, dataDir, keyFile, cipher string) (*gateway.Gateway, error) {
	t.Helper()
	enc := ""
	if keyFile != "" {
		enc = fmt.Sprintf("\n  encryption_key_file: %q\n  encryption_cipher: %s", keyFile, cipher)
	}
	yaml := fmt.Sprintf(`
server: {listen: 127.0.0.1:0}
nats:
  data_dir: %q%s
schemas: {dirs: [%q]}
senders:
  - {name: portal, api_key_sha256: %s}
targets:
  - {name: later, type: external}
routes:
  - {name: all, match: {}, target: later}
`, dataDir, enc, filepath.Join(testenv.RepoRoot(t), "schemas", "demo"), config.HashAPIKey(portalKey))
	cfg, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	ctx := context.Background()
	g, err := gateway.New(ctx, cfg, zap.NewNop())
	if err != nil {
		return nil, err
	}
	if _, err := g.Start(ctx); err != nil {
		_ = g.Shutdown(ctx)
		return nil, err
	}
	return g, nil
}

func stop(t *testing.T, g *gateway.Gateway) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, g.Shutdown(ctx))
}

// containsOnDisk reports whether any file under dir contains marker.
func containsOnDisk(t *testing.T, dir string, marker []byte) bool {
	found := false
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, marker) {
			found = true
		}
		return err
	}))
	return found
}

// TestEncryptionAtRest stores a submission with a marker in its personal
// data, once without and once with encryption, and looks for the marker in
// the JetStream files; then restarts with the same key (the submission is
// there) and with a wrong key (a clear error).
func TestEncryptionAtRest(t *testing.T) {
	const marker = "Verschluesselungsmarkerin"
	msg := bytes.Replace(demoMessage(t), []byte("<demo:vorname>Erika</demo:vorname>"), []byte("<demo:vorname>"+marker+"</demo:vorname>"), 1)
	submit := func(g *gateway.Gateway) string {
		e := &env{t: t, base: "http://" + g.Addr()}
		r := e.submitXML(msg, portalKey, nil)
		require.Equal(t, http.StatusAccepted, r.Code, string(r.Body))
		return r.JSON["id"].(string)
	}
	tmp := t.TempDir()

	// Control: without a key the marker is on disk, so the search can find it.
	plain := filepath.Join(tmp, "plain")
	g, err := startEncrypted(t, plain, "", "")
	require.NoError(t, err)
	submit(g)
	stop(t, g)
	require.True(t, containsOnDisk(t, plain, []byte(marker)), "the control run stores the marker in plain text")

	short := filepath.Join(tmp, "short.key")
	require.NoError(t, os.WriteFile(short, []byte("too-short"), 0o600))
	_, err = startEncrypted(t, filepath.Join(tmp, "short"), short, "chacha")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "fewer than 32")

	for _, cipher := range []string{"chacha", "aes"} {
		t.Run(cipher, func(t *testing.T) {
			dir := filepath.Join(tmp, cipher)
			keyFile := filepath.Join(tmp, cipher+".key")
			require.NoError(t, os.WriteFile(keyFile, []byte("3f9a0c7e5b2d4a6c8e1f3b5d7a9c0e2f4b6d8a1c3e5f7b9d0a2c4e6f8b1d3a5c\n"), 0o600))
			g, err := startEncrypted(t, dir, keyFile, cipher)
			require.NoError(t, err)
			id := submit(g)
			stop(t, g)
			assert.False(t, containsOnDisk(t, dir, []byte(marker)), "the marker is not on disk in plain text")
			assert.False(t, containsOnDisk(t, dir, []byte(id)), "nor the submission id")

			g, err = startEncrypted(t, dir, keyFile, cipher)
			require.NoError(t, err, "restart with the same key")
			e := &env{t: t, base: "http://" + g.Addr()}
			r := e.do(http.MethodGet, "/v1/submissions/"+id, portalKey, "", nil, nil)
			assert.Equal(t, http.StatusOK, r.Code, "the submission is readable after a restart: %s", r.Body)
			stop(t, g)

			wrong := filepath.Join(tmp, cipher+"-wrong.key")
			require.NoError(t, os.WriteFile(wrong, []byte("0000000000000000000000000000000000000000000000000000000000000000"), 0o600))
			g, err = startEncrypted(t, dir, wrong, cipher)
			if g != nil {
				stop(t, g)
			}
			require.Error(t, err, "a wrong key must not start on the encrypted data")
			assert.Contains(t, err.Error(), "encryption key is not the one")

			g, err = startEncrypted(t, dir, "", "")
			if g != nil {
				stop(t, g)
			}
			require.Error(t, err, "no key must not start on the encrypted data")
			assert.Contains(t, err.Error(), "no encryption key is configured")

			g, err = startEncrypted(t, dir, keyFile, cipher)
			require.NoError(t, err, "the refused starts left the data as it was")
			e = &env{t: t, base: "http://" + g.Addr()}
			assert.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/submissions/"+id, portalKey, "", nil, nil).Code)
			stop(t, g)
		})
	}
}
