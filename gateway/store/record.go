package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Record describes one submission. It travels as compact JSON in the
// Drehscheibe-Record header; docs/adapters.md documents every field.
type Record struct {
	ID              string       `json:"id"`
	Sender          string       `json:"sender"`
	Target          string       `json:"target"`
	Rule            string       `json:"rule"`
	Namespace       string       `json:"namespace"`
	Standard        string       `json:"standard,omitempty"`
	Version         string       `json:"version,omitempty"`
	MessageType     string       `json:"message_type"`
	Author          string       `json:"author,omitempty"`
	Reader          string       `json:"reader,omitempty"`
	NachrichtenUUID string       `json:"nachrichten_uuid,omitempty"`
	Service         string       `json:"service,omitempty"`
	ReplyTo         string       `json:"reply_to,omitempty"`
	Test            bool         `json:"test"`
	MessageSize     int64        `json:"message_size"`
	MessageSHA256   string       `json:"message_sha256"`
	RequestSHA256   string       `json:"request_sha256"` // over the whole request, for Idempotency-Key checks
	Attachments     []Attachment `json:"attachments,omitempty"`
	ReceivedAt      time.Time    `json:"received_at"`
	ValidatedAt     time.Time    `json:"validated_at"`
	RoutedAt        time.Time    `json:"routed_at"`
	// XTA holds, for a message that came by XTA, its MessageMetaData and
	// content attributes as the XTA server keeps them (docs/xta.md).
	XTA json.RawMessage `json:"xta,omitempty"`
	// Encrypted marks end-to-end encrypted content: the message is an
	// xenc:EncryptedData element the gateway stored without reading or
	// validating it; its facts come from the XTA MessageMetaData.
	Encrypted bool `json:"encrypted,omitempty"`
}

// Attachment describes one stored attachment; its content is the object Object.
type Attachment struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	Object      string `json:"object,omitempty"`
}

// Submission is what the intake hands the store.
type Submission struct {
	Record      Record
	Message     []byte
	Attachments [][]byte // contents, in the order of Record.Attachments
	// IdempotencyKey, if not empty, scopes retries: JetStream's duplicate window
	// returns the first submission for the same sender and key.
	IdempotencyKey string
}

// Stored is the result of Put.
type Stored struct {
	Record    Record
	QueuedAt  time.Time
	Duplicate bool // an earlier submission with the same Idempotency-Key was returned
}

// ErrIdempotencyConflict means the Idempotency-Key was used before for a different request.
var ErrIdempotencyConflict = errors.New("idempotency key reused with a different request")

// Subject of a submission for target.
func Subject(id, target string) string { return SubmissionsPrefix + id + "." + target }

// Put stores a submission durably. It returns only after JetStream has
// acknowledged the submission message (with the embedded default: fsynced).
func (s *Store) Put(ctx context.Context, sub *Submission) (*Stored, error) {
	r := sub.Record
	var objects []string
	// Attachments and large messages go first; the submission message that
	// references them is the commit point.
	for i := range r.Attachments {
		name := fmt.Sprintf("%s/attachments/%d", r.ID, i)
		if _, err := s.payloads.PutBytes(ctx, name, sub.Attachments[i]); err != nil {
			s.deleteObjects(objects)
			return nil, fmt.Errorf("%w: store attachment: %v", ErrUnavailable, err)
		}
		r.Attachments[i].Object = name
		objects = append(objects, name)
	}
	body := sub.Message
	var payload string
	if len(body) > s.InlineLimit {
		payload = r.ID + "/message"
		if _, err := s.payloads.PutBytes(ctx, payload, body); err != nil {
			s.deleteObjects(objects)
			return nil, fmt.Errorf("%w: store message: %v", ErrUnavailable, err)
		}
		objects = append(objects, payload)
		body = nil
	}
	rec, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	msgID := "s:" + r.ID
	if sub.IdempotencyKey != "" {
		h := sha256.Sum256([]byte(r.Sender + "\x00" + sub.IdempotencyKey))
		msgID = "k:" + hex.EncodeToString(h[:])
	}
	msg := &nats.Msg{Subject: Subject(r.ID, r.Target), Data: body, Header: submissionHeader(
		HdrSubmissionID, r.ID, HdrTarget, r.Target, HdrNamespace, r.Namespace,
		HdrMessageType, r.MessageType, HdrReader, r.Reader, HdrAuthor, r.Author,
		HdrTest, strconv.FormatBool(r.Test), HdrRecord, string(rec),
		jetstream.MsgIDHeader, msgID, HdrPayloadObject, payload)}

	ack, err := s.js.PublishMsg(ctx, msg)
	if err != nil {
		// After a timeout or a lost connection the submission may have been
		// stored all the same; its objects must then stay, or it would be
		// half-stored. Objects of a submission that never came to be expire
		// with the bucket's TTL.
		if notStored(err) {
			s.deleteObjects(objects)
		}
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if ack.Duplicate {
		s.deleteObjects(objects)
		first, err := s.getMsg(ctx, s.subs, msgGet{Seq: ack.Sequence})
		if err != nil {
			return nil, fmt.Errorf("%w: load original of duplicate: %v", ErrUnavailable, err)
		}
		orig, err := decodeRecord(first.Header)
		if err != nil {
			return nil, err
		}
		if orig.RequestSHA256 != r.RequestSHA256 || orig.Sender != r.Sender {
			return nil, ErrIdempotencyConflict
		}
		return &Stored{Record: orig, QueuedAt: first.Time, Duplicate: true}, nil
	}
	return &Stored{Record: r, QueuedAt: time.Now().UTC()}, nil
}

// submissionHeader makes the header of a submission message from key and
// value pairs, leaving out empty values of HdrPayloadObject. The values share
// one backing array: one allocation instead of one per header.
func submissionHeader(kv ...string) nats.Header {
	h := make(nats.Header, len(kv)/2)
	vals := make([]string, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		if kv[i] == HdrPayloadObject && kv[i+1] == "" {
			continue
		}
		vals = append(vals, kv[i+1])
		h[kv[i]] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	return h
}

func (s *Store) deleteObjects(names []string) {
	if len(names) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, n := range names {
		_ = s.payloads.Delete(ctx, n)
	}
}

// notStored reports whether a failed publish certainly stored nothing:
// JetStream refused it (limits, no stream) or it never left the client.
func notStored(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrReconnectBufExceeded) ||
		errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrConnectionDraining) ||
		errors.Is(err, nats.ErrInvalidConnection)
}

func decodeRecord(h nats.Header) (Record, error) {
	var r Record
	if err := json.Unmarshal([]byte(h.Get(HdrRecord)), &r); err != nil {
		return r, fmt.Errorf("decode %s header: %w", HdrRecord, err)
	}
	return r, nil
}

// Entry is a stored submission as the status endpoint reads it.
type Entry struct {
	Record Record
	// QueuedAt is when the submission was first queued (a replay keeps it).
	QueuedAt time.Time
	// Sequence is the stream sequence of its latest submission message;
	// 0 when Purged.
	Sequence uint64
	// Purged means the content is gone after the payload retention and
	// Record is the record kept without it.
	Purged bool
}

// Get loads the submission id: its latest submission message; else, when it
// left the submissions stream as a dead letter, the copy in its dead letter;
// else the record kept after its content was purged.
func (s *Store) Get(ctx context.Context, id string) (*Entry, error) {
	if !validToken(id) {
		return nil, ErrNotFound
	}
	m, err := s.getMsg(ctx, s.subs, msgGet{LastFor: SubmissionsPrefix + id + ".*"})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		dl, err := s.DeadLetter(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return s.purgedRecord(ctx, id)
		}
		if err != nil {
			return nil, err
		}
		return &Entry{Record: dl.Record, QueuedAt: dl.QueuedAt}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	r, err := decodeRecord(m.Header)
	if err != nil {
		return nil, err
	}
	return &Entry{Record: r, QueuedAt: queuedAt(m.Header, m.Time), Sequence: m.Sequence}, nil
}

// queuedAt is the first queueing time of a submission message published at t.
func queuedAt(h nats.Header, t time.Time) time.Time {
	if v := h.Get(HdrQueuedAt); v != "" {
		if q, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return q
		}
	}
	return t
}

// Load loads the submission id and its message bytes.
func (s *Store) Load(ctx context.Context, id string) (*Entry, []byte, error) {
	if !validToken(id) {
		return nil, nil, ErrNotFound
	}
	m, err := s.subs.GetLastMsgForSubject(ctx, SubmissionsPrefix+id+".*")
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	r, err := decodeRecord(m.Header)
	if err != nil {
		return nil, nil, err
	}
	rc, err := s.OpenMessage(ctx, m.Header, m.Data)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: load message: %v", ErrUnavailable, err)
	}
	defer rc.Close()
	msg, err := io.ReadAll(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: load message: %v", ErrUnavailable, err)
	}
	return &Entry{Record: r, QueuedAt: m.Time, Sequence: m.Sequence}, msg, nil
}

// OpenMessage opens the message of a submission message: the body itself,
// or the object it references, streamed.
func (s *Store) OpenMessage(ctx context.Context, h nats.Header, data []byte) (io.ReadCloser, error) {
	if name := h.Get(HdrPayloadObject); name != "" {
		return s.OpenObject(ctx, name)
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// OpenSubmissionMessage opens the message of submission id as a stream: from the
// submission message itself, or from the object store for a large one.
// ctx must last as long as the reading. Close it.
func (s *Store) OpenSubmissionMessage(ctx context.Context, id string) (io.ReadCloser, error) {
	if !validToken(id) {
		return nil, ErrNotFound
	}
	m, err := s.subs.GetLastMsgForSubject(ctx, SubmissionsPrefix+id+".*")
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if name := m.Header.Get(HdrPayloadObject); name != "" {
		return s.openChunks(ctx, name)
	}
	return io.NopCloser(bytes.NewReader(m.Data)), nil
}

// Message returns the message bytes of a submission message (inline or from the object store).
func (s *Store) Message(ctx context.Context, h nats.Header, data []byte) ([]byte, error) {
	name := h.Get(HdrPayloadObject)
	if name == "" {
		return data, nil
	}
	size := 0
	if r, err := decodeRecord(h); err == nil {
		size = int(r.MessageSize)
	}
	return s.readAll(ctx, name, size)
}

// OpenObject opens a stored payload object (attachment or large message)
// as a stream: it is read chunk by chunk from JetStream, never held whole,
// and its digest is checked at the end (a mismatch is a read error).
// ctx must last as long as the reading. Close it.
func (s *Store) OpenObject(ctx context.Context, name string) (io.ReadCloser, error) {
	return s.openChunks(ctx, name)
}

// validToken reports whether id can stand in a subject without changing its meaning.
func validToken(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// DecodeRecord reads the Record of a submission message.
func DecodeRecord(h nats.Header) (Record, error) { return decodeRecord(h) }
