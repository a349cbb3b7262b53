// Package delivery is the small contract between the gateway and its delivery
// adapters. Adapters import this package and nothing else of the gateway.
//
// Lifecycle of an adapter (modelled on Caddy's modules):
//
//	register (init) → Factory(name, decode) at start, which checks the options → Deliver … → Close
//
// The gateway reads a delivery from its JetStream consumer, calls Deliver and
// acknowledges the message only when Deliver returned nil. Deliver must be
// idempotent: after a crash the same submission can be delivered again with the
// same SubmissionID.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// Attachment is one attachment of a submission, in the order the sender gave them.
type Attachment struct {
	// Name is the file name the sender gave (sanitised by the gateway: no path separators).
	Name string
	// ContentType is the media type the sender gave, or application/octet-stream.
	ContentType string
	// Size in bytes; always exact (the gateway stored the attachment before).
	Size int64
	// Open returns the attachment's content. Each call returns a fresh reader.
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// Delivery is one submission handed to one delivery target.
type Delivery struct {
	SubmissionID string
	// Attempt counts deliveries of this submission to this target, starting at 1.
	Attempt int
	// Target is the configured name of the delivery target.
	Target string
	// Message is the XÖV message exactly as the sender posted it; stream it
	// with Message.Open.
	Message Content
	// Facts the gateway identified (standard, version, message type, author, reader, …).
	Standard, Version, Namespace, MessageType string
	Author, Reader, NachrichtenUUID           string
	Service, Sender                           string
	Test                                      bool
	ReceivedAt                                time.Time
	Attachments                               []Attachment
	// XTA is the record's xta member as JSON (docs/adapters.md) when the
	// message came by XTA: the MessageMetaData and content attributes it
	// came with, for adapters that pass them on (xta-push). Nil otherwise.
	XTA []byte
}

// Adapter delivers messages to one target. Implementations must be safe for
// concurrent use by several goroutines.
type Adapter interface {
	// Deliver hands d to the Fachverfahren. A nil error means the receiver has
	// taken the message; the gateway then acknowledges it. Wrap an error with
	// Permanent when retrying cannot help (e.g. the receiver answered 4xx),
	// with RetryAfter when the receiver refused for now and named its wait.
	Deliver(ctx context.Context, d *Delivery) error
	// Close releases resources. Deliver is not called after Close.
	Close() error
}

// Factory builds an adapter for the target called name from its YAML options.
// decode fills a struct from the options strictly (an unknown key or a wrong
// type is an error naming targets[i].options.<key> and its line) and honours
// encoding.TextUnmarshaler. The factory must check the options and fail with
// a clear message for bad ones; a problem with one option is reported as
// "<key>: <problem>" (e.g. "dir: required") so the gateway can name the key.
type Factory func(name string, decode func(v any) error) (Adapter, error)

var (
	mu       sync.RWMutex
	registry = map[string]Factory{}
)

// Register makes an adapter type available under typ (e.g. "filedrop").
// It panics if typ is registered twice; call it from init.
func Register(typ string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[typ]; dup {
		panic(fmt.Sprintf("delivery: adapter type %q registered twice", typ))
	}
	registry[typ] = f
}

// Lookup returns the factory registered for typ.
func Lookup(typ string) (Factory, bool) {
	mu.RLock()
	defer mu.RUnlock()
	f, ok := registry[typ]
	return f, ok
}

// Types lists the registered adapter types, sorted.
func Types() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// permanentError marks an error retrying cannot fix.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as permanent: the gateway does not retry the delivery.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
