package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Event types in a submission's log. received, validated, routed and queued are
// derived from the submission message itself (one durable write on intake);
// the rest are messages on drehscheibe.events.<id>.
const (
	EventReceived       = "received"
	EventValidated      = "validated"
	EventRouted         = "routed"
	EventQueued         = "queued"
	EventAttemptFailed  = "delivery_failed" // one attempt failed; the gateway retries
	EventDelivered      = "delivered"
	EventFailed         = "failed" // permanent failure or attempts exhausted
	EventFetched        = "fetched"
	EventClosed         = "closed"
	EventDeadLettered   = "dead_lettered"
	EventReplayed       = "replayed"
	EventStatusReported = "status"    // free-form progress from a vendor adapter
	EventCancelled      = "cancelled" // the author withdrew the message before delivery (XTA cancelMessage)
)

// Event is one entry of a submission's event log.
type Event struct {
	Type    string    `json:"type"`
	At      time.Time `json:"at"`
	Target  string    `json:"target,omitempty"`
	Adapter string    `json:"adapter,omitempty"`
	Attempt int       `json:"attempt,omitempty"`
	Error   string    `json:"error,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// Append adds an event to the log of submission id and waits until JetStream stored it.
func (s *Store) Append(ctx context.Context, id string, e Event) error {
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := s.js.Publish(ctx, EventsPrefix+id, b); err != nil {
		return fmt.Errorf("%w: append event: %v", ErrUnavailable, err)
	}
	return nil
}

// Events returns the log of submission e: the intake events from its record
// followed by the stored events in order. Encrypted content has no
// validated event: it was stored without being read.
func (s *Store) Events(ctx context.Context, e *Entry) ([]Event, error) {
	r := e.Record
	out := []Event{{Type: EventReceived, At: r.ReceivedAt}}
	if !r.Encrypted {
		out = append(out, Event{Type: EventValidated, At: r.ValidatedAt, Detail: r.Standard + " " + r.Version + " " + r.MessageType})
	}
	out = append(out,
		Event{Type: EventRouted, At: r.RoutedAt, Target: r.Target, Detail: "rule " + r.Rule},
		Event{Type: EventQueued, At: e.QueuedAt, Target: r.Target},
	)
	subj := EventsPrefix + r.ID
	var seq uint64 = 1
	for {
		m, err := s.events.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: read events: %v", ErrUnavailable, err)
		}
		var ev Event
		if err := json.Unmarshal(m.Data, &ev); err == nil {
			out = append(out, ev)
		}
		seq = m.Sequence + 1
	}
}

// Cancelled reports whether the log of submission id holds a cancelled event.
func (s *Store) Cancelled(ctx context.Context, id string) (bool, error) {
	e, err := s.Get(ctx, id)
	if err != nil {
		return false, err
	}
	evs, err := s.Events(ctx, e)
	if err != nil {
		return false, err
	}
	for _, ev := range evs {
		if ev.Type == EventCancelled {
			return true, nil
		}
	}
	return false, nil
}

// Status condenses an event log into one word: queued, retrying, delivered,
// fetched, closed, failed or cancelled.
func Status(events []Event) string {
	st := EventQueued
	for _, e := range events {
		switch e.Type {
		case EventAttemptFailed:
			st = "retrying"
		case EventDelivered, EventFetched, EventClosed, EventFailed, EventDeadLettered, EventCancelled:
			st = e.Type
		case EventReplayed:
			st = EventQueued
		}
	}
	return st
}
