package store

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// submissionMsg reads the latest submission message of id.
func submissionMsg(t *testing.T, s *Store, id string) *SubmissionMsg {
	e, err := s.Get(context.Background(), id)
	require.NoError(t, err)
	m, err := s.SubmissionAt(context.Background(), e.Sequence)
	require.NoError(t, err)
	return m
}

func TestDeadLetterOncePerDelivery(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	_, err := s.Put(ctx, &Submission{Record: record("d1"), Message: []byte("<a/>")})
	require.NoError(t, err)
	m := submissionMsg(t, s, "d1")

	// The dispatcher, the advisory and a second replica all try.
	created, err := s.PutDeadLetter(ctx, m, &DeadLetter{Reason: ReasonPermanent, Attempts: 1, Error: "400"})
	require.NoError(t, err)
	assert.True(t, created)
	for range 2 {
		created, err = s.PutDeadLetter(ctx, m, &DeadLetter{Reason: ReasonTerminated, Attempts: 1})
		require.NoError(t, err)
		assert.False(t, created, "the same delivery is dead-lettered once")
	}
	n, err := s.CountDeadLetters(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	dl, err := s.DeadLetter(ctx, "d1")
	require.NoError(t, err)
	assert.Equal(t, ReasonPermanent, dl.Reason, "the first one stays")
	assert.Equal(t, "fv", dl.Target)
	assert.Equal(t, "portal", dl.Record.Sender)
	assert.Equal(t, m.Seq, dl.SubmissionSeq)

	// Replayed, the submission is a new delivery that may fail again.
	require.NoError(t, s.Replay(ctx, dl))
	require.NoError(t, s.Replay(ctx, dl), "an interrupted replay can be repeated")
	again := submissionMsg(t, s, "d1")
	assert.Greater(t, again.Seq, m.Seq)
	e, err := s.Get(ctx, "d1")
	require.NoError(t, err)
	assert.Equal(t, dl.QueuedAt.UnixNano(), e.QueuedAt.UnixNano(), "a replay keeps the first queueing time")
	rc, err := s.OpenMessage(ctx, again.Header, again.Data)
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	assert.Equal(t, []byte("<a/>"), got)
	created, err = s.PutDeadLetter(ctx, again, &DeadLetter{Reason: ReasonExhausted, Attempts: 3})
	require.NoError(t, err)
	assert.True(t, created)
	evs, err := s.Events(ctx, e)
	require.NoError(t, err)
	var replayed int
	for _, ev := range evs {
		if ev.Type == EventReplayed {
			replayed++
			assert.Equal(t, "queued again by the operator", ev.Detail)
		}
	}
	assert.Equal(t, 1, replayed, "one replayed event for the repeated replay")
}

func TestDeadLetterListPagesAndFilters(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	for i := range 5 {
		r := record(fmt.Sprintf("l%d", i))
		if i%2 == 1 {
			r.Target = "other"
		}
		_, err := s.Put(ctx, &Submission{Record: r, Message: []byte("<a/>")})
		require.NoError(t, err)
		_, err = s.PutDeadLetter(ctx, submissionMsg(t, s, r.ID), &DeadLetter{Reason: ReasonExhausted})
		require.NoError(t, err)
	}
	var ids []string
	var after uint64
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		list, next, err := s.DeadLetters(ctx, "", after, 2)
		require.NoError(t, err)
		for _, dl := range list {
			ids = append(ids, dl.ID)
		}
		if next == 0 {
			break
		}
		after = next
	}
	assert.Equal(t, []string{"l0", "l1", "l2", "l3", "l4"}, ids)
	list, next, err := s.DeadLetters(ctx, "other", 0, 100)
	require.NoError(t, err)
	assert.Zero(t, next)
	require.Len(t, list, 2)
	assert.Equal(t, "l1", list[0].ID)
	assert.Equal(t, "l3", list[1].ID)
}

func TestDiscard(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	for _, id := range []string{"kept", "gone"} {
		r := record(id)
		r.Attachments = []Attachment{{Name: "Personalausweis Erika Mustermann.pdf", ContentType: "application/pdf", Size: 3, SHA256: "abc"}}
		_, err := s.Put(ctx, &Submission{Record: r, Message: []byte("<a/>"), Attachments: [][]byte{[]byte("pdf")}})
		require.NoError(t, err)
		_, err = s.PutDeadLetter(ctx, submissionMsg(t, s, id), &DeadLetter{Reason: ReasonPermanent})
		require.NoError(t, err)
	}
	// "gone" left the submissions stream, as the janitor does past max age.
	require.NoError(t, s.DeleteSubmission(ctx, submissionMsg(t, s, "gone").Seq))

	for _, id := range []string{"kept", "gone"} {
		dl, err := s.DeadLetter(ctx, id)
		require.NoError(t, err)
		require.NoError(t, s.CheckContent(ctx, dl))
		require.NoError(t, s.Discard(ctx, dl))
		_, err = s.DeadLetter(ctx, id)
		assert.ErrorIs(t, err, ErrNotFound, "the dead letter is removed")
		e, err := s.Get(ctx, id)
		require.NoError(t, err, "the status still answers")
		st, _, err := s.State(ctx, e)
		require.NoError(t, err)
		assert.Equal(t, EventDiscarded, st)
		if id == "kept" {
			assert.False(t, e.Purged, "the content ages out with the retention")
			assert.NoError(t, s.CheckContent(ctx, dl))
			continue
		}
		// Nothing would meet "gone" again: its content goes at once.
		assert.True(t, e.Purged)
		assert.ErrorIs(t, s.CheckContent(ctx, dl), ErrContentGone)
		assert.Equal(t, "portal", e.Record.Sender)
		require.Len(t, e.Record.Attachments, 1)
		assert.Empty(t, e.Record.Attachments[0].Name, "attachment names can name persons; they go with the content")
		assert.Equal(t, int64(3), e.Record.Attachments[0].Size)
		_, evs, err := s.State(ctx, e)
		require.NoError(t, err)
		assert.Equal(t, EventPayloadDeleted, evs[len(evs)-1].Type)
	}
}
