package e2e

import (
	"context"
	"fmt"
	"github.com/drehscheibe/drehscheibe/test/testenv"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/webhook"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/gateway/dispatch"
	"github.com/drehscheibe/drehscheibe/gateway/store"
	"github.com/drehscheibe/drehscheibe/test/gatewaytest"
)

const (
	adminKey     = "e2e-admin-key-0123456789"
	webhookEnv   = "DREHSCHEIBE_E2E_WEBHOOK_SECRET"
	extSenderKey = "e2e-ext-sender-key-0123456789"
	dropKey      = "e2e-drop-sender-key-0123456789"
	// boxSenderKey is a sender whose messages go to the message box "inbox".
	boxSenderKey = "e2e-box-sender-key-0123456789"
	// readerKey reads the box of ags:09999000, the reader of the demo message;
	// otherReaderKey the box of ags:01111000; slowReaderKey (1 request a
	// second, 2 at once) that of ags:02222000.
	readerKey      = "e2e-reader-key-0123456789"
	otherReaderKey = "e2e-other-reader-key-0123456789"
	slowReaderKey  = "e2e-slow-reader-key-0123456789"
)

// receiver is a Fachverfahren's webhook endpoint on loopback that answers
// with the status the test sets and records each request.
type receiver struct {
	srv    *httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	got    []received
}

type received struct {
	id      string
	attempt string
	at      time.Time
}

func newReceiver(t *testing.T, status int) *receiver {
	r := &receiver{}
	r.status.Store(int32(status))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.got = append(r.got, received{id: req.Header.Get(webhook.HeaderSubmissionID), attempt: req.Header.Get(webhook.HeaderAttempt), at: time.Now()})
		r.mu.Unlock()
		w.WriteHeader(int(r.status.Load()))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// dlqOptions shape the gateway of a dead-letter test.
type dlqOptions struct {
	payloadRetention, janitorInterval time.Duration
	// auditFile, if set, receives the audit log.
	auditFile string
}

// startDLQ starts a gateway with the demo schemas and three targets, each
// reached by its own sender: portalKey → webhook "fv" (max_attempts 3, retry
// from 200ms), extSenderKey → "ext" (external, max_attempts 2), dropKey →
// filedrop "drop", boxSenderKey → message box "inbox" (readerKey,
// otherReaderKey and slowReaderKey are its readers). adminKey is an admin.
func startDLQ(t *testing.T, rcv *receiver, o dlqOptions) *env {
	if o.payloadRetention == 0 {
		o.payloadRetention = time.Hour
	}
	if o.janitorInterval == 0 {
		o.janitorInterval = time.Hour
	}
	t.Setenv(webhookEnv, "e2e-webhook-secret-0123456789")
	tmp := t.TempDir()
	e := &env{t: t, outbox: filepath.Join(tmp, "drop")}
	yaml := fmt.Sprintf(`
server: {listen: 127.0.0.1:0}
log: {audit_file: %q}
nats:
  data_dir: %q
  duplicate_window: 1s
  payload_retention: %s
  event_retention: 2h
  janitor_interval: %s
schemas: {dirs: [%q]}
senders:
  - {name: portal, api_key_sha256: %s}
  - {name: ext-portal, api_key_sha256: %s}
  - {name: drop-portal, api_key_sha256: %s}
  - {name: box-portal, api_key_sha256: %s}
readers:
  - {name: fv-musterstadt, identifiers: ["ags:09999000"], api_key_sha256: %s}
  - {name: fv-other, identifiers: ["ags:01111000", "ags:01111001"], api_key_sha256: %s}
  - {name: fv-slow, identifiers: ["ags:02222000"], api_key_sha256: %s, rate_limit: {per_second: 1, burst: 2}}
admins:
  - {name: ops, api_key_sha256: %s}
targets:
  - name: fv
    type: webhook
    max_attempts: 3
    retry: {initial: 200ms, max: 1s}
    max_age: 1h
    options: {url: %q, secret_env: %s, timeout: 5s}
  - {name: ext, type: external, max_attempts: 2, ack_wait: 2s, max_age: 1h}
  - {name: drop, type: filedrop, max_age: 1h, options: {dir: %q}}
  - {name: inbox, type: box, max_age: 1h}
routes:
  - {name: to-fv, match: {sender: portal}, target: fv}
  - {name: to-ext, match: {sender: ext-portal}, target: ext}
  - {name: to-drop, match: {sender: drop-portal}, target: drop}
  - {name: to-inbox, match: {sender: box-portal}, target: inbox}
`, o.auditFile, filepath.Join(tmp, "nats"), o.payloadRetention, o.janitorInterval, filepath.Join(testenv.RepoRoot(t), "schemas", "demo"),
		config.HashAPIKey(portalKey), config.HashAPIKey(extSenderKey), config.HashAPIKey(dropKey), config.HashAPIKey(boxSenderKey),
		config.HashAPIKey(readerKey), config.HashAPIKey(otherReaderKey), config.HashAPIKey(slowReaderKey), config.HashAPIKey(adminKey),
		rcv.srv.URL, webhookEnv, e.outbox)
	e.g = gatewaytest.Start(t, yaml, nil)
	e.base = "http://" + e.g.Addr()
	return e
}

func demoMessage(t *testing.T) []byte {
	b := testenv.Example(t, "antrag-valid.xml")
	return b
}

// submit posts the demo message with key and returns the submission id.
func (e *env) submit(key string) string {
	e.t.Helper()
	r := e.submitXML(demoMessage(e.t), key, nil)
	require.Equal(e.t, http.StatusAccepted, r.Code, string(r.Body))
	return r.JSON["id"].(string)
}

// waitStatus polls the sender's status endpoint until it says want and,
// for the final statuses, the event of that name is in the log. For
// dead_lettered it also waits for the operator's view: the gateway records
// the event a moment before it stores the dead letter.
func (e *env) waitStatus(key, id, want string) response {
	e.t.Helper()
	var r response
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		r = e.do(http.MethodGet, "/v1/submissions/"+id, key, "", nil, nil)
		if r.Code == http.StatusOK && r.JSON["status"] == want && (want == "queued" || want == "retrying" || slices.Contains(eventTypes(r), want)) &&
			(want != "dead_lettered" || e.do(http.MethodGet, "/v1/admin/deadletters/"+id, adminKey, "", nil, nil).Code == http.StatusOK) {
			return r
		}
		time.Sleep(25 * time.Millisecond)
	}
	e.t.Fatalf("submission %s: status %v after 20s, want %s: %s", id, r.JSON["status"], want, r.Body)
	return r
}

// eventTypes lists the types of the events in a status answer.
func eventTypes(r response) []string {
	var out []string
	evs, _ := r.JSON["events"].([]any)
	for _, x := range evs {
		out = append(out, x.(map[string]any)["type"].(string))
	}
	return out
}

func lastEvent(r response) map[string]any {
	evs := r.JSON["events"].([]any)
	return evs[len(evs)-1].(map[string]any)
}

func deadLetterIDs(t *testing.T, e *env) []string {
	r := e.do(http.MethodGet, "/v1/admin/deadletters", adminKey, "", nil, nil)
	require.Equal(t, http.StatusOK, r.Code, string(r.Body))
	var ids []string
	for _, x := range r.JSON["dead_letters"].([]any) {
		ids = append(ids, x.(map[string]any)["id"].(string))
	}
	return ids
}

func TestPoisonMessageIsDeadLetteredAndReplayed(t *testing.T) {
	rcv := newReceiver(t, http.StatusBadRequest)
	e := startDLQ(t, rcv, dlqOptions{})
	id := e.submit(portalKey)

	r := e.waitStatus(portalKey, id, "dead_lettered")
	ev := lastEvent(r)
	assert.Equal(t, "dead_lettered", ev["type"])
	assert.EqualValues(t, 1, ev["attempt"])
	assert.Equal(t, "delivery attempt failed", ev["error"], "the sender does not see the receiver's internals")
	time.Sleep(time.Second) // five times the first retry delay: a retry would have come
	require.Len(t, rcv.requests(), 1, "a permanent refusal is tried once")

	r = e.do(http.MethodGet, "/v1/admin/deadletters", adminKey, "", nil, nil)
	require.Equal(t, http.StatusOK, r.Code)
	list := r.JSON["dead_letters"].([]any)
	require.Len(t, list, 1)
	dl := list[0].(map[string]any)
	assert.Equal(t, id, dl["id"])
	assert.Equal(t, "permanent", dl["reason"])
	assert.EqualValues(t, 1, dl["attempts"])
	assert.Contains(t, dl["error"], "receiver answered 400 Bad Request")
	assert.Equal(t, "portal", dl["sender"])

	r = e.do(http.MethodGet, "/v1/admin/deadletters/"+id, adminKey, "", nil, nil)
	require.Equal(t, http.StatusOK, r.Code)
	assert.Equal(t, "dead_lettered", r.JSON["status"])
	assert.Contains(t, lastEvent(r)["error"], "400", "the operator sees the full error")

	// The Fachverfahren is fixed; the operator replays.
	rcv.status.Store(http.StatusOK)
	r = e.do(http.MethodPost, "/v1/admin/deadletters/"+id+"/replay", adminKey, "", nil, nil)
	require.Equal(t, http.StatusAccepted, r.Code, string(r.Body))
	assert.Equal(t, "queued", r.JSON["status"])
	r = e.waitStatus(portalKey, id, "delivered")
	assert.Equal(t, []string{"received", "validated", "routed", "queued", "dead_lettered", "replayed", "delivered"}, eventTypes(r))
	got := rcv.requests()
	require.Len(t, got, 2)
	assert.Equal(t, id, got[1].id, "the replay delivers the same submission id")
	assert.Equal(t, "1", got[1].attempt, "a replay starts again at attempt 1")
	assert.Empty(t, deadLetterIDs(t, e))
	r = e.do(http.MethodPost, "/v1/admin/deadletters/"+id+"/replay", adminKey, "", nil, nil)
	assert.Equal(t, http.StatusNotFound, r.Code, "replayed once, the dead letter is gone")
	assert.Contains(t, r.JSON["type"], "not-found")
}

func TestExhaustedRetriesBackOffThenDeadLetter(t *testing.T) {
	rcv := newReceiver(t, http.StatusServiceUnavailable)
	e := startDLQ(t, rcv, dlqOptions{})
	id := e.submit(portalKey)
	r := e.waitStatus(portalKey, id, "dead_lettered")
	assert.Equal(t, []string{"received", "validated", "routed", "queued", "delivery_failed", "delivery_failed", "dead_lettered"}, eventTypes(r))

	got := rcv.requests()
	require.Len(t, got, 3, "max_attempts 3")
	// The receiver saw the backoff: 200ms, then 400ms, each −20 % at worst. No hot loop.
	assert.GreaterOrEqual(t, got[1].at.Sub(got[0].at), 160*time.Millisecond)
	assert.GreaterOrEqual(t, got[2].at.Sub(got[1].at), 320*time.Millisecond)
	// And so do the events' timestamps.
	evs := r.JSON["events"].([]any)
	at := func(i int) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, evs[i].(map[string]any)["at"].(string))
		require.NoError(t, err)
		return ts
	}
	assert.GreaterOrEqual(t, at(5).Sub(at(4)), 160*time.Millisecond)
	assert.GreaterOrEqual(t, at(6).Sub(at(5)), 320*time.Millisecond)

	r = e.do(http.MethodGet, "/v1/admin/deadletters/"+id, adminKey, "", nil, nil)
	require.Equal(t, http.StatusOK, r.Code)
	assert.Equal(t, "exhausted", r.JSON["reason"])
	assert.EqualValues(t, 3, r.JSON["attempts"])
	assert.Contains(t, r.JSON["error"], "503")
}

func TestExternalTargetExhaustionBecomesDeadLetterAndIsDiscarded(t *testing.T) {
	e := startDLQ(t, newReceiver(t, http.StatusOK), dlqOptions{})
	id := e.submit(extSenderKey)

	// The vendor's adapter binds to the consumer and fails twice (max_attempts 2),
	// reporting each attempt, then keeps pulling as a running adapter does.
	ctx := context.Background()
	c, err := e.g.Store.JetStream().Consumer(ctx, store.SubmissionsStream, dispatch.ConsumerName("ext"))
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		wait := 3 * time.Second
		if i == 2 {
			wait = 500 * time.Millisecond // the pull that finds nothing
		}
		b, err := c.Fetch(1, jetstream.FetchMaxWait(wait))
		require.NoError(t, err)
		for m := range b.Messages() {
			require.Less(t, i, 2, "no third delivery")
			md, _ := m.Metadata()
			require.NoError(t, e.g.Store.Append(ctx, id, store.Event{Type: store.EventAttemptFailed, Target: "ext", Adapter: "acme",
				Attempt: int(md.NumDelivered), Error: "Fachverfahren nicht erreichbar"}))
			require.NoError(t, m.NakWithDelay(100*time.Millisecond))
		}
	}
	r := e.waitStatus(extSenderKey, id, "dead_lettered")
	r = e.do(http.MethodGet, "/v1/admin/deadletters/"+id, adminKey, "", nil, nil)
	require.Equal(t, http.StatusOK, r.Code)
	assert.Equal(t, "exhausted", r.JSON["reason"])
	assert.EqualValues(t, 2, r.JSON["attempts"])
	assert.Equal(t, "Fachverfahren nicht erreichbar", r.JSON["error"])
	assert.Equal(t, "ext", r.JSON["target"])

	// The operator gives it up.
	r = e.do(http.MethodDelete, "/v1/admin/deadletters/"+id, adminKey, "", nil, nil)
	require.Equal(t, http.StatusNoContent, r.Code, string(r.Body))
	assert.Empty(t, deadLetterIDs(t, e))
	r = e.do(http.MethodGet, "/v1/admin/deadletters/"+id, adminKey, "", nil, nil)
	assert.Equal(t, http.StatusNotFound, r.Code)
	r = e.waitStatus(extSenderKey, id, "discarded")
	assert.Equal(t, "discarded", lastEvent(r)["type"])
	assert.Contains(t, lastEvent(r)["detail"], "given up by the operator")
}

func TestAdminAuthMatrix(t *testing.T) {
	e := startDLQ(t, newReceiver(t, http.StatusOK), dlqOptions{})
	id := e.submit(portalKey)
	admin := []struct{ method, path string }{
		{http.MethodGet, "/v1/admin/deadletters"},
		{http.MethodGet, "/v1/admin/deadletters/" + id},
		{http.MethodPost, "/v1/admin/deadletters/" + id + "/replay"},
		{http.MethodDelete, "/v1/admin/deadletters/" + id},
	}
	for _, ep := range admin {
		name := ep.method + " " + ep.path
		r := e.do(ep.method, ep.path, "", "", nil, nil)
		assert.Equal(t, http.StatusUnauthorized, r.Code, "no key: %s", name)
		assert.NotEmpty(t, r.Header.Get("WWW-Authenticate"), name)
		r = e.do(ep.method, ep.path, "not-a-configured-key-0123456789", "", nil, nil)
		assert.Equal(t, http.StatusUnauthorized, r.Code, "unknown key: %s", name)
		r = e.do(ep.method, ep.path, portalKey, "", nil, nil)
		assert.Equal(t, http.StatusForbidden, r.Code, "sender key: %s", name)
		assert.Contains(t, r.JSON["type"], "problems.md#forbidden", name)
		r = e.do(ep.method, ep.path, adminKey, "", nil, nil)
		assert.Contains(t, []int{http.StatusOK, http.StatusNotFound}, r.Code, "admin key: %s: %s", name, r.Body)
	}
	// An admin key is no sender key.
	r := e.submitXML(demoMessage(t), adminKey, nil)
	assert.Equal(t, http.StatusForbidden, r.Code)
	r = e.do(http.MethodGet, "/v1/submissions/"+id, adminKey, "", nil, nil)
	assert.Equal(t, http.StatusForbidden, r.Code)
	r = e.do(http.MethodGet, "/v1/admin/deadletters?limit=0", adminKey, "", nil, nil)
	assert.Equal(t, http.StatusBadRequest, r.Code)
	r = e.do(http.MethodGet, "/v1/admin/deadletters?target=fv.>", adminKey, "", nil, nil)
	assert.Equal(t, http.StatusBadRequest, r.Code, "no subject wildcards through the target filter")
}

// TestReplayToFiledropThatHasIt replays a dead letter whose first delivery
// did reach the drop directory (its acknowledgement was lost): the replay
// counts as delivered and the directory holds the submission once.
func TestReplayToFiledropThatHasIt(t *testing.T) {
	e := startDLQ(t, newReceiver(t, http.StatusOK), dlqOptions{})
	id := e.submit(dropKey)
	msg := e.delivered(e.outbox, id)
	e.waitStatus(dropKey, id, "delivered")

	ctx := context.Background()
	entry, err := e.g.Store.Get(ctx, id)
	require.NoError(t, err)
	sm, err := e.g.Store.SubmissionAt(ctx, entry.Sequence)
	require.NoError(t, err)
	dl := &store.DeadLetter{Adapter: "filedrop", Reason: store.ReasonExhausted, Attempts: 10, Error: "ack lost"}
	created, err := e.g.Store.PutDeadLetter(ctx, sm, dl)
	require.NoError(t, err)
	require.True(t, created)
	e.waitStatus(dropKey, id, "dead_lettered")

	r := e.do(http.MethodPost, "/v1/admin/deadletters/"+id+"/replay", adminKey, "", nil, nil)
	require.Equal(t, http.StatusAccepted, r.Code, string(r.Body))
	r = e.waitStatus(dropKey, id, "delivered")
	assert.EqualValues(t, 1, lastEvent(r)["attempt"])
	entries, err := os.ReadDir(e.outbox)
	require.NoError(t, err)
	var names []string
	for _, de := range entries {
		names = append(names, de.Name())
	}
	assert.Equal(t, []string{id}, names, "one directory per submission, however often it is delivered")
	assert.Equal(t, msg, e.delivered(e.outbox, id))
}

func TestRetentionDeletesContentButStatusAnswers(t *testing.T) {
	e := startDLQ(t, newReceiver(t, http.StatusOK), dlqOptions{payloadRetention: time.Second, janitorInterval: 100 * time.Millisecond})
	id := e.submit(dropKey)
	e.delivered(e.outbox, id)
	e.waitStatus(dropKey, id, "delivered")

	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for {
		entry, err := e.g.Store.Get(ctx, id)
		require.NoError(t, err)
		if entry.Purged {
			break
		}
		require.True(t, time.Now().Before(deadline), "content not purged within 15s")
		time.Sleep(50 * time.Millisecond)
	}
	_, err := e.g.Store.NextSubmission(ctx, 1)
	assert.ErrorIs(t, err, store.ErrNotFound, "the submission message is deleted")

	r := e.do(http.MethodGet, "/v1/submissions/"+id, dropKey, "", nil, nil)
	require.Equal(t, http.StatusOK, r.Code, "the status still answers")
	assert.Equal(t, "delivered", r.JSON["status"])
	assert.Equal(t, []string{"received", "validated", "routed", "queued", "delivered", "payload_deleted"}, eventTypes(r))
	assert.Equal(t, "Demo", r.JSON["facts"].(map[string]any)["standard"])
}
