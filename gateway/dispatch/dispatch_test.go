package dispatch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/gateway/delivery"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// flaky is an adapter whose answers the test scripts: it fails the first
// failures attempts with err, then takes the message.
type flaky struct {
	failures atomic.Int32
	err      error
	calls    atomic.Int32
	mu       sync.Mutex
	got      map[string][]byte
}

func newFlaky(failures int32, err error) *flaky {
	f := &flaky{err: err, got: map[string][]byte{}}
	f.failures.Store(failures)
	return f
}

func (f *flaky) Deliver(_ context.Context, d *delivery.Delivery) error {
	if f.calls.Add(1) <= f.failures.Load() {
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

func (f *flaky) delivered(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got[id] != nil
}

// setup starts an embedded JetStream and a dispatcher for target t.
func setup(t *testing.T, tg Target) *store.Store {
	st, err := store.Open(context.Background(), store.Options{Embedded: true, DataDir: t.TempDir(), SyncAlways: true, EventRetention: time.Hour, DuplicateWindow: time.Minute})
	require.NoError(t, err)
	if tg.Name == "" {
		tg.Name = "fv"
	}
	if tg.Type == "" {
		tg.Type = "flaky"
	}
	if tg.AckWait == 0 {
		tg.AckWait = 5 * time.Second
	}
	tg.Concurrency = 2
	d := New(st, zap.NewNop(), nil, []Target{tg})
	require.NoError(t, d.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Stop(ctx)
		st.Close()
	})
	return st
}

func put(t *testing.T, st *store.Store, id, target string) {
	now := time.Now().UTC()
	_, err := st.Put(context.Background(), &store.Submission{Record: store.Record{ID: id, Sender: "p", Target: target, Rule: "r",
		Namespace: "urn:x", MessageType: "m.0001", ReceivedAt: now, ValidatedAt: now, RoutedAt: now}, Message: []byte("<m/>")})
	require.NoError(t, err)
}

// deliveryEvents returns the events of id after the four intake events.
func deliveryEvents(t *testing.T, st *store.Store, id string) []store.Event {
	e, err := st.Get(context.Background(), id)
	require.NoError(t, err)
	evs, err := st.Events(context.Background(), e)
	require.NoError(t, err)
	return evs[4:]
}

func eventTypes(t *testing.T, st *store.Store, id string) []string {
	var out []string
	for _, ev := range deliveryEvents(t, st, id) {
		out = append(out, ev.Type)
	}
	return out
}

// waitEvents waits until id has n delivery events.
func waitEvents(t *testing.T, st *store.Store, id string, n int, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return len(deliveryEvents(t, st, id)) >= n }, within, 20*time.Millisecond,
		"%s: want %d delivery events", id, n)
}

// deadLetter waits for the dead letter of id; its event is recorded a
// moment before it.
func deadLetter(t *testing.T, st *store.Store, id string) *store.DeadLetter {
	t.Helper()
	var dl *store.DeadLetter
	require.Eventually(t, func() bool {
		var err error
		dl, err = st.DeadLetter(context.Background(), id)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "no dead letter for %s", id)
	return dl
}

func status(t *testing.T, st *store.Store, id string) string {
	e, err := st.Get(context.Background(), id)
	require.NoError(t, err)
	s, _, err := st.State(context.Background(), e)
	require.NoError(t, err)
	return s
}

func TestTransientFailureIsRetriedThenDelivered(t *testing.T) {
	a := newFlaky(1, errors.New("connection refused"))
	st := setup(t, Target{Adapter: a, MaxAttempts: 5, RetryInitial: 100 * time.Millisecond, RetryMax: time.Second})
	put(t, st, "s1", "fv")
	require.Eventually(t, func() bool { return a.delivered("s1") }, 15*time.Second, 20*time.Millisecond)
	waitEvents(t, st, "s1", 2, 5*time.Second)
	assert.Equal(t, []string{store.EventAttemptFailed, store.EventDelivered}, eventTypes(t, st, "s1"))
	assert.EqualValues(t, 2, a.calls.Load())
}

func TestPermanentFailureIsDeadLetteredAfterOneAttempt(t *testing.T) {
	a := newFlaky(100, delivery.Permanent(errors.New("receiver answered 400")))
	st := setup(t, Target{Adapter: a, MaxAttempts: 5, RetryInitial: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	put(t, st, "s2", "fv")
	waitEvents(t, st, "s2", 1, 10*time.Second)
	time.Sleep(500 * time.Millisecond) // five retry delays: a retry would show now
	assert.EqualValues(t, 1, a.calls.Load(), "no retry after a permanent failure")
	assert.Equal(t, []string{store.EventDeadLettered}, eventTypes(t, st, "s2"))
	assert.Equal(t, store.EventDeadLettered, status(t, st, "s2"))

	dl := deadLetter(t, st, "s2")
	assert.Equal(t, store.ReasonPermanent, dl.Reason)
	assert.Equal(t, 1, dl.Attempts)
	assert.Equal(t, "fv", dl.Target)
	assert.Contains(t, dl.Error, "receiver answered 400")

	// The receiver is fixed; a replay delivers the same id.
	a.failures.Store(0)
	require.NoError(t, st.Replay(context.Background(), dl))
	require.Eventually(t, func() bool { return a.delivered("s2") }, 10*time.Second, 20*time.Millisecond)
	waitEvents(t, st, "s2", 3, 5*time.Second)
	assert.Equal(t, []string{store.EventDeadLettered, store.EventReplayed, store.EventDelivered}, eventTypes(t, st, "s2"))
	assert.Equal(t, 1, deliveryEvents(t, st, "s2")[2].Attempt, "a replay starts again at attempt 1")
	_, err := st.DeadLetter(context.Background(), "s2")
	assert.ErrorIs(t, err, store.ErrNotFound, "the dead letter is gone after the replay")
}

func TestExhaustedAttemptsBackOffThenDeadLetter(t *testing.T) {
	a := newFlaky(100, errors.New("receiver answered 503"))
	initial := 200 * time.Millisecond
	st := setup(t, Target{Adapter: a, MaxAttempts: 3, RetryInitial: initial, RetryMax: time.Second})
	put(t, st, "s3", "fv")
	waitEvents(t, st, "s3", 3, 15*time.Second)
	evs := deliveryEvents(t, st, "s3")
	assert.Equal(t, []string{store.EventAttemptFailed, store.EventAttemptFailed, store.EventDeadLettered}, eventTypes(t, st, "s3"))
	for i, ev := range evs {
		assert.Equal(t, i+1, ev.Attempt)
	}
	// The waits follow the backoff, with its −20 % jitter as the floor.
	assert.GreaterOrEqual(t, evs[1].At.Sub(evs[0].At), time.Duration(0.8*float64(initial)))
	assert.GreaterOrEqual(t, evs[2].At.Sub(evs[1].At), time.Duration(0.8*float64(2*initial)))
	assert.EqualValues(t, 3, a.calls.Load())

	dl := deadLetter(t, st, "s3")
	assert.Equal(t, store.ReasonExhausted, dl.Reason)
	assert.Equal(t, 3, dl.Attempts)
	assert.Contains(t, dl.Error, "503")
}

func TestMaxAgeEndsRetries(t *testing.T) {
	a := newFlaky(100, errors.New("connection refused"))
	st := setup(t, Target{Adapter: a, MaxAttempts: 100, RetryInitial: 400 * time.Millisecond, RetryMax: 400 * time.Millisecond, MaxAge: 300 * time.Millisecond})
	put(t, st, "s4", "fv")
	waitEvents(t, st, "s4", 2, 10*time.Second)
	assert.Equal(t, []string{store.EventAttemptFailed, store.EventDeadLettered}, eventTypes(t, st, "s4"))
	dl := deadLetter(t, st, "s4")
	assert.Equal(t, store.ReasonMaxAge, dl.Reason)
	assert.EqualValues(t, 1, a.calls.Load(), "a message past its max age is not tried again")
}

// externalAdapter is a vendor adapter's side of the NATS contract: it binds
// to the target's consumer and answers each of n messages with answer. Then
// it pulls once more, as a running adapter does, and gets nothing: JetStream
// notices a message's last Nak when it looks for the next message to hand out.
func externalAdapter(t *testing.T, st *store.Store, target string, n int, answer func(jetstream.Msg, int)) {
	ctx := context.Background()
	c, err := st.JetStream().Consumer(ctx, store.SubmissionsStream, ConsumerName(target))
	require.NoError(t, err)
	for got := 0; got < n; {
		b, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		for m := range b.Messages() {
			got++
			md, err := m.Metadata()
			require.NoError(t, err)
			answer(m, int(md.NumDelivered))
		}
		require.NoError(t, b.Error())
	}
	b, err := c.Fetch(1, jetstream.FetchMaxWait(500*time.Millisecond))
	require.NoError(t, err)
	for range b.Messages() {
		t.Error("a message came again after its last attempt")
	}
}

func TestExternalTargetFailuresBecomeDeadLetters(t *testing.T) {
	st := setup(t, Target{Name: "ext", Type: "external", MaxAttempts: 2, AckWait: 2 * time.Second})
	ctx := context.Background()
	put(t, st, "x1", "ext")
	// The vendor adapter fails twice, reporting each attempt as the contract says.
	externalAdapter(t, st, "ext", 2, func(m jetstream.Msg, attempt int) {
		require.NoError(t, st.Append(ctx, "x1", store.Event{Type: store.EventAttemptFailed, Target: "ext", Attempt: attempt, Error: "Fachverfahren down"}))
		require.NoError(t, m.Nak())
	})
	dl := deadLetter(t, st, "x1")
	assert.Equal(t, store.ReasonExhausted, dl.Reason)
	assert.Equal(t, 2, dl.Attempts)
	assert.Equal(t, "Fachverfahren down", dl.Error, "the last error the adapter reported")
	waitEvents(t, st, "x1", 3, 5*time.Second)
	assert.Equal(t, store.EventDeadLettered, status(t, st, "x1"))

	// A terminated message, with the reason given to Term.
	put(t, st, "x2", "ext")
	externalAdapter(t, st, "ext", 1, func(m jetstream.Msg, _ int) { require.NoError(t, m.TermWithReason("not for this Fachverfahren")) })
	dl = deadLetter(t, st, "x2")
	assert.Equal(t, store.ReasonTerminated, dl.Reason)
	assert.Equal(t, "not for this Fachverfahren", dl.Error)
	assert.Equal(t, 1, dl.Attempts)
	assert.Equal(t, []string{store.EventDeadLettered}, eventTypes(t, st, "x2"), "one event, however many replicas saw the advisory")
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	for attempt := 1; attempt <= 8; attempt++ {
		d := Backoff(attempt, time.Second, 5*time.Minute)
		base := time.Second << (attempt - 1)
		assert.GreaterOrEqual(t, d, time.Duration(float64(base)*0.8))
		assert.LessOrEqual(t, d, time.Duration(float64(base)*1.2))
	}
	for _, attempt := range []int{10, 30, 1000} {
		assert.LessOrEqual(t, Backoff(attempt, time.Second, 5*time.Minute), time.Duration(float64(5*time.Minute)*1.2))
		assert.GreaterOrEqual(t, Backoff(attempt, time.Second, 5*time.Minute), time.Duration(float64(5*time.Minute)*0.8))
	}
	assert.LessOrEqual(t, Backoff(3, 100*time.Millisecond, 150*time.Millisecond), 180*time.Millisecond)
}

// The receiver's Retry-After lengthens the wait up to retry.max; it never
// shortens the backoff.
func TestRetryAfterBoundsTheWait(t *testing.T) {
	tg := Target{RetryInitial: time.Second, RetryMax: 10 * time.Second}
	refused := func(d time.Duration) error { return delivery.RetryAfter(errors.New("503"), d) }

	d, asked := retryDelay(tg, 1, refused(3*time.Second))
	assert.GreaterOrEqual(t, d, 3*time.Second, "longer than the backoff of about 1 s: the receiver's wait")
	assert.LessOrEqual(t, d, 3600*time.Millisecond, "varied upwards by at most 20 %")
	assert.True(t, asked)
	d, asked = retryDelay(tg, 1, refused(time.Hour))
	assert.GreaterOrEqual(t, d, 10*time.Second)
	assert.LessOrEqual(t, d, 12*time.Second, "never beyond retry.max (varied like the backoff)")
	assert.True(t, asked)
	d, asked = retryDelay(tg, 4, refused(time.Second))
	assert.GreaterOrEqual(t, d, 6400*time.Millisecond, "a shorter Retry-After does not shorten the backoff of about 8 s")
	assert.False(t, asked)
	d, asked = retryDelay(tg, 1, errors.New("connection refused"))
	assert.LessOrEqual(t, d, 1200*time.Millisecond)
	assert.False(t, asked)
}
