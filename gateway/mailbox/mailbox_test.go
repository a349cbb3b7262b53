package mailbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/gateway/delivery"
	"github.com/drehscheibe/drehscheibe/gateway/mailbox"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

func setup(t *testing.T) (*store.Store, *mailbox.Boxes) {
	st, err := store.Open(context.Background(), store.Options{Embedded: true, DataDir: t.TempDir(), SyncAlways: true,
		DuplicateWindow: time.Minute, EventRetention: 48 * time.Hour})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	b, err := mailbox.Open(context.Background(), st, "inst")
	require.NoError(t, err)
	return st, b
}

// deliver stores submission id for reader and delivers it through the box target "inbox".
func deliver(t *testing.T, st *store.Store, b *mailbox.Boxes, id, reader string) error {
	ctx := context.Background()
	now := time.Now().UTC()
	_, err := st.Put(ctx, &store.Submission{Record: store.Record{ID: id, Sender: "p", Target: "inbox", Rule: "r", Namespace: "urn:x",
		MessageType: "m.0001", Reader: reader, ReceivedAt: now, ValidatedAt: now, RoutedAt: now}, Message: []byte("<m/>")})
	require.NoError(t, err)
	return b.Adapter("inbox", mailbox.Type).Deliver(ctx, &delivery.Delivery{SubmissionID: id, Target: "inbox", Reader: reader,
		Namespace: "urn:x", Message: delivery.Content{Size: 4}})
}

func events(t *testing.T, st *store.Store, id string) []string {
	e, err := st.Get(context.Background(), id)
	require.NoError(t, err)
	evs, err := st.Events(context.Background(), e)
	require.NoError(t, err)
	var out []string
	for _, ev := range evs {
		if ev.Type == store.EventFetched || ev.Type == store.EventClosed {
			out = append(out, ev.Type+" "+ev.Adapter+" "+ev.Detail)
		}
	}
	return out
}

// TestBoxes walks entries through the boxes: delivered (idempotently) into
// the box of their reader, listed across a reader's identifiers oldest
// first, invisible to other readers, fetched once, closed once.
func TestBoxes(t *testing.T) {
	ctx := context.Background()
	st, b := setup(t)
	require.NoError(t, deliver(t, st, b, "s1", "ags:1"))
	require.NoError(t, deliver(t, st, b, "s2", "ags:2"))
	require.NoError(t, deliver(t, st, b, "s3", "ags:1"))
	require.NoError(t, b.Adapter("inbox", mailbox.Type).Deliver(ctx, &delivery.Delivery{SubmissionID: "s1", Reader: "ags:1"}), "a second delivery is no error")

	all, err := b.List(ctx, "ags:1", "ags:2")
	require.NoError(t, err)
	var ids []string
	for _, e := range all {
		ids = append(ids, e.Submission)
	}
	assert.Equal(t, []string{"s1", "s2", "s3"}, ids, "oldest first across identifiers, each once")
	assert.Equal(t, "urn:de:xta:messageid:inst:s1", all[0].MessageID)
	m, err := b.Message(ctx, "URN:DE:XTA:MESSAGEID:INST:S1")
	require.NoError(t, err, "message ids compare case-insensitively")
	assert.Equal(t, "s1", m.Submission)

	_, err = b.Get(ctx, "s1", "ags:2")
	assert.ErrorIs(t, err, mailbox.ErrNotFound, "another reader's entry")
	e, err := b.Get(ctx, "s1", "ags:2", "ags:1")
	require.NoError(t, err)
	require.NoError(t, b.MarkFetched(ctx, e, "by test"))
	require.NoError(t, b.MarkFetched(ctx, e, "by test again"))
	e, err = b.Get(ctx, "s1", "ags:1")
	require.NoError(t, err)
	assert.False(t, e.InitialFetch.IsZero())

	assert.ErrorIs(t, b.Close(ctx, "ags:2", "s1", "wrong reader"), mailbox.ErrNotFound)
	require.NoError(t, b.Close(ctx, "ags:1", "s1", "closed by test"))
	assert.ErrorIs(t, b.Close(ctx, "ags:1", "s1", "twice"), mailbox.ErrNotFound)
	assert.Equal(t, []string{"fetched box by test", "closed box closed by test"}, events(t, st, "s1"))
	left, err := b.List(ctx, "ags:1")
	require.NoError(t, err)
	require.Len(t, left, 1)
	assert.Equal(t, "s3", left[0].Submission)
}

// TestDeliverWithoutReader checks that a message naming no reader is refused for good.
func TestDeliverWithoutReader(t *testing.T) {
	st, b := setup(t)
	err := deliver(t, st, b, "s1", "")
	require.Error(t, err)
	assert.True(t, delivery.IsPermanent(err), "%v", err)
}
