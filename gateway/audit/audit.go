// Package audit writes the audit log: one JSON line for every action a
// principal takes on a submission (submitted, fetched, closed, replayed,
// discarded),
// naming who, which submission, when and from which address. It never
// carries message content. The logger is never sampled and does not depend
// on log.level.
package audit

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The actions.
const (
	Submitted = "submitted"
	Fetched   = "fetched"
	// Closed: a reader took the message out of its box.
	Closed    = "closed"
	Replayed  = "replayed"
	Discarded = "discarded"
)

// Entry is one action.
type Entry struct {
	Action string
	// Role is "sender", "reader", "admin" or "xta-party"; Principal its name.
	Role, Principal string
	SubmissionID    string
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
	fields := []zap.Field{zap.String("action", e.Action), zap.String("role", e.Role), zap.String("principal", e.Principal),
		zap.String("submission_id", e.SubmissionID), zap.String("remote_addr", e.RemoteAddr)}
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

// Close flushes and closes the audit file, if any.
func (l *Log) Close() error {
	if l == nil || l.file == nil {
		return nil
	}
	_ = l.z.Sync()
	return l.file.Close()
}
