package xtapull_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/gateway"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/gateway/store"
	"github.com/drehscheibe/drehscheibe/gateway/xtapull"
)

// metric reads one counter of g's /metrics; 0 if it is not there yet.
func metric(t *testing.T, g *gateway.Gateway, series string) float64 {
	res, err := http.Get("http://" + g.Addr() + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	return v
}

// A remote box that refuses a poll with its rate limit (fault 9030 and
// Retry-After) ends the poll and asks for the wait.
func TestPullReturnsTheRemotesRetryAfter(t *testing.T) {
	b := startRemoteWith(t, "  rate_limit: {per_second: 1, burst: 1}")
	p, _, a := pullEnv(t, b, `  - {name: pulled, match: {sender: xta-pull-b}, target: fv}`)
	b.box(t) // the test's client is gateway-a too: this empties the bucket
	assert.Equal(t, time.Second, xtapull.PollOnce(t.Context(), p))
	assert.Equal(t, 1.0, metric(t, b.g, `drehscheibe_xta_requests_total{operation="getStatusList",outcome="rate-limited"}`))
	assert.Equal(t, 1.0, metric(t, b.g, `drehscheibe_xta_requests_total{operation="getStatusList",outcome="ok"}`))
	// The pulling side counts the refused poll.
	assert.Equal(t, 1.0, metric(t, a, `drehscheibe_xta_pull_polls_total{result="deferred",source="b"}`))
	assert.Equal(t, 0.0, metric(t, a, `drehscheibe_xta_pull_polls_total{result="ok",source="b"}`))
	time.Sleep(time.Second) // the remote's bucket refills
	assert.Zero(t, xtapull.PollOnce(t.Context(), p))
	assert.Equal(t, 1.0, metric(t, a, `drehscheibe_xta_pull_polls_total{result="ok",source="b"}`))
}

// pollingGateway is a gateway whose pull source b polls url every second.
func pollingGateway(t *testing.T, url string) *gateway.Gateway {
	g, _ := startGateway(t, fmt.Sprintf(`
targets:
  - {name: fv, type: filedrop, options: {dir: %q}}
routes:
  - {name: pulled, match: {sender: xta-pull-b}, target: fv}
xta:
  pull:
    - {name: b, url: %s/xta, reader: "ags:07777000", interval: 1s}
`, filepath.Join(t.TempDir(), "outbox"), url))
	return g
}

// A poll the remote box answers with an error and no Retry-After is
// counted as failed; the source polls again at its interval.
func TestPullCountsFailedPolls(t *testing.T) {
	var calls atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "gateway of the remote is down", http.StatusBadGateway)
	}))
	t.Cleanup(proxy.Close)
	g := pollingGateway(t, proxy.URL)
	require.Eventually(t, func() bool {
		return metric(t, g, `drehscheibe_xta_pull_polls_total{result="failed",source="b"}`) >= 2
	}, 10*time.Second, 50*time.Millisecond, "two failed polls counted")
	assert.GreaterOrEqual(t, calls.Load(), int32(2))
	assert.Equal(t, 0.0, metric(t, g, `drehscheibe_xta_pull_polls_total{result="deferred",source="b"}`))
}

// The pull intake's next poll waits for the Retry-After of a refused one,
// where that is longer than its interval: here a proxy in front of the
// remote box answers 429 with Retry-After: 3 to a source polled every
// second.
func TestPullWaitsForTheRemotesRetryAfter(t *testing.T) {
	var (
		mu sync.Mutex
		at []time.Time
	)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		w.Header().Set("Retry-After", "3")
		http.Error(w, "too many requests", http.StatusTooManyRequests)
	}))
	t.Cleanup(proxy.Close)
	pollingGateway(t, proxy.URL)
	var polls []time.Time
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		polls = append(polls[:0], at...)
		return len(polls) >= 2
	}, 10*time.Second, 50*time.Millisecond, "a second poll")
	assert.GreaterOrEqual(t, polls[1].Sub(polls[0]), 2950*time.Millisecond, "the next poll came after Retry-After: 3, not after the interval of 1 s")
}

// xta-push against drehscheibe's own XTA server, which rate-limits it: the
// refused attempt is retried after the remote's Retry-After of 1 s, not
// after the target's backoff of 100 ms, and the message arrives once.
func TestPushHonoursTheRemotesRetryAfter(t *testing.T) {
	b := startRemoteWith(t, "  rate_limit: {per_second: 2, burst: 2}")
	cf, kf := b.pki.Client(t, "gateway-a")
	a, _ := startGateway(t, fmt.Sprintf(`
senders:
  - {name: portal, api_key_sha256: %s}
targets:
  - name: gateway-b
    type: xta-push
    retry: {initial: 100ms, max: 10s}
    options:
      url: %s
      tls: {cert_file: %q, key_file: %q, ca_file: %q}
      instance_id: gateway-a
      report_timeout: 1ms
      accept_open: true
routes:
  - {name: to-b, match: {reader: "ags:07777000"}, target: gateway-b}
`, config.HashAPIKey(restKey), b.url, cf, kf, b.pki.CAFile))

	// Gateway A's client is the test's: two calls empty its bucket.
	b.box(t)
	b.box(t)
	sub := submit(t, a, demo(t))

	require.Eventually(t, func() bool { return status(t, a, sub.ID) == "delivered" }, 15*time.Second, 50*time.Millisecond)
	e, err := a.Store.Get(t.Context(), sub.ID)
	require.NoError(t, err)
	evs, err := a.Store.Events(t.Context(), e)
	require.NoError(t, err)
	var delivery []store.Event
	for _, ev := range evs {
		if ev.Type == store.EventAttemptFailed || ev.Type == store.EventDelivered {
			delivery = append(delivery, ev)
		}
	}
	require.Len(t, delivery, 2, "refused once, then delivered: %+v", delivery)
	failed, done := delivery[0], delivery[1]
	assert.Equal(t, store.EventAttemptFailed, failed.Type)
	assert.Regexp(t, `^retry in 1(\.\d+)?s \(the receiver's Retry-After\)$`, failed.Detail)
	assert.Contains(t, failed.Error, "9030")
	assert.Equal(t, 2, done.Attempt)
	assert.GreaterOrEqual(t, done.At.Sub(failed.At), 900*time.Millisecond, "the retry waited for Retry-After, not for the backoff of 100 ms")

	assert.Equal(t, 1.0, metric(t, a, `drehscheibe_delivery_attempts_total{adapter="xta-push",result="deferred",target="gateway-b"}`))
	assert.GreaterOrEqual(t, metric(t, b.g, `drehscheibe_xta_requests_total{operation="sendMessage",outcome="rate-limited"}`)+
		metric(t, b.g, `drehscheibe_xta_requests_total{operation="getTransportReport",outcome="rate-limited"}`), 1.0)
	time.Sleep(time.Second) // the bucket refills for the look into B's box
	ids := b.box(t)
	require.Len(t, ids, 1, "the message arrived once")
	assert.True(t, strings.HasSuffix(ids[0], sub.ID))
}
