// Package config reads drehscheibe's one YAML configuration file.
//
// Every scalar key can be overridden by an environment variable named
// DREHSCHEIBE_ followed by the key's path in upper case with dots replaced by
// underscores: server.listen is DREHSCHEIBE_SERVER_LISTEN, nats.data_dir is
// DREHSCHEIBE_NATS_DATA_DIR. A list of strings (schemas.dirs) is given as a
// comma-separated value. Entries of the lists of senders, readers, admins,
// targets and routes,
// and the adapter options of a target, cannot be overridden: they have no
// stable path a variable could name. EnvVars lists every variable.
//
// The order is: built-in defaults, then the file, then the environment, then
// Validate. Unknown keys are an error, as is every invalid value; each error
// names the path of the offending key ("targets[1].options.dir",
// "routes[0].target") and where the value came from (file and line, or the
// environment variable).
//
// Relative paths (schemas.dirs, nats.data_dir) are resolved against the
// working directory of the process, not against the directory of the file, so
// that the same file works for "make run" in the repository and for a
// systemd unit with its own WorkingDirectory.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts the name of every environment variable that overrides a key.
const EnvPrefix = "DREHSCHEIBE_"

// Config is the whole configuration of a gateway.
type Config struct {
	Server  Server   `yaml:"server"`
	NATS    NATS     `yaml:"nats"`
	Schemas Schemas  `yaml:"schemas"`
	Limits  Limits   `yaml:"limits"`
	Log     Log      `yaml:"log"`
	Senders []Sender `yaml:"senders"`
	Readers []Reader `yaml:"readers"`
	Admins  []Admin  `yaml:"admins"`
	Targets []Target `yaml:"targets"`
	Routes  []Route  `yaml:"routes"`
	XTA     XTA      `yaml:"xta"`

	// file and src remember where each value came from, so that Validate
	// can point at the line or the environment variable.
	file string
	src  map[string]source
}

// Server configures the HTTP listener of the REST API.
type Server struct {
	// Listen is the host:port the API listens on.
	Listen string `yaml:"listen"`
	// PublicURL is the externally visible base URL (scheme and host, optional
	// path prefix) used for Location headers and links. Empty means the URL is
	// derived from the request.
	PublicURL         string        `yaml:"public_url"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout bounds how long a graceful shutdown waits for
	// requests in flight.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxBodyBytes limits the size of one request body, attachments included.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// MaxAttachments limits the number of attachments of one submission;
	// 0 allows none.
	MaxAttachments int `yaml:"max_attachments"`
	// MaxAttachmentBytes limits the size of one attachment.
	MaxAttachmentBytes ByteSize `yaml:"max_attachment_bytes"`
	// MaxInFlight bounds the requests with a body (REST submissions and
	// validations, XTA calls) that the REST and the XTA listener read and
	// process at once; one more is refused with 503 (XTA: fault 9030).
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxInFlightBytes bounds the body bytes those requests may hold at
	// once: each reserves its Content-Length, or without one the most it
	// may send (max_body_bytes; on XTA the largest request).
	MaxInFlightBytes ByteSize `yaml:"max_in_flight_bytes"`
	// TLS, when CertFile is set, makes the listener speak HTTPS only.
	TLS TLS `yaml:"tls"`
	// RateLimit is the rate limit of every sender and admin that has none
	// of its own.
	RateLimit RateLimit `yaml:"rate_limit"`
}

// RateLimit is a token bucket per principal: PerSecond requests a second on
// average, Burst at once. PerSecond 0 means no limit.
type RateLimit struct {
	PerSecond int `yaml:"per_second"`
	Burst     int `yaml:"burst"`
}

// TLS configures HTTPS for the REST listener: TLS 1.2 and 1.3 with modern
// cipher suites. The files are read at start and again on SIGHUP; a
// handshake after the reload gets the new certificate, open connections
// keep theirs.
type TLS struct {
	// CertFile holds the PEM certificate chain, leaf first.
	CertFile string `yaml:"cert_file"`
	// KeyFile holds the PEM private key of the certificate.
	KeyFile string `yaml:"key_file"`
	// ClientCAFile, if set, holds the PEM CA certificates that client
	// certificates are verified against. A client need not present one;
	// one it presents must verify.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Limits bound what the XML parser reads from one message, whichever edge
// it came through. Each stops documents whose parsing costs far more than
// their size suggests; the defaults lie far above what real XÖV messages
// need (docs/security.md).
type Limits struct {
	// MaxXMLDepth is the deepest element nesting.
	MaxXMLDepth int `yaml:"max_xml_depth"`
	// MaxXMLAttributes is the most attributes one element may carry,
	// namespace declarations included.
	MaxXMLAttributes int `yaml:"max_xml_attributes"`
	// MaxXMLAttributeBytes is the longest attribute value as written.
	MaxXMLAttributeBytes ByteSize `yaml:"max_xml_attribute_bytes"`
	// MaxXMLNamespaces is the most namespace declarations in scope at once.
	MaxXMLNamespaces int `yaml:"max_xml_namespaces"`
}

// NATS configures the message store: an embedded NATS server with JetStream
// or an external NATS cluster.
type NATS struct {
	// Embedded runs a NATS server inside the gateway process.
	Embedded bool `yaml:"embedded"`
	// DataDir holds the JetStream files of the embedded server.
	DataDir string `yaml:"data_dir"`
	// URL names the external NATS servers (comma-separated) when Embedded
	// is false.
	URL string `yaml:"url"`
	// SyncAlways makes the embedded server fsync every write before it
	// acknowledges it. Without it an acknowledged submission can be lost on
	// power failure. For an external cluster this is the cluster's setting.
	SyncAlways bool `yaml:"sync_always"`
	// Replicas is the number of copies of each stream (1 for a single node,
	// 3 for a typical cluster).
	Replicas int `yaml:"replicas"`
	// DuplicateWindow is how long JetStream detects duplicate publishes; it
	// is also the window in which an Idempotency-Key is honoured.
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// PayloadRetention is how long the content of a finished submission
	// (delivered, closed or discarded) is kept after it finished: the
	// message, its attachments and the submission message itself. The
	// janitor deletes them afterwards and keeps a record without content.
	// Undelivered and dead-lettered submissions are never deleted by age.
	PayloadRetention time.Duration `yaml:"payload_retention"`
	// EventRetention is how long event logs and the content-free records
	// of purged submissions are kept (the events stream's maximum age).
	EventRetention time.Duration `yaml:"event_retention"`
	// JanitorInterval is how often the janitor looks for payloads to
	// delete and for undelivered submissions past their target's max_age.
	JanitorInterval time.Duration `yaml:"janitor_interval"`
	// EncryptionKeyFile names a file holding the key that encrypts the
	// embedded server's JetStream files at rest; EncryptionKeyEnv names an
	// environment variable holding it instead. The key itself is never in
	// the configuration. Empty both: no encryption at rest.
	EncryptionKeyFile string `yaml:"encryption_key_file"`
	EncryptionKeyEnv  string `yaml:"encryption_key_env"`
	// EncryptionCipher is "chacha" (ChaCha20-Poly1305, the default) or
	// "aes" (AES-GCM).
	EncryptionCipher string `yaml:"encryption_cipher"`
	// Listen is the client port of the embedded server, e.g.
	// "127.0.0.1:4222", for vendor adapters that connect over TCP. Empty
	// means in-process connections only, without a TCP listener.
	Listen string `yaml:"listen"`
	// CredsFile is a NATS credentials file (user JWT and NKey seed) for the
	// external servers. It excludes User.
	CredsFile string `yaml:"creds_file"`
	// User authenticates to the external servers with a user name and the
	// password held by the environment variable PasswordEnv.
	User string `yaml:"user"`
	// PasswordEnv names the environment variable that holds User's
	// password; the password itself is never in the file.
	PasswordEnv string `yaml:"password_env"`
	// TLS secures the connection to the external servers.
	TLS NATSTLS `yaml:"tls"`
}

// NATSTLS configures TLS towards an external NATS cluster. Setting any file
// turns TLS on; so does a tls:// URL.
type NATSTLS struct {
	// CAFile holds the PEM certificates that sign the servers' certificates;
	// empty means the system's trust store.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the gateway's client certificate and key
	// (PEM), for servers that verify clients; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether any TLS file is configured.
func (t NATSTLS) Enabled() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// Schemas configures where the XÖV schema packages are loaded from.
type Schemas struct {
	// Dirs are directories holding schema packages as unpacked from
	// XRepository. At least one is required; each must exist.
	Dirs []string `yaml:"dirs"`
	// ValidationWorkers is how many messages are validated at once; 0
	// means one per core (one per GOMAXPROCS slot when the GOMAXPROCS
	// variable is set). Further messages wait for a worker.
	ValidationWorkers int `yaml:"validation_workers"`
	// ValidationNice is how many nice steps below the rest of the process
	// the validation threads run (0–19; Linux only), so that validation
	// never keeps a core from JetStream's writer, which needs one after
	// every fsync. 0 runs them at the process's priority.
	ValidationNice int `yaml:"validation_nice"`
}

// Log configures logging.
type Log struct {
	// Level is one of debug, info, warn, error.
	Level string `yaml:"level"`
	// AuditFile is the file the audit log is appended to; empty: stderr,
	// each line marked "log":"audit".
	AuditFile string `yaml:"audit_file"`
}

// Sender is a client allowed to post submissions, authenticated by an API
// key, a TLS client certificate, or both.
type Sender struct {
	// Name identifies the sender in events, metrics and routing rules.
	Name string `yaml:"name"`
	// APIKeySHA256 is the hex SHA-256 of the sender's API key (see
	// HashAPIKey); the key itself is never stored in the configuration.
	// Parse lower-cases it, so it compares equal to HashAPIKey's result.
	// It may be left out when ClientCert is given.
	APIKeySHA256 string `yaml:"api_key_sha256"`
	// ClientCert maps a TLS client certificate to the sender.
	ClientCert ClientCert `yaml:"client_cert"`
	// RequireClientCert makes the API key alone insufficient: the request
	// must also present the sender's client certificate.
	RequireClientCert bool `yaml:"require_client_cert"`
	// RateLimit, when set, replaces server.rate_limit for this sender.
	RateLimit *RateLimit `yaml:"rate_limit"`
	// Allow restricts what the sender may submit; empty allows everything.
	Allow Allow `yaml:"allow"`
}

// Allow holds a sender's permissions: glob patterns ('*' any run of
// characters, '?' one character) on the facts of a submission. A submission
// must match one pattern of every non-empty list; an empty list allows every
// value.
type Allow struct {
	// Services are patterns on the service (the XTA service URI).
	Services []string `yaml:"services"`
	// Standards are patterns on the standard's name as the schema catalogue
	// names it (e.g. "xbau", "demo").
	Standards []string `yaml:"standards"`
	// Readers are patterns on the reader (Behördenkennung of the recipient).
	Readers []string `yaml:"readers"`
	// MessageTypes are patterns on the message type (e.g. "baugenehmigung.antrag.0200").
	MessageTypes []string `yaml:"message_types"`
}

// Reader is a Fachverfahren (an authority's system) allowed to fetch the
// messages waiting in message boxes over REST (/v1/inbox), authenticated
// like a sender.
type Reader struct {
	// Name identifies the reader in audit log lines and events.
	Name string `yaml:"name"`
	// Identifiers are the reader ids whose boxes it may read: the
	// Behördenkennung or XTA party identifier a message is addressed to
	// (its reader, e.g. "ags:09999000"), exactly as the message names it.
	Identifiers []string `yaml:"identifiers"`
	// APIKeySHA256 is the hex SHA-256 of the reader's API key, as for senders.
	APIKeySHA256 string `yaml:"api_key_sha256"`
	// ClientCert and RequireClientCert work as for senders.
	ClientCert        ClientCert `yaml:"client_cert"`
	RequireClientCert bool       `yaml:"require_client_cert"`
	// RateLimit, when set, replaces server.rate_limit for this reader.
	RateLimit *RateLimit `yaml:"rate_limit"`
}

// Admin is an operator allowed to use the admin endpoints (/v1/admin/…) and
// the dlq commands, authenticated by an API key of its own.
type Admin struct {
	// Name identifies the admin in audit log lines.
	Name string `yaml:"name"`
	// APIKeySHA256 is the hex SHA-256 of the admin's API key, as for senders.
	APIKeySHA256 string `yaml:"api_key_sha256"`
	// ClientCert and RequireClientCert work as for senders.
	ClientCert        ClientCert `yaml:"client_cert"`
	RequireClientCert bool       `yaml:"require_client_cert"`
	// RateLimit, when set, replaces server.rate_limit for this admin.
	RateLimit *RateLimit `yaml:"rate_limit"`
}

// Limit returns the rate limit of a principal whose own limit is own.
func (s Server) Limit(own *RateLimit) RateLimit {
	if own != nil {
		return *own
	}
	return s.RateLimit
}

// ClientCert names the TLS client certificate of a principal: one of the
// subject's common name or a subject alternative name (DNS name, e-mail
// address or URI). The certificate must verify against
// server.tls.client_ca_file.
type ClientCert struct {
	SubjectCN string `yaml:"subject_cn"`
	SAN       string `yaml:"san"`
}

// Given reports whether a certificate is configured.
func (c ClientCert) Given() bool { return c.SubjectCN != "" || c.SAN != "" }

// Target is a delivery target: one adapter instance that hands messages to a
// Fachverfahren.
type Target struct {
	// Name identifies the target in routes, NATS subjects and consumers.
	Name string `yaml:"name"`
	// Type names the adapter type, e.g. "filedrop", "webhook", "external".
	// Whether it is known is checked by ValidateTargetTypes.
	Type string `yaml:"type"`
	// Test marks a test system: only test messages may reach it, and test
	// messages reach nothing else.
	Test bool `yaml:"test"`
	// Concurrency is the number of deliveries in flight at once.
	Concurrency int `yaml:"concurrency"`
	// MaxAttempts is how often a delivery is tried before it is dead-lettered.
	MaxAttempts int `yaml:"max_attempts"`
	// Retry shapes the waits between attempts.
	Retry Retry `yaml:"retry"`
	// MaxAge is how long a submission may wait for delivery to this target,
	// counted from when it was queued (or replayed); after that it becomes a
	// dead letter instead of being tried again.
	MaxAge time.Duration `yaml:"max_age"`
	// AckWait is how long one delivery attempt may take before it is
	// considered lost and retried.
	AckWait time.Duration `yaml:"ack_wait"`
	// Options is the adapter-specific configuration, kept as a raw YAML node
	// so that the adapter can decode it strictly; use DecodeOptions.
	Options yaml.Node `yaml:"options"`

	// key is the path of this target in the file ("targets[1]"), file the
	// name of the file, line and optionsLine the lines of the target and of
	// its options key; all set by Parse for error messages.
	key         string
	file        string
	line        int
	optionsLine int
}

// Retry is the backoff between delivery attempts: the wait before attempt
// n+1 is Initial × 2^(n−1), at most Max, each varied by ±20 % so that
// messages that failed together do not return together.
type Retry struct {
	Initial time.Duration `yaml:"initial"`
	Max     time.Duration `yaml:"max"`
}

// Route is one routing rule; see package routing for how rules are applied.
type Route struct {
	// Name identifies the rule in decisions, events and metrics.
	Name string `yaml:"name"`
	// Match selects the messages the rule applies to; an empty Match
	// matches every message.
	Match Match `yaml:"match"`
	// Target is the name of the target the matched messages go to.
	Target string `yaml:"target"`
	// TestTarget is the name of the test target the matched test messages
	// go to. Without it, test messages go to Target only if that is a test
	// target, and are refused otherwise.
	TestTarget string `yaml:"test_target"`
	// Sync makes the rule synchronous for XTA sendMessageSync: the XTA
	// server answers it after the target took the message (docs/xta.md).
	// sendMessageSync for a message of a rule without it is refused with
	// 9080; other intakes are not affected.
	Sync bool `yaml:"sync"`
}

// Match holds the conditions of a route. Every string field is a glob
// pattern: '*' matches any run of characters, dots included, '?' matches one
// character, everything else matches itself, case-sensitively. An empty
// pattern matches anything.
type Match struct {
	Namespace   string `yaml:"namespace"`
	Standard    string `yaml:"standard"`
	MessageType string `yaml:"message_type"`
	Reader      string `yaml:"reader"`
	Service     string `yaml:"service"`
	Sender      string `yaml:"sender"`
	// Test, when set, restricts the rule to test messages (true) or to
	// production messages (false).
	Test *bool `yaml:"test"`
}

// Default returns the configuration used for every key the file and the
// environment leave out. It has no schema directories and is therefore not
// valid on its own.
func Default() *Config {
	return &Config{
		Server: Server{
			Listen:             "127.0.0.1:8080",
			ReadHeaderTimeout:  10 * time.Second,
			ReadTimeout:        60 * time.Second,
			WriteTimeout:       60 * time.Second,
			IdleTimeout:        120 * time.Second,
			ShutdownTimeout:    20 * time.Second,
			RateLimit:          RateLimit{PerSecond: 50, Burst: 100},
			MaxBodyBytes:       16 * MiB,
			MaxAttachments:     32,
			MaxAttachmentBytes: 16 * MiB,
			MaxInFlight:        128,
			MaxInFlightBytes:   256 * MiB,
		},
		Schemas: Schemas{ValidationNice: 10},
		Limits: Limits{
			MaxXMLDepth:          256,
			MaxXMLAttributes:     128,
			MaxXMLAttributeBytes: 64 * KiB,
			MaxXMLNamespaces:     128,
		},
		NATS: NATS{
			Embedded:         true,
			DataDir:          "./data/nats",
			SyncAlways:       true,
			Replicas:         1,
			DuplicateWindow:  24 * time.Hour,
			PayloadRetention: 168 * time.Hour,
			EventRetention:   720 * time.Hour,
			JanitorInterval:  10 * time.Minute,
			EncryptionCipher: "chacha",
		},
		Log: Log{Level: "info"},
		XTA: defaultXTA(),
	}
}

// setDefaults fills a target with the defaults before the file's values are
// decoded over it, so that an explicit zero in the file stays visible to
// Validate instead of silently becoming the default.
func (t *Target) setDefaults() {
	t.Concurrency = 4
	t.MaxAttempts = 10
	t.AckWait = 60 * time.Second
	t.Retry = Retry{Initial: time.Second, Max: 5 * time.Minute}
	t.MaxAge = 168 * time.Hour
}

// Load reads the file at path, applies the DREHSCHEIBE_* environment
// variables, and validates the result. Errors name the file, line and key.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(data, os.LookupEnv, path)
}

// Parse is Load for a file's content and an explicit environment lookup
// (os.LookupEnv in production, a map in tests); a nil env applies no
// overrides.
func Parse(data []byte, env func(string) (string, bool)) (*Config, error) {
	return parse(data, env, "")
}

// HashAPIKey returns the hex SHA-256 of an API key, as senders[].api_key_sha256,
// readers[].api_key_sha256 and admins[].api_key_sha256 hold it.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// DecodeOptions decodes the target's adapter options into v, which must be
// a pointer to a struct (or map). Decoding is strict: an unknown key or a
// value of the wrong type is an error naming "targets[i].options.<key>" and
// its line. Absent options leave v unchanged, so an adapter can fill v with
// its defaults first. DecodeOptions fits delivery.Factory's decode argument.
func (t Target) DecodeOptions(v any) error {
	d := newDecoder(t.file, nil, &t.Options)
	if err := d.decodeInto(&t.Options, v, t.path()+".options"); err != nil {
		return err
	}
	return nil
}

// OptionsError turns an adapter's complaint about its options into a
// configuration error that names the key. An adapter reports a problem with
// one option as "<key>: <problem>" (e.g. "dir: required"); OptionsError makes
// that "targets[1].options.dir: required" with the line of the key, or of the
// options if the key is absent. Any other error is reported against
// "targets[1].options" as a whole. Errors from DecodeOptions pass unchanged.
func (t Target) OptionsError(err error) error {
	if err == nil {
		return nil
	}
	if len(Problems(err)) > 0 {
		return err // already names its key
	}
	key := t.path() + ".options"
	msg := err.Error()
	if sub, rest, ok := splitKeyPrefix(msg); ok {
		key += "." + sub
		msg = rest
	}
	e := &Error{Key: key, Msg: msg, File: t.file}
	e.Line = optionsLine(&t.Options, key[len(t.path()+".options"):])
	for _, l := range []int{t.optionsLine, t.line} {
		if e.Line == 0 {
			e.Line = l
		}
	}
	return e
}

// path is the target's key path for error messages.
func (t Target) path() string {
	if t.key != "" {
		return t.key
	}
	return fmt.Sprintf("targets[name=%s]", t.Name)
}
