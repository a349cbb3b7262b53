package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/test/gatewaytest"
	"github.com/drehscheibe/drehscheibe/test/testenv"
)

const (
	cliSenderKey = "cli-sender-key-0123456789"
	cliAdminKey  = "cli-admin-key-0123456789"
)

// startGateway runs a real gateway (demo schemas, embedded NATS in a temp
// dir) whose one route posts to a webhook receiver on loopback that answers
// with *status. It returns the API's base URL.
func startGateway(t *testing.T, status *atomic.Int32) string {
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(status.Load())) }))
	t.Cleanup(recv.Close)
	t.Setenv("DREHSCHEIBE_CLI_WEBHOOK_SECRET", "cli-webhook-secret-0123456789")
	tmp := t.TempDir()
	g := gatewaytest.Start(t, fmt.Sprintf(`
server: {listen: 127.0.0.1:0}
nats: {data_dir: %q}
schemas: {dirs: [%q]}
senders: [{name: portal, api_key_sha256: %s}]
admins: [{name: ops, api_key_sha256: %s}]
targets:
  - {name: fv, type: webhook, options: {url: %q, secret_env: DREHSCHEIBE_CLI_WEBHOOK_SECRET}}
routes: [{name: all, target: fv}]
`, filepath.Join(tmp, "nats"), filepath.Join(root(t), "schemas", "demo"), config.HashAPIKey(cliSenderKey),
		config.HashAPIKey(cliAdminKey), recv.URL), nil)
	return "http://" + g.Addr()
}

// submitAndWait posts the demo message and waits until its status is want.
func submitAndWait(t *testing.T, base, want string) string {
	t.Helper()
	doc := testenv.Example(t, "antrag-valid.xml")
	id := gatewaytest.Submit(t, base, cliSenderKey, doc)
	waitStatus(t, base, id, want)
	return id
}

func waitStatus(t *testing.T, base, id, want string) {
	t.Helper()
	var st struct {
		Status string
		Events []map[string]any
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/submissions/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+cliSenderKey)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = json.NewDecoder(res.Body).Decode(&st)
		res.Body.Close()
		// The gateway records dead_lettered a moment before it stores the dead letter.
		if st.Status == want && (want != "dead_lettered" || deadLetterShown(t, base, id)) {
			return
		}
	}
	t.Fatalf("%s: status %q, want %q; events %v", id, st.Status, want, st.Events)
}

// deadLetterShown reports whether the admin API has a dead letter for id.
func deadLetterShown(t *testing.T, base, id string) bool {
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/admin/deadletters/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+cliAdminKey)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

func TestDLQCommands(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusBadRequest)
	base := startGateway(t, &status)
	id := submitAndWait(t, base, "dead_lettered")

	t.Setenv(envAdminKey, cliAdminKey)
	code, out, errOut := runCLI(t, "dlq", "list", "--url", base)
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, id)
	assert.Contains(t, out, "permanent")

	code, out, _ = runCLI(t, "dlq", "list", "--json", "--url", base, "--target", "fv")
	require.Equal(t, exitOK, code)
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	require.Len(t, list, 1)
	assert.Equal(t, id, list[0]["id"])

	code, out, _ = runCLI(t, "dlq", "show", id, "--url", base)
	require.Equal(t, exitOK, code)
	assert.Contains(t, out, "status:        dead_lettered")
	assert.Contains(t, out, "receiver answered 400 Bad Request")

	// Credentials: a sender's key and no key are refused before anything happens.
	code, _, errOut = runCLI(t, "dlq", "list", "--url", base, "--key", cliSenderKey)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "admin key refused")
	t.Setenv(envAdminKey, "")
	code, _, errOut = runCLI(t, "dlq", "list", "--url", base)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "no admin key")
	t.Setenv(envAdminKey, cliAdminKey)

	// The receiver is fixed: replay delivers the same id.
	status.Store(http.StatusOK)
	code, out, errOut = runCLI(t, "dlq", "replay", id, "--url", base)
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "replayed "+id+"\n", out)
	waitStatus(t, base, id, "delivered")
	code, out, _ = runCLI(t, "dlq", "list", "--url", base)
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "no dead letters\n", out)

	// A dead letter that is gone: exit 1, naming it.
	code, _, errOut = runCLI(t, "dlq", "replay", id, "--url", base)
	assert.Equal(t, exitInvalid, code)
	assert.Contains(t, errOut, id+": no dead letter")
	assert.Contains(t, errOut, "404 not-found")

	// replay --all and discard.
	status.Store(http.StatusNotFound)
	a, b := submitAndWait(t, base, "dead_lettered"), submitAndWait(t, base, "dead_lettered")
	code, out, _ = runCLI(t, "dlq", "discard", a, "--url", base)
	require.Equal(t, exitOK, code)
	assert.Equal(t, "discarded "+a+"\n", out)
	waitStatus(t, base, a, "discarded")
	status.Store(http.StatusOK)
	code, out, _ = runCLI(t, "dlq", "replay", "--all", "--url", base)
	require.Equal(t, exitOK, code)
	assert.Equal(t, "replayed "+b+"\n", out)
	waitStatus(t, base, b, "delivered")

	// Usage errors.
	for _, args := range [][]string{{"dlq"}, {"dlq", "frob"}, {"dlq", "show", "--url", base}, {"dlq", "replay", "--url", base},
		{"dlq", "list", "--url", "ftp://x"}} {
		code, _, _ = runCLI(t, args...)
		assert.Equal(t, exitUsage, code, "%v", args)
	}
	code, _, errOut = runCLI(t, "dlq", "list", "--url", "http://127.0.0.1:1", "--timeout", "2s")
	assert.Equal(t, exitUsage, code, "an unreachable gateway is a setup error")
	assert.Contains(t, errOut, "127.0.0.1:1")
}
