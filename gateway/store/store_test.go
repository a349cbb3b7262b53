package store

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Embedded: true, DataDir: dir, SyncAlways: true, DuplicateWindow: time.Hour, MaxAge: 24 * time.Hour})
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
	got, err := s.Message(ctx, m.Header, m.Data)
	require.NoError(t, err)
	assert.Equal(t, big, got)

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
