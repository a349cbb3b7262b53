package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Purge deletes the content of submission e: its large message and
// attachments in the object store and every submission message of its id
// (the original and replayed copies). Before it deletes anything it keeps
// the record without content on drehscheibe.records.<id> and records a
// payload_deleted event, so that the status and the events still answer
// until the event retention ends. Every step can be repeated, by this or
// another replica, with the same outcome.
func (s *Store) Purge(ctx context.Context, e *Entry) error {
	if e.Purged {
		return nil
	}
	id := e.Record.ID
	_, err := s.events.GetLastMsgForSubject(ctx, RecordsPrefix+id)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		if err := s.keepRecord(ctx, e); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("%w: read record: %v", ErrUnavailable, err)
	}
	names := []string{id + "/message"}
	for _, a := range e.Record.Attachments {
		names = append(names, a.Object)
	}
	for _, n := range names {
		if err := s.payloads.Delete(ctx, n); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("%w: delete object %s: %v", ErrUnavailable, n, err)
		}
	}
	if err := s.subs.Purge(ctx, jetstream.WithPurgeSubject(SubmissionsPrefix+id+".*")); err != nil {
		return fmt.Errorf("%w: delete submission messages of %s: %v", ErrUnavailable, id, err)
	}
	return nil
}

// keepRecord stores the record of e without anything of the content:
// attachment names (which can name persons) and object references go.
func (s *Store) keepRecord(ctx context.Context, e *Entry) error {
	r := e.Record
	r.Attachments = nil
	for _, a := range e.Record.Attachments {
		r.Attachments = append(r.Attachments, Attachment{ContentType: a.ContentType, Size: a.Size, SHA256: a.SHA256})
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(RecordsPrefix + r.ID)
	msg.Header.Set(HdrRecord, string(b))
	msg.Header.Set(HdrQueuedAt, e.QueuedAt.UTC().Format(time.RFC3339Nano))
	msg.Header.Set(jetstream.MsgIDHeader, "rec:"+r.ID)
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("%w: keep record: %v", ErrUnavailable, err)
	}
	ev := Event{Type: EventPayloadDeleted, Detail: "message and attachments deleted after the payload retention"}
	return s.AppendOnce(ctx, r.ID, "purged:"+r.ID, ev)
}

// purgedRecord returns the record kept for a purged submission id.
func (s *Store) purgedRecord(ctx context.Context, id string) (*Entry, error) {
	m, err := s.events.GetLastMsgForSubject(ctx, RecordsPrefix+id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	r, err := decodeRecord(m.Header)
	if err != nil {
		return nil, err
	}
	return &Entry{Record: r, QueuedAt: queuedAt(m.Header, m.Time), Purged: true}, nil
}
