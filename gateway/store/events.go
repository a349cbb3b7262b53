package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
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
	EventStatusReported = "status" // free-form progress from a vendor adapter
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

// Append adds an event to the log of submission id and waits until JetStream
// stored it. While JetStream cannot store (a lost connection, a cluster
// electing a stream leader) it retries until ctx ends; the retries carry one
// message id, so that an event stored by an attempt whose answer was lost is
// not stored twice.
func (s *Store) Append(ctx context.Context, id string, e Event) error {
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(EventsPrefix + id)
	msg.Data = b
	msg.Header.Set(jetstream.MsgIDHeader, "e:"+nuid.Next())
	wait := 100 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.js.PublishMsg(actx, msg)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: append event: %v", ErrUnavailable, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// Events returns the log of submission e: the intake events from its record
// followed by the stored events in order.
func (s *Store) Events(ctx context.Context, e *Entry) ([]Event, error) {
	r := e.Record
	out := []Event{
		{Type: EventReceived, At: r.ReceivedAt},
		{Type: EventValidated, At: r.ValidatedAt, Detail: r.Standard + " " + r.Version + " " + r.MessageType},
		{Type: EventRouted, At: r.RoutedAt, Target: r.Target, Detail: "rule " + r.Rule},
		{Type: EventQueued, At: e.QueuedAt, Target: r.Target},
	}
	subj := EventsPrefix + r.ID
	var seq uint64 = 1
	for {
		m, err := s.getMsg(ctx, s.events, msgGet{Seq: seq, NextFor: subj})
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

// Status condenses an event log into one word: queued, retrying, delivered,
// fetched, closed or failed.
func Status(events []Event) string {
	st := EventQueued
	for _, e := range events {
		switch e.Type {
		case EventAttemptFailed:
			st = "retrying"
		case EventDelivered, EventFetched, EventClosed, EventFailed, EventDeadLettered:
			st = e.Type
		case EventReplayed:
			st = EventQueued
		}
	}
	return st
}
