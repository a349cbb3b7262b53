package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/gateway"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// A Fachverfahren that answers 503 with Retry-After: 2 is called again
// after about 2 s, not after the target's backoff of about 1 s, and takes
// the message then, once. The refusal shows as a deferred attempt on
// /metrics and in the submission's events.
func TestWebhookHonoursRetryAfter(t *testing.T) {
	var (
		mu  sync.Mutex
		got []time.Time
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, time.Now())
		first := len(got) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rcv.Close)
	requests := func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Time(nil), got...)
	}

	t.Setenv(webhookEnv, "e2e-webhook-secret-0123456789")
	tmp := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
server: {listen: 127.0.0.1:0}
log: {audit_file: %q}
nats: {data_dir: %q}
schemas: {dirs: [%q]}
senders:
  - {name: portal, api_key_sha256: %s}
targets:
  - name: fv
    type: webhook
    max_attempts: 5
    retry: {initial: 1s, max: 10s}
    options: {url: %q, secret_env: %s, timeout: 5s}
routes:
  - {name: to-fv, match: {sender: portal}, target: fv}
`, filepath.Join(tmp, "audit.log"), filepath.Join(tmp, "nats"), filepath.Join(testenv.RepoRoot(t), "schemas", "demo"), config.HashAPIKey(portalKey), rcv.URL, webhookEnv)),
		func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	e := &env{t: t}
	e.g, err = gateway.New(context.Background(), cfg, zap.NewNop())
	require.NoError(t, err)
	_, err = e.g.Start(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.g.Shutdown(ctx)
	})
	e.base = "http://" + e.g.Addr()

	id := e.submit(portalKey)
	r := e.waitStatus(portalKey, id, "delivered")
	at := requests()
	require.Len(t, at, 2, "refused once, then taken")
	gap := at[1].Sub(at[0])
	assert.GreaterOrEqual(t, gap, 1950*time.Millisecond, "the second attempt waited for Retry-After, not for the backoff of about 1 s")
	assert.Less(t, gap, 3500*time.Millisecond)
	assert.Equal(t, []string{"received", "validated", "routed", "queued", "delivery_failed", "delivered"}, eventTypes(r))
	failed := r.JSON["events"].([]any)[4].(map[string]any)
	assert.Regexp(t, `^retry in 2(\.\d+)?s \(the receiver's Retry-After\)$`, failed["detail"])

	time.Sleep(300 * time.Millisecond)
	assert.Len(t, requests(), 2, "delivered exactly once")
	metrics := string(e.do(http.MethodGet, "/metrics", "", "", nil, nil).Body)
	for _, want := range []string{
		`drehscheibe_delivery_attempts_total{adapter="webhook",result="deferred",target="fv"} 1`,
		`drehscheibe_delivery_attempts_total{adapter="webhook",result="success",target="fv"} 1`,
	} {
		assert.Contains(t, metrics, want+"\n")
	}
	assert.NotContains(t, metrics, `result="transient"`)
}

// Refusals for now are counted by route and reason, for /v1/validate as
// for submissions.
func TestRefusalsForNowAreCounted(t *testing.T) {
	e := start(t)
	valid := demoMessage(t)
	// The sender's bucket holds 2 and refills one a second: a few requests
	// at once run into it. Each loop stops at its first refusal.
	refuse := func(path string) {
		for range 5 {
			if e.do(http.MethodPost, path, slowKey, "application/xml", valid, nil).Code == http.StatusTooManyRequests {
				return
			}
		}
		t.Fatalf("%s: never refused", path)
	}
	refuse("/v1/validate")
	refuse("/v1/submissions")
	metrics := string(e.do(http.MethodGet, "/metrics", "", "", nil, nil).Body)
	assert.Contains(t, metrics, `drehscheibe_http_refused_total{reason="rate-limited",route="/v1/validate"} 1`+"\n")
	assert.Contains(t, metrics, `drehscheibe_http_refused_total{reason="rate-limited",route="/v1/submissions"} 1`+"\n")
	assert.False(t, strings.Contains(metrics, `reason="busy"`), "nothing was busy")
}
