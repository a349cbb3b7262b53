package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Reasons why a delivery became a dead letter.
const (
	ReasonPermanent  = "permanent"  // the adapter refused it for good, e.g. a webhook answered 4xx
	ReasonExhausted  = "exhausted"  // the target's max_attempts are used up
	ReasonMaxAge     = "max_age"    // not delivered within the target's max_age
	ReasonTerminated = "terminated" // an external adapter terminated the message (Term)
)

// maxErrorLen bounds the last error kept in a dead letter (it travels in a header).
const maxErrorLen = 2048

// DeadLetter is a delivery that failed for good. It holds a copy of the
// submission message, so that it can be replayed even after the original
// left the submissions stream, and it stays until an operator replays or
// discards it.
type DeadLetter struct {
	ID     string `json:"id"`
	Target string `json:"target"`
	// Adapter is the target's adapter type, for the dead_lettered event.
	Adapter  string    `json:"adapter,omitempty"`
	Reason   string    `json:"reason"`
	Error    string    `json:"error,omitempty"`
	Attempts int       `json:"attempts"`
	At       time.Time `json:"dead_lettered_at"`
	QueuedAt time.Time `json:"queued_at"`
	// SubmissionSeq is the stream sequence of the submission message the
	// dead letter was made from; with ID and Target it names the delivery.
	SubmissionSeq uint64 `json:"submission_seq"`

	// Seq and Record are filled when the dead letter is read back.
	Seq    uint64 `json:"-"`
	Record Record `json:"-"`
	header nats.Header
	data   []byte
}

// SubmissionMsg is one submission message as a consumer or a direct read
// returns it.
type SubmissionMsg struct {
	Header nats.Header
	Data   []byte
	Seq    uint64
	Time   time.Time
}

// ErrContentGone means a dead letter cannot be replayed because an object
// it refers to no longer exists.
var ErrContentGone = errors.New("the stored message content is gone")

func deadLetterSubject(id, target string) string { return DeadLettersPrefix + id + "." + target }

// deadLetterEvent is the dead_lettered event that records dl in the
// submission's log.
func deadLetterEvent(dl *DeadLetter) Event {
	return Event{Type: EventDeadLettered, Target: dl.Target, Adapter: dl.Adapter, Attempt: dl.Attempts,
		Error: dl.Error, Detail: deadLetterDetail[dl.Reason]}
}

// deadLetterDetail explains each reason in the event the sender reads.
var deadLetterDetail = map[string]string{
	ReasonPermanent:  "refused permanently by the receiver; set aside for the operator",
	ReasonExhausted:  "all delivery attempts failed; set aside for the operator",
	ReasonMaxAge:     "not delivered within the target's max age; set aside for the operator",
	ReasonTerminated: "given up by the target's adapter; set aside for the operator",
}

// SubmissionAt reads the submission message at stream sequence seq.
func (s *Store) SubmissionAt(ctx context.Context, seq uint64) (*SubmissionMsg, error) {
	m, err := s.subs.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return &SubmissionMsg{Header: m.Header, Data: m.Data, Seq: m.Sequence, Time: m.Time}, nil
}

// NextSubmission reads the first submission message at or after stream
// sequence seq; ErrNotFound after the last.
func (s *Store) NextSubmission(ctx context.Context, seq uint64) (*SubmissionMsg, error) {
	m, err := s.subs.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(SubmissionsPrefix+">"))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return &SubmissionMsg{Header: m.Header, Data: m.Data, Seq: m.Sequence, Time: m.Time}, nil
}

// DeleteSubmission removes the submission message at seq from the stream
// (and so from its consumer). A message already gone is no error.
func (s *Store) DeleteSubmission(ctx context.Context, seq uint64) error {
	if err := deleteMsg(ctx, s.subs, seq); err != nil {
		return fmt.Errorf("%w: delete submission message %d: %v", ErrUnavailable, seq, err)
	}
	return nil
}

// deleteMsg deletes the message at seq from st; a message already gone is
// no error. (JetStream answers a deletion of a missing message with an error
// that nats.go reports only as text, so the message is looked up instead.)
func deleteMsg(ctx context.Context, st jetstream.Stream, seq uint64) error {
	err := st.DeleteMsg(ctx, seq)
	if err == nil {
		return nil
	}
	if _, gerr := st.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
		return nil
	}
	return err
}

// PutDeadLetter records the dead_lettered event and stores dl (Adapter,
// Reason, Error, Attempts; PutDeadLetter fills in the rest) made from the
// submission message m. The same delivery — submission id, target and
// sequence of m — becomes a dead letter once, with one event, whichever
// replica or path (dispatcher, advisory, janitor) gets there first;
// PutDeadLetter reports whether this call stored it.
//
// The event comes before the dead letter so that it precedes a replay's
// replayed event, which needs the dead letter: the log never shows a
// replayed submission as dead-lettered.
func (s *Store) PutDeadLetter(ctx context.Context, m *SubmissionMsg, dl *DeadLetter) (bool, error) {
	rec, err := decodeRecord(m.Header)
	if err != nil {
		return false, err
	}
	dl.ID, dl.Target, dl.SubmissionSeq = rec.ID, rec.Target, m.Seq
	dl.QueuedAt = queuedAt(m.Header, m.Time)
	if dl.At.IsZero() {
		dl.At = time.Now().UTC()
	}
	if len(dl.Error) > maxErrorLen {
		dl.Error = dl.Error[:maxErrorLen] + "…"
	}
	subj := deadLetterSubject(rec.ID, rec.Target)
	prev, err := s.dead.GetLastMsgForSubject(ctx, subj)
	switch {
	case err == nil:
		if old, derr := decodeDeadLetter(prev); derr == nil && old.SubmissionSeq >= m.Seq {
			return false, nil
		}
	case !errors.Is(err, jetstream.ErrMsgNotFound):
		return false, fmt.Errorf("%w: read dead letter: %v", ErrUnavailable, err)
	}
	key := "dl:" + rec.Target + ":" + strconv.FormatUint(m.Seq, 10)
	if err := s.AppendOnce(ctx, rec.ID, key, deadLetterEvent(dl)); err != nil {
		return false, err
	}
	info, err := json.Marshal(dl)
	if err != nil {
		return false, err
	}
	msg := nats.NewMsg(subj)
	copyHeader(msg.Header, m.Header)
	msg.Header.Set(HdrDeadLetter, string(info))
	msg.Header.Set(jetstream.MsgIDHeader, key)
	msg.Data = m.Data
	ack, err := s.js.PublishMsg(ctx, msg)
	if err != nil {
		return false, fmt.Errorf("%w: store dead letter: %v", ErrUnavailable, err)
	}
	return !ack.Duplicate, nil
}

// copyHeader copies the submission headers of src into dst, leaving out
// JetStream's own (Nats-*) and a dead letter's reason.
func copyHeader(dst, src nats.Header) {
	for k, v := range src {
		if strings.HasPrefix(k, "Nats-") || k == HdrDeadLetter {
			continue
		}
		dst[k] = append([]string(nil), v...)
	}
}

func decodeDeadLetter(m *jetstream.RawStreamMsg) (*DeadLetter, error) {
	var dl DeadLetter
	if err := json.Unmarshal([]byte(m.Header.Get(HdrDeadLetter)), &dl); err != nil {
		return nil, fmt.Errorf("decode %s header: %w", HdrDeadLetter, err)
	}
	rec, err := decodeRecord(m.Header)
	if err != nil {
		return nil, err
	}
	dl.Seq, dl.Record, dl.header, dl.data = m.Sequence, rec, m.Header, m.Data
	return &dl, nil
}

// DeadLetter returns the dead letter of submission id.
func (s *Store) DeadLetter(ctx context.Context, id string) (*DeadLetter, error) {
	if !validToken(id) {
		return nil, ErrNotFound
	}
	m, err := s.dead.GetLastMsgForSubject(ctx, DeadLettersPrefix+id+".*")
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read dead letter: %v", ErrUnavailable, err)
	}
	return decodeDeadLetter(m)
}

// DeadLetters lists up to limit dead letters in the order they arose,
// starting after the dead letter with sequence after (0 for the first);
// target, if not empty, selects one target. next is the sequence to pass as
// after for the following page, 0 when there is none.
func (s *Store) DeadLetters(ctx context.Context, target string, after uint64, limit int) (list []DeadLetter, next uint64, err error) {
	filter := DeadLettersPrefix + ">"
	if target != "" {
		filter = DeadLettersPrefix + "*." + target
	}
	list = []DeadLetter{}
	seq := after + 1
	for {
		m, err := s.dead.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return list, 0, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%w: list dead letters: %v", ErrUnavailable, err)
		}
		if len(list) == limit {
			return list, list[len(list)-1].Seq, nil
		}
		seq = m.Sequence + 1
		dl, err := decodeDeadLetter(m)
		if err != nil {
			continue // not written by the gateway; shown by nothing
		}
		list = append(list, *dl)
	}
}

// CountDeadLetters returns how many dead letters wait for an operator.
func (s *Store) CountDeadLetters(ctx context.Context) (uint64, error) {
	info, err := s.dead.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return info.State.Msgs, nil
}

// HasDeadLetter reports whether submission id has a dead letter.
func (s *Store) HasDeadLetter(ctx context.Context, id string) (bool, error) {
	_, err := s.DeadLetter(ctx, id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, err
}

// CheckContent returns ErrContentGone if an object the dead letter's
// submission refers to (large message, attachments) no longer exists.
func (s *Store) CheckContent(ctx context.Context, dl *DeadLetter) error {
	names := []string{}
	if n := dl.header.Get(HdrPayloadObject); n != "" {
		names = append(names, n)
	}
	for _, a := range dl.Record.Attachments {
		names = append(names, a.Object)
	}
	for _, n := range names {
		_, err := s.payloads.GetInfo(ctx, n)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("%w: object %s", ErrContentGone, n)
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	return nil
}

// Replay records a replayed event, queues the submission of dl for delivery
// again under its own id and target, and removes the dead letter. The event
// comes first: the replayed submission can be delivered, and its delivered
// event recorded, before a later write would land. (Until the dead letter is
// removed, State still says dead_lettered should the publish fail.)
// Repeating a replay that was interrupted queues the submission once.
func (s *Store) Replay(ctx context.Context, dl *DeadLetter) error {
	key := dl.ID + ":" + strconv.FormatUint(dl.SubmissionSeq, 10)
	// Which admin it was goes to the audit log, not to the sender.
	ev := Event{Type: EventReplayed, Target: dl.Target, Detail: "queued again by the operator"}
	if err := s.AppendOnce(ctx, dl.ID, "replayed:"+key, ev); err != nil {
		return err
	}
	msg := nats.NewMsg(Subject(dl.ID, dl.Target))
	copyHeader(msg.Header, dl.header)
	msg.Header.Set(HdrQueuedAt, dl.QueuedAt.UTC().Format(time.RFC3339Nano))
	msg.Header.Set(jetstream.MsgIDHeader, "r:"+key)
	msg.Data = dl.data
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("%w: queue replay: %v", ErrUnavailable, err)
	}
	return s.deleteDeadLetter(ctx, dl)
}

// Discard records that the operator gave dl up and removes the dead letter;
// nothing delivers the submission afterwards. Its content then ages out like
// that of a delivered submission (the janitor purges it after the payload
// retention), except when no submission message of it is left — it left the
// stream for its max age — because then the janitor would never meet it:
// such content is purged at once. (Its duplicate window has passed then,
// since a target's max_age is at least nats.duplicate_window.)
func (s *Store) Discard(ctx context.Context, dl *DeadLetter) error {
	key := dl.ID + ":" + strconv.FormatUint(dl.SubmissionSeq, 10)
	ev := Event{Type: EventDiscarded, Target: dl.Target, Detail: "given up by the operator; it will not be delivered"}
	if err := s.AppendOnce(ctx, dl.ID, "discarded:"+key, ev); err != nil {
		return err
	}
	_, err := s.subs.GetLastMsgForSubject(ctx, SubmissionsPrefix+dl.ID+".*")
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		if err := s.Purge(ctx, &Entry{Record: dl.Record, QueuedAt: dl.QueuedAt}); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return s.deleteDeadLetter(ctx, dl)
}

func (s *Store) deleteDeadLetter(ctx context.Context, dl *DeadLetter) error {
	if err := deleteMsg(ctx, s.dead, dl.Seq); err != nil {
		return fmt.Errorf("%w: remove dead letter: %v", ErrUnavailable, err)
	}
	return nil
}
