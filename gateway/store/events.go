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
	EventFailed         = "failed" // a vendor adapter gave up; the dead letter follows
	EventFetched        = "fetched"
	EventClosed         = "closed"
	EventDeadLettered   = "dead_lettered" // set aside as a dead letter for the operator
	EventReplayed       = "replayed"      // an operator queued the dead letter again
	EventDiscarded      = "discarded"     // an operator gave the dead letter up
	EventPayloadDeleted = "payload_deleted"
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

// Append adds an event to the log of submission id and waits until JetStream
// stored it. While JetStream cannot store (a lost connection, a cluster
// electing a stream leader) it retries until ctx ends; the retries carry one
// message id, so that an event stored by an attempt whose answer was lost is
// not stored twice.
func (s *Store) Append(ctx context.Context, id string, e Event) error {
	return s.AppendOnce(ctx, id, "", e)
}

// AppendOnce is Append for an event that several replicas or a repeated
// operation may record: JetStream keeps one event per msgID within its
// duplicate window. An empty msgID appends unconditionally.
func (s *Store) AppendOnce(ctx context.Context, id, msgID string, e Event) error {
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(EventsPrefix + id)
	msg.Data = b
	// One message id for every retry: an event stored by an attempt whose
	// answer was lost is not stored twice. A caller's msgID also makes the
	// event unique across replicas and repeated operations.
	if msgID == "" {
		msgID = "e:" + nuid.Next()
	}
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
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

// StatusRetrying is the status of a submission whose last attempt failed.
const StatusRetrying = "retrying"

// Status condenses an event log into one word: queued, retrying, delivered,
// fetched, closed, failed, dead_lettered, discarded or cancelled.
func Status(events []Event) string {
	st, _ := StatusAt(events)
	return st
}

// StatusAt is Status with the time of the event that decided it.
func StatusAt(events []Event) (string, time.Time) {
	st, at := EventQueued, time.Time{}
	for _, e := range events {
		switch e.Type {
		case EventQueued:
			at = e.At
		case EventAttemptFailed:
			st, at = StatusRetrying, e.At
		case EventDelivered, EventFetched, EventClosed, EventFailed, EventDeadLettered, EventDiscarded, EventCancelled:
			st, at = e.Type, e.At
		case EventReplayed:
			st, at = EventQueued, e.At
		}
	}
	return st, at
}

// Finished reports whether a submission of status st has left the gateway's
// responsibility, so that its content may age out: delivered, closed,
// discarded by an operator, or cancelled by its author.
func Finished(st string) bool {
	return st == EventDelivered || st == EventClosed || st == EventDiscarded || st == EventCancelled
}

// State returns the status and the event log of submission e. A submission
// whose log says it is still waiting but that has a dead letter is
// dead_lettered: its dead_lettered event may not have been recorded (the
// events stream was unavailable) or may have aged out of the event retention.
func (s *Store) State(ctx context.Context, e *Entry) (string, []Event, error) {
	events, err := s.Events(ctx, e)
	if err != nil {
		return "", nil, err
	}
	st := Status(events)
	if st == EventQueued || st == StatusRetrying {
		dead, err := s.HasDeadLetter(ctx, e.Record.ID)
		if err != nil {
			return "", nil, err
		}
		if dead {
			st = EventDeadLettered
		}
	}
	return st, events, nil
}
