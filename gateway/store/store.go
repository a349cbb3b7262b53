// Package store keeps submissions and their event logs in NATS JetStream.
//
// The NATS contract that vendor adapters rely on is documented in
// docs/adapters.md; the constants below are that contract. Change them only
// together with the document.
//
//	stream DREHSCHEIBE_SUBMISSIONS   subjects drehscheibe.submissions.<id>.<target>
//	stream DREHSCHEIBE_EVENTS        subjects drehscheibe.events.<id>
//	object store DREHSCHEIBE_PAYLOADS objects <id>/message, <id>/attachments/<n>
//	durable consumer deliver-<target> on DREHSCHEIBE_SUBMISSIONS per target
//
// A submission is one JetStream message: the headers carry the facts and the
// body is the XÖV message (or, above InlineLimit, empty with a reference to the
// object store). Publishing it is the one durable write on the intake path; the
// intake answers 202 only after JetStream acknowledged it.
package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the NATS contract.
const (
	SubmissionsStream = "DREHSCHEIBE_SUBMISSIONS"
	EventsStream      = "DREHSCHEIBE_EVENTS"
	PayloadBucket     = "DREHSCHEIBE_PAYLOADS"
	SubmissionsPrefix = "drehscheibe.submissions."
	EventsPrefix      = "drehscheibe.events."
	ConsumerPrefix    = "deliver-"
)

// Headers of a submission message.
const (
	HdrSubmissionID  = "Drehscheibe-Submission-Id"
	HdrTarget        = "Drehscheibe-Target"
	HdrNamespace     = "Drehscheibe-Namespace"
	HdrMessageType   = "Drehscheibe-Message-Type"
	HdrReader        = "Drehscheibe-Reader"
	HdrAuthor        = "Drehscheibe-Author"
	HdrTest          = "Drehscheibe-Test"
	HdrRecord        = "Drehscheibe-Record"         // the whole Record as compact JSON
	HdrPayloadObject = "Drehscheibe-Payload-Object" // object name when the message is not inline
)

// ErrNotFound is returned when a submission does not exist.
var ErrNotFound = errors.New("submission not found")

// ErrUnavailable wraps errors of a JetStream that cannot store right now.
var ErrUnavailable = errors.New("jetstream unavailable")

// Options configure Open.
type Options struct {
	// Embedded starts an in-process nats-server with JetStream in DataDir.
	Embedded bool
	DataDir  string
	// Listen, if set, lets the embedded server accept clients on this address
	// (vendor adapters); empty means in-process connections only.
	Listen string
	// URL of an external NATS server when not embedded.
	URL string
	// SyncAlways makes the embedded server fsync every write before acknowledging it.
	SyncAlways      bool
	Replicas        int
	DuplicateWindow time.Duration
	MaxAge          time.Duration
}

// Store is the gateway's handle on JetStream.
type Store struct {
	srv      *server.Server
	nc       *nats.Conn
	js       jetstream.JetStream
	subs     jetstream.Stream
	events   jetstream.Stream
	payloads jetstream.ObjectStore
	// payloadsStream is the object store's stream, for reading chunks.
	payloadsStream jetstream.Stream
	opts           Options
	// InlineLimit is the largest message kept in the submission message itself;
	// larger ones go to the object store.
	InlineLimit int
}

// Open starts (if embedded) and connects to NATS and makes sure the streams exist.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = 24 * time.Hour
	}
	s := &Store{opts: o}
	var err error
	if o.Embedded {
		if s.srv, err = startEmbedded(o); err != nil {
			return nil, err
		}
		s.nc, err = nats.Connect("", nats.InProcessServer(s.srv), nats.Name("drehscheibe"), nats.MaxReconnects(-1))
	} else {
		s.nc, err = nats.Connect(o.URL, nats.Name("drehscheibe"), nats.MaxReconnects(-1))
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.ensure(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.InlineLimit = int(s.nc.MaxPayload()) - 64*1024
	return s, nil
}

func startEmbedded(o Options) (*server.Server, error) {
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("nats.data_dir: %w", err)
	}
	so := &server.Options{
		ServerName: "drehscheibe",
		JetStream:  true,
		StoreDir:   dir,
		SyncAlways: o.SyncAlways,
		NoSigs:     true,
		NoLog:      true,
	}
	if o.Listen == "" {
		so.DontListen = true
	} else {
		host, port, err := splitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats.listen: %w", err)
		}
		so.Host, so.Port = host, port
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("embedded nats did not become ready in 30s")
	}
	return srv, nil
}

func (s *Store) ensure(ctx context.Context) error {
	var err error
	s.subs, err = s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        SubmissionsStream,
		Description: "drehscheibe submissions, one message per submission and delivery target",
		Subjects:    []string{SubmissionsPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    s.opts.Replicas,
		Duplicates:  s.opts.DuplicateWindow,
		MaxAge:      s.opts.MaxAge,
		AllowDirect: true,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", SubmissionsStream, err)
	}
	s.events, err = s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        EventsStream,
		Description: "drehscheibe per-submission event logs",
		Subjects:    []string{EventsPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    s.opts.Replicas,
		MaxAge:      s.opts.MaxAge,
		AllowDirect: true,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", EventsStream, err)
	}
	s.payloads, err = s.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      PayloadBucket,
		Description: "drehscheibe large messages and attachments",
		Storage:     jetstream.FileStorage,
		Replicas:    s.opts.Replicas,
		TTL:         s.opts.MaxAge,
	})
	if err != nil {
		return fmt.Errorf("create object store %s: %w", PayloadBucket, err)
	}
	if s.payloadsStream, err = s.js.Stream(ctx, payloadStream); err != nil {
		return fmt.Errorf("stream %s of object store %s: %w", payloadStream, PayloadBucket, err)
	}
	return nil
}

// Ready reports whether NATS is connected and the streams are present.
func (s *Store) Ready(ctx context.Context) error {
	if s.nc == nil || !s.nc.IsConnected() {
		return errors.New("nats not connected")
	}
	for _, name := range []string{SubmissionsStream, EventsStream} {
		if _, err := s.js.Stream(ctx, name); err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
	}
	return nil
}

// JetStream exposes the JetStream handle to the dispatcher.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Replicas is the number of copies of each stream and bucket.
func (s *Store) Replicas() int { return s.opts.Replicas }

// MaxAge is how long messages are kept (0: forever).
func (s *Store) MaxAge() time.Duration { return s.opts.MaxAge }

// Conn exposes the NATS connection.
func (s *Store) Conn() *nats.Conn { return s.nc }

// ClientURL is where other processes reach the embedded server ("" if it does not listen).
func (s *Store) ClientURL() string {
	if s.srv == nil || s.opts.Listen == "" {
		return ""
	}
	return s.srv.ClientURL()
}

// Close drains the connection and shuts the embedded server down.
func (s *Store) Close() {
	if s.nc != nil {
		_ = s.nc.Drain()
		s.nc.Close()
	}
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
}

func splitHostPort(addr string) (string, int, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", 0, fmt.Errorf("%q: want host:port", addr)
	}
	var port int
	if _, err := fmt.Sscanf(addr[i+1:], "%d", &port); err != nil {
		return "", 0, fmt.Errorf("%q: bad port", addr)
	}
	return strings.Trim(addr[:i], "[]"), port, nil
}
