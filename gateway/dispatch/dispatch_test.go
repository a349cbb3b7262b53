package dispatch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/gateway/delivery"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// flaky is an adapter whose answers the test scripts: it fails the first
// failures attempts with err, then takes the message.
type flaky struct {
	failures int32
	err      error
	calls    atomic.Int32
	mu       sync.Mutex
	got      map[string][]byte
}

func (f *flaky) Deliver(_ context.Context, d *delivery.Delivery) error {
	if f.calls.Add(1) <= f.failures {
		return f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	msg, err := d.Message.ReadAll(context.Background())
	if err != nil {
		return err
	}
	f.got[d.SubmissionID] = msg
	return nil
}

func (f *flaky) Close() error { return nil }

func setup(t *testing.T, a *flaky, maxAttempts int) *store.Store {
	st, err := store.Open(context.Background(), store.Options{Embedded: true, DataDir: t.TempDir(), SyncAlways: true, MaxAge: time.Hour, DuplicateWindow: time.Minute})
	require.NoError(t, err)
	d := New(st, zap.NewNop(), nil, []Target{{Name: "fv", Type: "flaky", Adapter: a, Concurrency: 2, MaxAttempts: maxAttempts, AckWait: 5 * time.Second}})
	require.NoError(t, d.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Stop(ctx)
		st.Close()
	})
	return st
}

func put(t *testing.T, st *store.Store, id string) {
	now := time.Now().UTC()
	_, err := st.Put(context.Background(), &store.Submission{Record: store.Record{ID: id, Sender: "p", Target: "fv", Rule: "r",
		Namespace: "urn:x", MessageType: "m.0001", ReceivedAt: now, ValidatedAt: now, RoutedAt: now}, Message: []byte("<m/>")})
	require.NoError(t, err)
}

func eventTypes(t *testing.T, st *store.Store, id string) []string {
	e, err := st.Get(context.Background(), id)
	require.NoError(t, err)
	evs, err := st.Events(context.Background(), e)
	require.NoError(t, err)
	var out []string
	for _, ev := range evs[4:] { // after received, validated, routed, queued
		out = append(out, ev.Type)
	}
	return out
}

func TestTransientFailureIsRetriedThenDelivered(t *testing.T) {
	a := &flaky{failures: 1, err: errors.New("connection refused"), got: map[string][]byte{}}
	st := setup(t, a, 5)
	put(t, st, "s1")
	require.Eventually(t, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.got["s1"] != nil
	}, 15*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return len(eventTypes(t, st, "s1")) == 2 }, 5*time.Second, 20*time.Millisecond)
	assert.Equal(t, []string{store.EventAttemptFailed, store.EventDelivered}, eventTypes(t, st, "s1"))
	assert.EqualValues(t, 2, a.calls.Load())
}

func TestPermanentFailureStopsAfterOneAttempt(t *testing.T) {
	a := &flaky{failures: 100, err: delivery.Permanent(errors.New("receiver answered 400")), got: map[string][]byte{}}
	st := setup(t, a, 5)
	put(t, st, "s2")
	require.Eventually(t, func() bool { return len(eventTypes(t, st, "s2")) == 1 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, []string{store.EventFailed}, eventTypes(t, st, "s2"))
	time.Sleep(1500 * time.Millisecond)
	assert.EqualValues(t, 1, a.calls.Load(), "no retry after a permanent failure")
}

func TestAttemptsExhausted(t *testing.T) {
	a := &flaky{failures: 100, err: errors.New("503"), got: map[string][]byte{}}
	st := setup(t, a, 2)
	put(t, st, "s3")
	require.Eventually(t, func() bool { return len(eventTypes(t, st, "s3")) == 2 }, 15*time.Second, 20*time.Millisecond)
	assert.Equal(t, []string{store.EventAttemptFailed, store.EventFailed}, eventTypes(t, st, "s3"))
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	prev := time.Duration(0)
	for attempt := 1; attempt <= 8; attempt++ {
		d := Backoff(attempt)
		base := time.Second << (attempt - 1)
		assert.GreaterOrEqual(t, d, time.Duration(float64(base)*0.8))
		assert.LessOrEqual(t, d, time.Duration(float64(base)*1.2))
		assert.Greater(t, d, prev/2)
		prev = d
	}
	assert.LessOrEqual(t, Backoff(30), time.Duration(float64(5*time.Minute)*1.2))
}
