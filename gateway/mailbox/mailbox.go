// Package mailbox keeps the gateway's message boxes: a box target delivers a
// message into the box of its reader (the Behördenkennung or XTA party
// identifier the message is addressed to), where it waits until the reader
// fetches and closes it. The XTA server (MsgBoxPort) and the REST inbox
// (/v1/inbox) both work on these boxes, so a message can be fetched over
// either protocol; closing it over one closes it for both.
//
// All state lives in the JetStream key-value bucket DREHSCHEIBE_XTA (its
// name dates from when only XTA had boxes), so every gateway replica
// answers the same way:
//
//	id.<sha256(lower(message id))>          → Message (submission, author, reader)
//	box.<sha256(reader)>.<submission id>    → Entry
package mailbox

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/drehscheibe/drehscheibe/gateway/kvjson"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// The target types of message boxes. Type is the name for new
// configurations; XTAType is the older name, kept as a synonym.
const (
	Type    = "box"
	XTAType = "xta-box"
)

// IsType reports whether a target type is a message box.
func IsType(typ string) bool { return typ == Type || typ == XTAType }

// Bucket is the key-value bucket of the boxes and the message id index.
const Bucket = "DREHSCHEIBE_XTA"

// ErrNotFound is returned for a message id or box entry that does not exist.
var ErrNotFound = kvjson.ErrNotFound

// Message is what the gateway knows about an XTA message id.
type Message struct {
	Submission string `json:"submission"`
	Author     string `json:"author"`
	Reader     string `json:"reader"`
}

// Entry is a message waiting in a reader's box.
type Entry struct {
	Submission string `json:"submission"`
	MessageID  string `json:"message_id"`
	Reader     string `json:"reader"`
	Target     string `json:"target"`
	// Type is the target's type; empty in entries written before "box" existed: xta-box.
	Type         string    `json:"type,omitempty"`
	Delivered    time.Time `json:"delivered"`
	InitialFetch time.Time `json:"initial_fetch,omitempty"`
	Size         int64     `json:"size"`
	Scenario     string    `json:"scenario"`
}

// Adapter is the adapter name the entry's events carry: its target's type.
func (e *Entry) Adapter() string {
	if e.Type == "" {
		return XTAType
	}
	return e.Type
}

// Boxes are the message boxes in JetStream.
type Boxes struct {
	kv jetstream.KeyValue
	st *store.Store
	// instanceID prefixes the message ids the gateway makes for messages
	// that came without one (urn:de:xta:messageid:<instance>:<submission>).
	instanceID string
}

// Open creates (or opens) the bucket. Entries live as long as the events
// of their submission (nats.event_retention).
func Open(ctx context.Context, st *store.Store, instanceID string) (*Boxes, error) {
	kv, err := st.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "drehscheibe message boxes and XTA message ids",
		Storage: jetstream.FileStorage, Replicas: st.Replicas(), TTL: st.EventRetention(),
	})
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", Bucket, err)
	}
	return &Boxes{kv: kv, st: st, instanceID: instanceID}, nil
}

// idKey is the key of a message id; ids compare case-insensitively.
func idKey(id string) string { return "id." + kvjson.Hash(strings.ToLower(strings.TrimSpace(id))) }

func boxPrefix(reader string) string { return "box." + kvjson.Hash(reader) }

func boxKey(reader, submission string) string { return boxPrefix(reader) + "." + submission }

// Message returns what is known about an XTA message id, or ErrNotFound.
func (b *Boxes) Message(ctx context.Context, id string) (*Message, error) {
	var m Message
	if err := kvjson.Get(ctx, b.kv, idKey(id), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// IndexMessage records the submission of an XTA message id unless the id
// is taken; it reports whether it recorded.
func (b *Boxes) IndexMessage(ctx context.Context, id string, m Message) (bool, error) {
	return kvjson.Create(ctx, b.kv, idKey(id), m)
}

// List returns the entries of the boxes of readers, oldest first (by
// arrival, then by submission id, which is time-ordered).
func (b *Boxes) List(ctx context.Context, readers ...string) ([]Entry, error) {
	var out []Entry
	for _, r := range readers {
		lister, err := b.kv.ListKeysFiltered(ctx, boxPrefix(r)+".*")
		if err != nil {
			return nil, err
		}
		for k := range lister.Keys() {
			var e Entry
			if err := kvjson.Get(ctx, b.kv, k, &e); err == nil {
				out = append(out, e)
			}
		}
	}
	Sort(out)
	return out, nil
}

// Sort orders entries by arrival, then by submission id.
func Sort(es []Entry) {
	sort.Slice(es, func(i, j int) bool { return es[i].Before(&es[j]) })
}

// Before reports whether e sorts before o: earlier arrival, or the same
// arrival and a smaller submission id.
func (e *Entry) Before(o *Entry) bool {
	if !e.Delivered.Equal(o.Delivered) {
		return e.Delivered.Before(o.Delivered)
	}
	return e.Submission < o.Submission
}

// Get returns the entry of submission in the box of one of readers, or ErrNotFound.
func (b *Boxes) Get(ctx context.Context, submission string, readers ...string) (*Entry, error) {
	for _, r := range readers {
		var e Entry
		err := kvjson.Get(ctx, b.kv, boxKey(r, submission), &e)
		if err == nil {
			return &e, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	return nil, ErrNotFound
}

// MarkFetched records the first fetch of e: its InitialFetch and the event
// fetched with detail (who fetched how). Later fetches change nothing.
func (b *Boxes) MarkFetched(ctx context.Context, e *Entry, detail string) error {
	if !e.InitialFetch.IsZero() {
		return nil
	}
	e.InitialFetch = time.Now().UTC()
	if err := kvjson.Put(ctx, b.kv, boxKey(e.Reader, e.Submission), e); err != nil {
		return err
	}
	return b.st.Append(ctx, e.Submission, store.Event{Type: store.EventFetched, Target: e.Target, Adapter: e.Adapter(), Detail: detail})
}

// Close takes submission out of reader's box with the event closed
// (detail: who closed how). A submission no longer in the box is ErrNotFound.
func (b *Boxes) Close(ctx context.Context, reader, submission, detail string) error {
	e, err := b.Get(ctx, submission, reader)
	if err != nil {
		return err
	}
	if err := b.st.Append(ctx, submission, store.Event{Type: store.EventClosed, Target: e.Target, Adapter: e.Adapter(), Detail: detail}); err != nil {
		return err
	}
	return b.kv.Delete(ctx, boxKey(reader, submission))
}

// Remove takes submission out of reader's box without an event (the
// author cancelled it; the caller records that).
func (b *Boxes) Remove(ctx context.Context, reader, submission string) error {
	return b.kv.Delete(ctx, boxKey(reader, submission))
}
