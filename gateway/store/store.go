// Package store keeps submissions and their event logs in NATS JetStream.
//
// The NATS contract that vendor adapters rely on is documented in
// docs/adapters.md; the constants below are that contract. Change them only
// together with the document.
//
//	stream DREHSCHEIBE_SUBMISSIONS   subjects drehscheibe.submissions.<id>.<target>
//	stream DREHSCHEIBE_EVENTS        subjects drehscheibe.events.<id>, drehscheibe.records.<id>
//	stream DREHSCHEIBE_DEADLETTERS   subjects drehscheibe.deadletters.<id>.<target>
//	stream DREHSCHEIBE_ADVISORIES    JetStream's MAX_DELIVERIES and MSG_TERMINATED advisories of the submissions
//	object store DREHSCHEIBE_PAYLOADS objects <id>/message, <id>/attachments/<n>
//	durable consumer deliver-<target> on DREHSCHEIBE_SUBMISSIONS per target
//
// A submission is one JetStream message: the headers carry the facts and the
// body is the XÖV message (or, above InlineLimit, empty with a reference to the
// object store). Publishing it is the one durable write on the intake path; the
// intake answers 202 only after JetStream acknowledged it.
//
// No stream drops a submission by age: the janitor (package retention)
// deletes the content of finished submissions after the payload retention
// and leaves a record without content on drehscheibe.records.<id>; only the
// events stream has a maximum age, the event retention.
package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Names of the NATS contract.
const (
	SubmissionsStream = "DREHSCHEIBE_SUBMISSIONS"
	EventsStream      = "DREHSCHEIBE_EVENTS"
	PayloadBucket     = "DREHSCHEIBE_PAYLOADS"
	DeadLettersStream = "DREHSCHEIBE_DEADLETTERS"
	AdvisoriesStream  = "DREHSCHEIBE_ADVISORIES"
	SubmissionsPrefix = "drehscheibe.submissions."
	EventsPrefix      = "drehscheibe.events."
	RecordsPrefix     = "drehscheibe.records."
	DeadLettersPrefix = "drehscheibe.deadletters."
	ConsumerPrefix    = "deliver-"
)

// Subjects of the JetStream advisories the advisories stream captures: a
// message of a delivery consumer that reached MaxDeliver, and one that a
// consumer terminated (Term).
const (
	AdvisoryMaxDeliveries = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + SubmissionsStream + ".*"
	AdvisoryTerminated    = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED." + SubmissionsStream + ".*"
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
	HdrQueuedAt      = "Drehscheibe-Queued-At"      // first queueing of a replayed submission, RFC 3339
	HdrDeadLetter    = "Drehscheibe-Dead-Letter"    // on a dead letter: why, as compact JSON
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
	// URL of the external NATS servers (comma-separated) when not embedded.
	URL string
	// CredsFile, User and Password, and TLS authenticate to the external servers.
	CredsFile      string
	User, Password string
	TLS            *tls.Config
	// EncryptionKey, if set, encrypts the embedded server's JetStream files
	// at rest with Cipher ("chacha" or "aes").
	EncryptionKey, Cipher string
	// SyncAlways makes the embedded server fsync every write before acknowledging it.
	SyncAlways      bool
	Replicas        int
	DuplicateWindow time.Duration
	// EventRetention is the maximum age of the events stream (event logs
	// and the records of purged submissions).
	EventRetention time.Duration
	// Log receives connection events; nil logs nothing.
	Log *zap.Logger
}

// Store is the gateway's handle on JetStream.
type Store struct {
	srv      *server.Server
	nc       *nats.Conn
	js       jetstream.JetStream
	subs     jetstream.Stream
	events   jetstream.Stream
	dead     jetstream.Stream
	payloads jetstream.ObjectStore
	// payloadsStream is the object store's stream, for reading chunks.
	payloadsStream jetstream.Stream
	opts           Options
	log            *zap.Logger
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
	s := &Store{opts: o, log: o.Log}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	var err error
	if o.Embedded {
		if s.srv, err = startEmbedded(o); err != nil {
			return nil, err
		}
		s.nc, err = nats.Connect("", append(o.connectOptions(s.log), nats.InProcessServer(s.srv))...)
	} else {
		s.nc, err = nats.Connect(o.URL, o.connectOptions(s.log)...)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.ensureRetrying(ctx); err != nil {
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
	if err := checkKey(dir, o.EncryptionKey); err != nil {
		return nil, err
	}
	so := &server.Options{
		ServerName: "drehscheibe",
		JetStream:  true,
		StoreDir:   dir,
		SyncAlways: o.SyncAlways,
		NoSigs:     true,
		NoLog:      true,
	}
	if o.EncryptionKey != "" {
		so.JetStreamKey = o.EncryptionKey
		so.JetStreamCipher = server.ChaCha
		if o.Cipher == "aes" {
			so.JetStreamCipher = server.AES
		}
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
		AllowDirect: true,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", SubmissionsStream, err)
	}
	s.events, err = s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        EventsStream,
		Description: "drehscheibe per-submission event logs and records of purged submissions",
		Subjects:    []string{EventsPrefix + ">", RecordsPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    s.opts.Replicas,
		MaxAge:      s.opts.EventRetention,
		AllowDirect: true,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", EventsStream, err)
	}
	s.dead, err = s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              DeadLettersStream,
		Description:       "drehscheibe dead letters: deliveries that failed for good, kept until replayed or discarded",
		Subjects:          []string{DeadLettersPrefix + ">"},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		Replicas:          s.opts.Replicas,
		Duplicates:        s.opts.DuplicateWindow,
		MaxMsgsPerSubject: 1,
		AllowDirect:       true,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", DeadLettersStream, err)
	}
	// JetStream announces exhausted and terminated messages only as core
	// NATS advisories; a stream on their subjects keeps them until a gateway
	// replica has turned each into a dead letter, even across restarts.
	_, err = s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        AdvisoriesStream,
		Description: "drehscheibe: JetStream advisories of exhausted and terminated deliveries, until dead-lettered",
		Subjects:    []string{AdvisoryMaxDeliveries, AdvisoryTerminated},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.WorkQueuePolicy,
		Replicas:    s.opts.Replicas,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", AdvisoriesStream, err)
	}
	s.payloads, err = s.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      PayloadBucket,
		Description: "drehscheibe large messages and attachments",
		Storage:     jetstream.FileStorage,
		Replicas:    s.opts.Replicas,
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
	// A probe must answer before its own timeout, also when the server went
	// away and the client has not noticed yet.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, name := range []string{SubmissionsStream, EventsStream, DeadLettersStream} {
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

// EventRetention is how long event logs are kept (0: forever); state that
// belongs to a submission's life, such as the XTA message box, lives as long.
func (s *Store) EventRetention() time.Duration { return s.opts.EventRetention }

// Conn exposes the NATS connection.
func (s *Store) Conn() *nats.Conn { return s.nc }

// ClientURL is where other processes reach the embedded server ("" if it does not listen).
func (s *Store) ClientURL() string {
	if s.srv == nil || s.opts.Listen == "" {
		return ""
	}
	return s.srv.ClientURL()
}

// Close flushes what was published (acknowledgements included), closes the
// connection and shuts the embedded server down.
func (s *Store) Close() {
	if s.nc != nil {
		if s.nc.IsConnected() {
			_ = s.nc.FlushTimeout(2 * time.Second)
		}
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
