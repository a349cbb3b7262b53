package retention

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/gateway/store"
)

type counter struct{ dead, purged int }

func (c *counter) DeadLettered(string, string) { c.dead++ }
func (c *counter) Purged()                     { c.purged++ }

func setup(t testing.TB) (*store.Store, *Janitor, *counter) {
	st, err := store.Open(context.Background(), store.Options{Embedded: true, DataDir: t.TempDir(), SyncAlways: true,
		DuplicateWindow: time.Minute, EventRetention: 48 * time.Hour})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	c := &counter{}
	j := &Janitor{Store: st, Log: zap.NewNop(), Obs: c, PayloadRetention: time.Hour, Interval: time.Hour,
		Targets: map[string]Target{"fv": {Type: "webhook", MaxAge: 24 * time.Hour, Grace: 10 * time.Minute}},
		Default: Target{MaxAge: 48 * time.Hour}}
	return st, j, c
}

func put(t testing.TB, st *store.Store, id string, attachment []byte) {
	now := time.Now().UTC()
	r := store.Record{ID: id, Sender: "p", Target: "fv", Rule: "r", Namespace: "urn:x", MessageType: "m.0001",
		ReceivedAt: now, ValidatedAt: now, RoutedAt: now}
	var atts [][]byte
	if attachment != nil {
		r.Attachments = []store.Attachment{{Name: "a.pdf", ContentType: "application/pdf", Size: int64(len(attachment))}}
		atts = [][]byte{attachment}
	}
	_, err := st.Put(context.Background(), &store.Submission{Record: r, Message: []byte("<m/>"), Attachments: atts})
	require.NoError(t, err)
}

func state(t *testing.T, st *store.Store, id string) (*store.Entry, string, []store.Event) {
	e, err := st.Get(context.Background(), id)
	require.NoError(t, err)
	s, evs, err := st.State(context.Background(), e)
	require.NoError(t, err)
	return e, s, evs
}

// at runs the janitor as if the clock showed now+d.
func at(t *testing.T, j *Janitor, d time.Duration) Report {
	j.Now = func() time.Time { return time.Now().Add(d) }
	rep, err := j.RunOnce(context.Background())
	require.NoError(t, err)
	return rep
}

func TestDeliveredContentIsPurgedAfterRetention(t *testing.T) {
	st, j, c := setup(t)
	ctx := context.Background()
	put(t, st, "done", []byte("pdf"))
	put(t, st, "waiting", nil)
	require.NoError(t, st.Append(ctx, "done", store.Event{Type: store.EventDelivered, Target: "fv", Attempt: 1}))

	assert.Equal(t, Report{}, at(t, j, 30*time.Minute), "nothing is old enough")
	rep := at(t, j, 2*time.Hour)
	assert.Equal(t, 1, rep.Purged)
	assert.Equal(t, 1, c.purged)

	e, status, evs := state(t, st, "done")
	assert.True(t, e.Purged)
	assert.Equal(t, store.EventDelivered, status, "the status survives the content")
	assert.Equal(t, store.EventPayloadDeleted, evs[len(evs)-1].Type)
	_, err := st.OpenObject(ctx, "done/attachments/0")
	assert.Error(t, err, "the attachment is deleted")

	e, status, _ = state(t, st, "waiting")
	assert.False(t, e.Purged, "an undelivered submission keeps its content")
	assert.Equal(t, store.EventQueued, status)

	assert.Equal(t, 0, at(t, j, 2*time.Hour).Purged, "a second run finds nothing more")
}

func TestUndeliveredPastMaxAgeBecomesDeadLetter(t *testing.T) {
	st, j, c := setup(t)
	ctx := context.Background()
	put(t, st, "old", []byte("pdf"))
	require.NoError(t, st.Append(ctx, "old", store.Event{Type: store.EventAttemptFailed, Target: "fv", Attempt: 4, Error: "503"}))

	assert.Equal(t, 0, at(t, j, 24*time.Hour+5*time.Minute).DeadLettered, "within max age plus grace")
	rep := at(t, j, 25*time.Hour)
	assert.Equal(t, 1, rep.DeadLettered)
	assert.Equal(t, 1, c.dead)

	dl, err := st.DeadLetter(ctx, "old")
	require.NoError(t, err)
	assert.Equal(t, store.ReasonMaxAge, dl.Reason)
	assert.Equal(t, 4, dl.Attempts)
	_, status, evs := state(t, st, "old")
	assert.Equal(t, store.EventDeadLettered, status, "the status still answers after the message left the stream")
	assert.Equal(t, "webhook", evs[len(evs)-1].Adapter)
	_, err = st.NextSubmission(ctx, 1)
	assert.ErrorIs(t, err, store.ErrNotFound, "no adapter can deliver it behind the operator's back")

	// Dead letters keep their content however old they get; a replay brings it back.
	assert.Equal(t, Report{}, at(t, j, 1000*time.Hour))
	require.NoError(t, st.CheckContent(ctx, dl))
	require.NoError(t, st.Replay(ctx, dl))
	_, status, _ = state(t, st, "old")
	assert.Equal(t, store.EventQueued, status)
	assert.Equal(t, 0, at(t, j, time.Hour).DeadLettered, "max age counts from the replay")
}

func TestStaleDeadLetterBlocksPurge(t *testing.T) {
	st, j, _ := setup(t)
	ctx := context.Background()
	put(t, st, "both", nil)
	e, err := st.Get(ctx, "both")
	require.NoError(t, err)
	m, err := st.SubmissionAt(ctx, e.Sequence)
	require.NoError(t, err)
	_, err = st.PutDeadLetter(ctx, m, &store.DeadLetter{Reason: store.ReasonTerminated})
	require.NoError(t, err)
	// An external adapter delivered it after all.
	require.NoError(t, st.Append(ctx, "both", store.Event{Type: store.EventDelivered, Target: "fv"}))

	assert.Equal(t, 0, at(t, j, 3*time.Hour).Purged, "the dead letter still refers to the content")
	dl, err := st.DeadLetter(ctx, "both")
	require.NoError(t, err)
	require.NoError(t, st.CheckContent(ctx, dl))
}

// A message delivered into an XTA message box waits there until the reader
// closes it; only then may its content age out.
func TestBoxContentIsKeptUntilClosed(t *testing.T) {
	st, j, _ := setup(t)
	ctx := context.Background()
	j.Targets["fv"] = Target{Type: "xta-box", MaxAge: 24 * time.Hour, Box: true}
	put(t, st, "inbox", nil)
	require.NoError(t, st.Append(ctx, "inbox", store.Event{Type: store.EventDelivered, Target: "fv", Attempt: 1}))
	assert.Equal(t, 0, at(t, j, 2*time.Hour).Purged, "still in the box")
	require.NoError(t, st.Append(ctx, "inbox", store.Event{Type: store.EventFetched, Target: "fv"}))
	assert.Equal(t, 0, at(t, j, 2*time.Hour).Purged, "fetched but not closed")
	e, _, _ := state(t, st, "inbox")
	assert.False(t, e.Purged)

	require.NoError(t, st.Append(ctx, "inbox", store.Event{Type: store.EventClosed, Target: "fv"}))
	assert.Equal(t, 1, at(t, j, 2*time.Hour).Purged, "closed: the content may go")
}
