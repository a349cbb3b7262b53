package store

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Embedded: true, DataDir: dir, SyncAlways: true, DuplicateWindow: time.Hour, EventRetention: 24 * time.Hour})
	require.NoError(t, err)
	return s
}

func record(id string) Record {
	now := time.Now().UTC()
	return Record{ID: id, Sender: "portal", Target: "fv", Rule: "all", Namespace: "urn:x", MessageType: "a.b.0001",
		RequestSHA256: "r-" + id, ReceivedAt: now, ValidatedAt: now, RoutedAt: now}
}

func TestPutGetSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	msg := []byte("<a/>")
	st, err := s.Put(ctx, &Submission{Record: record("id-1"), Message: msg})
	require.NoError(t, err)
	assert.False(t, st.Duplicate)
	require.NoError(t, s.Append(ctx, "id-1", Event{Type: EventDelivered, Target: "fv", Attempt: 1}))
	s.Close()

	// What was acknowledged is there after a restart of the embedded server.
	s = open(t, dir)
	defer s.Close()
	e, err := s.Get(ctx, "id-1")
	require.NoError(t, err)
	assert.Equal(t, "portal", e.Record.Sender)
	evs, err := s.Events(ctx, e)
	require.NoError(t, err)
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	assert.Equal(t, []string{EventReceived, EventValidated, EventRouted, EventQueued, EventDelivered}, types)
	assert.Equal(t, EventDelivered, Status(evs))

	_, err = s.Get(ctx, "nope")
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = s.Get(ctx, "id-1.>")
	assert.ErrorIs(t, err, ErrNotFound, "subject wildcards in ids are refused")
}

func TestIdempotencyKey(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	first, err := s.Put(ctx, &Submission{Record: record("id-a"), Message: []byte("<a/>"), IdempotencyKey: "k1"})
	require.NoError(t, err)
	r := record("id-b")
	r.RequestSHA256 = first.Record.RequestSHA256
	again, err := s.Put(ctx, &Submission{Record: r, Message: []byte("<a/>"), IdempotencyKey: "k1"})
	require.NoError(t, err)
	assert.True(t, again.Duplicate)
	assert.Equal(t, "id-a", again.Record.ID)

	_, err = s.Put(ctx, &Submission{Record: record("id-c"), Message: []byte("<b/>"), IdempotencyKey: "k1"})
	assert.ErrorIs(t, err, ErrIdempotencyConflict)

	// The same key from another sender is another submission.
	r = record("id-d")
	r.Sender = "other"
	other, err := s.Put(ctx, &Submission{Record: r, Message: []byte("<a/>"), IdempotencyKey: "k1"})
	require.NoError(t, err)
	assert.False(t, other.Duplicate)
}

func TestLargeMessageAndAttachmentsGoToObjectStore(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	big := bytes.Repeat([]byte("x"), 3<<20)
	att := []byte("attachment")
	r := record("id-big")
	r.Attachments = []Attachment{{Name: "a.txt", ContentType: "text/plain", Size: int64(len(att))}}
	_, err := s.Put(ctx, &Submission{Record: r, Message: big, Attachments: [][]byte{att}})
	require.NoError(t, err)

	m, err := s.subs.GetLastMsgForSubject(ctx, Subject("id-big", "fv"))
	require.NoError(t, err)
	assert.Empty(t, m.Data, "the message travels as a reference")
	mrc, err := s.OpenMessage(ctx, m.Header, m.Data)
	require.NoError(t, err)
	got, err := io.ReadAll(mrc)
	require.NoError(t, err)
	assert.Equal(t, big, got)
	require.NoError(t, mrc.Close())

	e, err := s.Get(ctx, "id-big")
	require.NoError(t, err)
	rc, err := s.OpenObject(ctx, e.Record.Attachments[0].Object)
	require.NoError(t, err)
	b, _ := io.ReadAll(rc)
	assert.Equal(t, att, b)
}

func TestSyncAlwaysReachesTheEmbeddedServer(t *testing.T) {
	for _, sync := range []bool{true, false} {
		s, err := Open(context.Background(), Options{Embedded: true, DataDir: t.TempDir(), SyncAlways: sync})
		require.NoError(t, err)
		assert.Equal(t, sync, s.srv.JetStreamConfig().SyncAlways, "fsync before ack must follow the config")
		s.Close()
	}
}

// TestLeaderGetMatchesDirectGet checks the read that replicated stores fall
// back to when a follower does not know a message yet.
func TestLeaderGetMatchesDirectGet(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	_, err := s.Put(ctx, &Submission{Record: record("id-lead"), Message: []byte("<lead/>")})
	require.NoError(t, err)
	require.NoError(t, s.Append(ctx, "id-lead", Event{Type: EventDelivered, Target: "fv", Attempt: 1}))

	direct, err := s.subs.GetLastMsgForSubject(ctx, SubmissionsPrefix+"id-lead.*")
	require.NoError(t, err)
	lead, err := s.leaderGetMsg(ctx, SubmissionsStream, msgGet{LastFor: SubmissionsPrefix + "id-lead.*"})
	require.NoError(t, err)
	assert.Equal(t, direct.Sequence, lead.Sequence)
	assert.Equal(t, direct.Subject, lead.Subject)
	assert.Equal(t, direct.Data, lead.Data)
	assert.Equal(t, direct.Header.Get(HdrRecord), lead.Header.Get(HdrRecord))

	ev, err := s.leaderGetMsg(ctx, EventsStream, msgGet{Seq: 1, NextFor: EventsPrefix + "id-lead"})
	require.NoError(t, err)
	assert.Contains(t, string(ev.Data), EventDelivered)
	_, err = s.leaderGetMsg(ctx, EventsStream, msgGet{Seq: ev.Sequence + 1, NextFor: EventsPrefix + "id-lead"})
	assert.ErrorIs(t, err, jetstream.ErrMsgNotFound)
}

// Large messages and attachments are read back chunk by chunk, byte-identical.
func TestObjectsStreamBack(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	msg := bytes.Repeat([]byte("<m>message</m>\n"), 200_000) // 3 MB, above InlineLimit
	att := bytes.Repeat([]byte{0, 1, 2, 0xff, 'x'}, 1_000_000)
	r := record("big-1")
	r.MessageSize = int64(len(msg))
	r.Attachments = []Attachment{{Name: "a.bin", Size: int64(len(att))}, {Name: "empty.bin"}}
	st, err := s.Put(ctx, &Submission{Record: r, Message: msg, Attachments: [][]byte{att, {}}})
	require.NoError(t, err)

	rc, err := s.OpenSubmissionMessage(ctx, "big-1")
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(msg, got), "message")
	_, loaded, err := s.Load(ctx, "big-1")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(msg, loaded))
	for i, want := range [][]byte{att, {}} {
		rc, err := s.OpenObject(ctx, st.Record.Attachments[i].Object)
		require.NoError(t, err)
		got, err := io.ReadAll(rc)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(want, got), "attachment %d", i)
	}
	_, err = s.OpenObject(ctx, "no/such/object")
	assert.Error(t, err)
}
