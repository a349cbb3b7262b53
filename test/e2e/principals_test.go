package e2e

import (
	"bytes"
	"fmt"
	"github.com/drehscheibe/drehscheibe/test/testenv"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta/xtatest"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/test/gatewaytest"
)

// TestClientCertificates runs the gateway over HTTPS with a client CA and
// principals that authenticate by key, by certificate, or by both.
func TestClientCertificates(t *testing.T) {
	root := testenv.RepoRoot(t)
	tmp := t.TempDir()
	pki := xtatest.NewPKI(t, tmp)
	const (
		keyPortal = "cert-test-portal-key-0123456789"
		keyStrict = "cert-test-strict-key-0123456789"
		keyOps    = "cert-test-ops-key-0123456789"
		keyReader = "cert-test-reader-key-0123456789"
	)
	yaml := fmt.Sprintf(`
server:
  listen: 127.0.0.1:0
  tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
nats: {data_dir: %q}
schemas: {dirs: [%q]}
senders:
  - {name: key-portal, api_key_sha256: %s}
  - {name: cert-portal, client_cert: {subject_cn: cert-portal}}
  - {name: strict-portal, api_key_sha256: %s, client_cert: {san: strict.example.org}, require_client_cert: true}
readers:
  - {name: cert-reader, identifiers: ["ags:09999000"], client_cert: {subject_cn: fv-reader}}
  - {name: strict-reader, identifiers: ["ags:08888000"], api_key_sha256: %s, client_cert: {san: fv.example.org}, require_client_cert: true}
admins:
  - {name: ops, api_key_sha256: %s, client_cert: {subject_cn: ops-admin}}
targets:
  - {name: fv, type: filedrop, options: {dir: %q}}
routes:
  - {name: all, match: {}, target: fv}
`, pki.CertFile, pki.KeyFile, pki.CAFile, filepath.Join(tmp, "nats"), filepath.Join(root, "schemas", "demo"),
		config.HashAPIKey(keyPortal), config.HashAPIKey(keyStrict), config.HashAPIKey(keyReader), config.HashAPIKey(keyOps), filepath.Join(tmp, "out"))
	g := gatewaytest.Start(t, yaml, nil)
	base := "https://" + g.Addr()
	valid := testenv.Example(t, "antrag-valid.xml")

	clients := map[string]*http.Client{
		"none":        pki.HTTPClient(t, ""),
		"cert-portal": pki.HTTPClient(t, "cert-portal"),
		"strict":      pki.HTTPClient(t, "someone", "strict.example.org"),
		"ops-admin":   pki.HTTPClient(t, "ops-admin"),
		"unmapped":    pki.HTTPClient(t, "nobody-we-know"),
		"fv-reader":   pki.HTTPClient(t, "fv-reader"),
		"strict-fv":   pki.HTTPClient(t, "someone-else", "fv.example.org"),
	}
	call := func(client, method, path, key string) int {
		t.Helper()
		var body io.Reader
		if method == http.MethodPost {
			body = bytes.NewReader(valid)
		}
		req, err := http.NewRequest(method, base+path, body)
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/xml")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		res, err := clients[client].Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode
	}
	for _, c := range []struct {
		name, client, method, path, key string
		want                            int
	}{
		{"key alone", "none", http.MethodPost, "/v1/validate", keyPortal, http.StatusOK},
		{"certificate alone", "cert-portal", http.MethodPost, "/v1/validate", "", http.StatusOK},
		{"certificate alone submits", "cert-portal", http.MethodPost, "/v1/submissions", "", http.StatusAccepted},
		{"certificate of no principal", "unmapped", http.MethodPost, "/v1/validate", "", http.StatusUnauthorized},
		{"no credentials", "none", http.MethodPost, "/v1/validate", "", http.StatusUnauthorized},
		{"key and certificate of different principals", "cert-portal", http.MethodPost, "/v1/validate", keyPortal, http.StatusUnauthorized},
		{"required certificate missing", "none", http.MethodPost, "/v1/validate", keyStrict, http.StatusUnauthorized},
		{"required certificate missing, another certificate", "cert-portal", http.MethodPost, "/v1/validate", keyStrict, http.StatusUnauthorized},
		{"required certificate by SAN with key", "strict", http.MethodPost, "/v1/validate", keyStrict, http.StatusOK},
		{"required certificate by SAN alone", "strict", http.MethodPost, "/v1/validate", "", http.StatusOK},
		{"admin certificate on admin endpoint", "ops-admin", http.MethodGet, "/v1/admin/deadletters", "", http.StatusOK},
		{"admin certificate on submissions", "ops-admin", http.MethodPost, "/v1/validate", "", http.StatusForbidden},
		{"sender certificate on admin endpoint", "cert-portal", http.MethodGet, "/v1/admin/deadletters", "", http.StatusForbidden},
		{"admin key without certificate", "none", http.MethodGet, "/v1/admin/deadletters", keyOps, http.StatusOK},
		{"reader certificate on the inbox", "fv-reader", http.MethodGet, "/v1/inbox", "", http.StatusOK},
		{"reader certificate on submissions", "fv-reader", http.MethodPost, "/v1/validate", "", http.StatusForbidden},
		{"sender certificate on the inbox", "cert-portal", http.MethodGet, "/v1/inbox", "", http.StatusForbidden},
		{"admin certificate on the inbox", "ops-admin", http.MethodGet, "/v1/inbox", "", http.StatusForbidden},
		{"reader key without its required certificate", "none", http.MethodGet, "/v1/inbox", keyReader, http.StatusUnauthorized},
		{"reader key with another reader's certificate", "fv-reader", http.MethodGet, "/v1/inbox", keyReader, http.StatusUnauthorized},
		{"reader key with its certificate", "strict-fv", http.MethodGet, "/v1/inbox", keyReader, http.StatusOK},
	} {
		assert.Equal(t, c.want, call(c.client, c.method, c.path, c.key), c.name)
	}
}

// TestRateLimit exhausts one sender's bucket and checks that the answer is
// 429 with Retry-After, that other senders go on, and that the bucket refills.
func TestRateLimit(t *testing.T) {
	e := start(t)
	valid := testenv.Example(t, "antrag-valid.xml")
	validate := func(key string) response {
		return e.do(http.MethodPost, "/v1/validate", key, "application/xml", valid, nil)
	}
	// The bucket holds 2; a third request at once is refused. (Each request
	// takes far less than the second a token needs to come back.)
	assert.NotEqual(t, http.StatusTooManyRequests, validate(slowKey).Code)
	assert.NotEqual(t, http.StatusTooManyRequests, validate(slowKey).Code)
	r := validate(slowKey)
	require.Equal(t, http.StatusTooManyRequests, r.Code, string(r.Body))
	assert.Contains(t, r.JSON["type"], "#rate-limited")
	assert.Equal(t, "1", r.Header.Get("Retry-After"))
	assert.Equal(t, http.StatusOK, validate(portalKey).Code, "another sender is not limited by this one")
	time.Sleep(1100 * time.Millisecond)
	assert.NotEqual(t, http.StatusTooManyRequests, validate(slowKey).Code, "the bucket refilled")
}
