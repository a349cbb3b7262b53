// Package audit writes the audit log: one JSON line for every action a
// principal takes on a submission, reads included (submitted, viewed,
// listed, fetched, closed, cancelled, replayed, discarded), naming who,
// which submission, when and from which address. It never carries message
// content. The logger is never sampled and does not depend on log.level.
package audit

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The actions.
const (
	// Submitted: a sender or XTA author handed in the submission.
	Submitted = "submitted"
	// Viewed: someone read the status, the record or the event log of one
	// submission (REST status, admin dead-letter details, XTA transport report).
	Viewed = "viewed"
	// Listed: someone read a list naming submissions (admin dead letters,
	// XTA status list); one line per list with the ids it showed.
	Listed = "listed"
	// Fetched: a reader got the content of the submission (XTA getMessage).
	Fetched = "fetched"
	// Closed: a reader confirmed receipt and the message left its box.
	Closed = "closed"
	// Cancelled: the author withdrew the submission (XTA cancelMessage).
	Cancelled = "cancelled"
	// Replayed and Discarded: an admin acted on a dead letter.
	Replayed  = "replayed"
	Discarded = "discarded"
)

// Entry is one action.
type Entry struct {
	Action string
	// Role is "sender", "reader", "admin", "xta-party" or "xta-pull" (the pull
	// intake, whose RemoteAddr is its source's URL); Principal is its name.
	Role, Principal string
	SubmissionID    string
	// SubmissionIDs are the submissions a list showed (Listed only); the
	// line carries them with their count.
	SubmissionIDs []string
	// RemoteAddr is the client's address (host:port) as the listener saw it.
	RemoteAddr string
	// RequestID links the line to the request's log lines (REST only).
	RequestID string
	// Target names the delivery target where it matters (replay, discard).
	Target string
	// Duplicate marks a submission answered from an earlier one (Idempotency-Key).
	Duplicate bool
}

// Log is the audit log. A nil *Log records nothing.
type Log struct {
	z    *zap.Logger
	file *os.File
}

// Open opens the audit log: appended to path (created with mode 0600), or
// on stderr when path is empty, every line then marked "log":"audit".
func Open(path string) (*Log, error) {
	if path == "" {
		return New(zapcore.Lock(os.Stderr)), nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	l := New(zapcore.Lock(f))
	l.file = f
	return l, nil
}

// New writes the audit log to w.
func New(w zapcore.WriteSyncer) *Log {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.LevelKey, enc.CallerKey, enc.StacktraceKey = "", "", ""
	// zapcore.NewCore without a sampler: every line is written.
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), w, zapcore.InfoLevel)
	return &Log{z: zap.New(core).With(zap.String("log", "audit"))}
}

// Record writes one line for e.
func (l *Log) Record(e Entry) {
	if l == nil {
		return
	}
	fields := []zap.Field{zap.String("action", e.Action), zap.String("role", e.Role), zap.String("principal", e.Principal)}
	if e.Action == Listed {
		fields = append(fields, zap.Int("count", len(e.SubmissionIDs)), zap.Strings("submission_ids", nonNil(e.SubmissionIDs)))
	} else {
		fields = append(fields, zap.String("submission_id", e.SubmissionID))
	}
	fields = append(fields, zap.String("remote_addr", e.RemoteAddr))
	if e.RequestID != "" {
		fields = append(fields, zap.String("request_id", e.RequestID))
	}
	if e.Target != "" {
		fields = append(fields, zap.String("target", e.Target))
	}
	if e.Duplicate {
		fields = append(fields, zap.Bool("duplicate", true))
	}
	l.z.Info("audit", fields...)
}

// nonNil makes an empty list a JSON array rather than null.
func nonNil(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids
}

// Close flushes and closes the audit file, if any.
func (l *Log) Close() error {
	if l == nil || l.file == nil {
		return nil
	}
	_ = l.z.Sync()
	return l.file.Close()
}
