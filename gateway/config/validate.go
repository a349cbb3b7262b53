package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Error is one problem with the configuration, tied to the key that has it.
type Error struct {
	// Key is the path of the offending key, e.g. "targets[1].options.dir";
	// empty for a problem with the file as a whole.
	Key string
	// Msg says what is wrong and, where it helps, what to write instead.
	Msg string
	// File and Line locate the value in the file; Line is 0 when the value
	// did not come from the file.
	File string
	Line int
	// Env is the environment variable the value came from, if any.
	Env string
}

// Error formats the problem as "file:line: key: msg" (or "line N: …"
// without a file name), or "key: msg (from DREHSCHEIBE_…)" for a value from
// the environment.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Env != "":
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	if e.Env != "" {
		fmt.Fprintf(&b, " (from %s)", e.Env)
	}
	return b.String()
}

// Problems returns the individual *Error values in an error returned by
// Load, Parse or any Validate method, in order.
func Problems(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if u := errors.Unwrap(err); u != nil {
			walk(u)
		}
	}
	walk(err)
	return out
}

// problems collects the errors of one validation run.
type problems struct {
	c    *Config
	errs []error
}

// add records a problem with key, located by where key (or its nearest
// parent) came from.
func (p *problems) add(key, format string, args ...any) {
	e := &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
	if p.c != nil {
		e.File = p.c.file
		if s, ok := p.c.lookup(key); ok {
			e.Line, e.Env = s.line, s.env
		}
	}
	p.errs = append(p.errs, e)
}

func (p *problems) err() error { return errors.Join(p.errs...) }

// lookup finds where key, or the nearest parent of it, came from.
func (c *Config) lookup(key string) (source, bool) {
	for key != "" {
		if s, ok := c.src[key]; ok {
			return s, true
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return source{}, false
}

// token is the form of names that end up in NATS subjects, consumer names,
// metric labels and file names.
var token = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

const maxNameLen = 64

var logLevels = []string{"debug", "info", "warn", "error"}

// Validate checks the whole configuration and returns every problem found,
// joined; each names its key. It does not know the adapter types; see
// ValidateTargetTypes.
func (c *Config) Validate() error {
	p := &problems{c: c}
	c.validateServer(p)
	c.validateNATS(p)
	c.validateSchemas(p)
	c.validateLimits(p)
	if !slices.Contains(logLevels, c.Log.Level) {
		p.add("log.level", "%q is not a level; use one of %s", c.Log.Level, strings.Join(logLevels, ", "))
	}
	c.validateKeys(p)
	c.validateTargets(p)
	validateRoutes(p, c.Routes, c.Targets)
	c.validateXTA(p)
	return p.err()
}

func (c *Config) validateServer(p *problems) {
	s := c.Server
	checkHostPort(p, "server.listen", s.Listen, true)
	if s.PublicURL != "" {
		u, err := url.Parse(s.PublicURL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
			p.add("server.public_url", "%q is not an absolute http or https URL (e.g. \"https://gateway.example.de\")", s.PublicURL)
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			p.add("server.public_url", "%q must not have a user, query or fragment; give scheme, host and an optional path prefix", s.PublicURL)
		}
	}
	for _, d := range []struct {
		key string
		v   interface{ Seconds() float64 }
	}{
		{"server.read_header_timeout", s.ReadHeaderTimeout},
		{"server.read_timeout", s.ReadTimeout},
		{"server.write_timeout", s.WriteTimeout},
		{"server.idle_timeout", s.IdleTimeout},
		{"server.shutdown_timeout", s.ShutdownTimeout},
	} {
		if d.v.Seconds() <= 0 {
			p.add(d.key, "must be positive, e.g. \"30s\"")
		}
	}
	if s.MaxBodyBytes <= 0 {
		p.add("server.max_body_bytes", "must be positive, e.g. \"16MiB\"")
	}
	if s.MaxAttachments < 0 {
		p.add("server.max_attachments", "must not be negative")
	}
	if s.MaxAttachmentBytes <= 0 {
		p.add("server.max_attachment_bytes", "must be positive, e.g. \"16MiB\"")
	}
	if s.MaxInFlight < 1 {
		p.add("server.max_in_flight", "must be at least 1, got %d", s.MaxInFlight)
	}
	if s.MaxInFlightBytes < s.MaxBodyBytes {
		p.add("server.max_in_flight_bytes", "%s is less than server.max_body_bytes (%s): a request of the largest allowed size could never be answered", s.MaxInFlightBytes, s.MaxBodyBytes)
	}
	c.validateTLS(p)
	checkRateLimit(p, "server.rate_limit", &s.RateLimit)
}

// checkRateLimit checks the rate limit at key, if given.
func checkRateLimit(p *problems, key string, l *RateLimit) {
	switch {
	case l == nil:
	case l.PerSecond < 0:
		p.add(key+".per_second", "must not be negative (0: no limit), got %d", l.PerSecond)
	case l.PerSecond > 0 && l.Burst < 1:
		p.add(key+".burst", "must be at least 1 with a per_second limit, got %d", l.Burst)
	}
}

func (c *Config) validateTLS(p *problems) {
	t := c.Server.TLS
	switch {
	case t.CertFile == "" && t.KeyFile == "" && t.ClientCAFile == "":
		return
	case t.CertFile == "":
		p.add("server.tls.cert_file", "required when server.tls.key_file or server.tls.client_ca_file is set")
	case t.KeyFile == "":
		p.add("server.tls.key_file", "required when server.tls.cert_file is set")
	}
	for _, f := range []struct{ key, path string }{
		{"server.tls.cert_file", t.CertFile}, {"server.tls.key_file", t.KeyFile}, {"server.tls.client_ca_file", t.ClientCAFile},
	} {
		if f.path == "" {
			continue
		}
		if fi, err := os.Stat(f.path); err != nil {
			p.add(f.key, "%q: no such file", f.path)
		} else if fi.IsDir() {
			p.add(f.key, "%q is a directory, not a PEM file", f.path)
		}
	}
}

// maxXMLDepth bounds limits.max_xml_depth; schemas.Catalog.SetLimits
// refuses more.
const maxXMLDepth = 100000

func (c *Config) validateLimits(p *problems) {
	l := c.Limits
	if l.MaxXMLDepth < 1 || l.MaxXMLDepth > maxXMLDepth {
		p.add("limits.max_xml_depth", "must be between 1 and %d, got %d", maxXMLDepth, l.MaxXMLDepth)
	}
	if l.MaxXMLAttributes < 1 {
		p.add("limits.max_xml_attributes", "must be at least 1, got %d", l.MaxXMLAttributes)
	}
	if l.MaxXMLAttributeBytes < 1 || l.MaxXMLAttributeBytes > GiB {
		p.add("limits.max_xml_attribute_bytes", "must be between 1 and 1GiB, e.g. \"64KiB\"")
	}
	if l.MaxXMLNamespaces < 1 {
		p.add("limits.max_xml_namespaces", "must be at least 1, got %d", l.MaxXMLNamespaces)
	}
}

func (c *Config) validateNATS(p *problems) {
	n := c.NATS
	if n.Embedded {
		if n.DataDir == "" {
			p.add("nats.data_dir", "required for the embedded server")
		}
		if n.URL != "" {
			p.add("nats.url", "is set, but nats.embedded is true; set nats.embedded: false to use the external server at this URL, or remove nats.url")
		}
		if n.Listen != "" {
			checkHostPort(p, "nats.listen", n.Listen, false)
		}
		if n.Replicas != 1 {
			p.add("nats.replicas", "must be 1 for the embedded server, which is a single node; use an external cluster (nats.embedded: false) for more replicas")
		}
		for _, f := range []struct{ key, v string }{
			{"nats.creds_file", n.CredsFile}, {"nats.user", n.User}, {"nats.password_env", n.PasswordEnv},
			{"nats.tls.ca_file", n.TLS.CAFile}, {"nats.tls.cert_file", n.TLS.CertFile}, {"nats.tls.key_file", n.TLS.KeyFile},
		} {
			if f.v != "" {
				p.add(f.key, "applies to an external NATS server only, but nats.embedded is true")
			}
		}
	} else {
		if n.URL == "" {
			p.add("nats.url", "required when nats.embedded is false (e.g. \"nats://nats-1:4222,nats://nats-2:4222\")")
		}
		for _, raw := range strings.Split(n.URL, ",") {
			if raw = strings.TrimSpace(raw); raw == "" {
				continue
			}
			u, err := url.Parse(raw)
			if err != nil || u.Host == "" || !slices.Contains([]string{"nats", "tls", "ws", "wss"}, u.Scheme) {
				p.add("nats.url", "%q is not a NATS URL such as \"nats://host:4222\" (schemes nats, tls, ws, wss)", raw)
			}
		}
		if n.Listen != "" {
			p.add("nats.listen", "applies to the embedded server only, but nats.embedded is false")
		}
		if n.Replicas < 1 || n.Replicas > 5 {
			p.add("nats.replicas", "must be between 1 and 5, got %d", n.Replicas)
		}
		c.validateNATSAuth(p)
	}
	c.validateEncryption(p)
	if n.DuplicateWindow <= 0 {
		p.add("nats.duplicate_window", "must be positive, e.g. \"24h\"")
	}
	if n.JanitorInterval <= 0 {
		p.add("nats.janitor_interval", "must be positive, e.g. \"10m\"")
	}
	switch {
	case n.PayloadRetention <= 0:
		p.add("nats.payload_retention", "must be positive, e.g. \"168h\"")
	case n.DuplicateWindow > n.PayloadRetention:
		// A retry with the same Idempotency-Key must find the first submission.
		p.add("nats.duplicate_window", "%s is longer than nats.payload_retention %s; a retried submission could no longer find the one it repeats", n.DuplicateWindow, n.PayloadRetention)
	}
	switch {
	case n.EventRetention <= 0:
		p.add("nats.event_retention", "must be positive, e.g. \"720h\"")
	case n.PayloadRetention > 0 && n.EventRetention <= n.PayloadRetention:
		p.add("nats.event_retention", "%s must be longer than nats.payload_retention %s: events outlive the content they describe", n.EventRetention, n.PayloadRetention)
	}
}

// validateNATSAuth checks the credentials and TLS files for an external
// cluster. Whether the password variable is set is checked at start, where
// the environment of the serving process is known.
// validateEncryption checks the keys of encryption at rest: embedded
// server only, one source of the key, a known cipher.
func (c *Config) validateEncryption(p *problems) {
	n := c.NATS
	if n.EncryptionCipher != "chacha" && n.EncryptionCipher != "aes" {
		p.add("nats.encryption_cipher", "must be \"chacha\" or \"aes\", got %q", n.EncryptionCipher)
	}
	switch {
	case n.EncryptionKeyFile == "" && n.EncryptionKeyEnv == "":
	case !n.Embedded:
		key := "nats.encryption_key_file"
		if n.EncryptionKeyFile == "" {
			key = "nats.encryption_key_env"
		}
		p.add(key, "applies to the embedded server only; encrypt an external cluster in its own configuration (jetstream.cipher and key), see docs/security.md")
	case n.EncryptionKeyFile != "" && n.EncryptionKeyEnv != "":
		p.add("nats.encryption_key_env", "give nats.encryption_key_file or nats.encryption_key_env, not both")
	case n.EncryptionKeyFile != "":
		if fi, err := os.Stat(n.EncryptionKeyFile); err != nil || fi.IsDir() {
			p.add("nats.encryption_key_file", "%q: no such file", n.EncryptionKeyFile)
		}
	}
}

func (c *Config) validateNATSAuth(p *problems) {
	n := c.NATS
	if n.CredsFile != "" && n.User != "" {
		p.add("nats.user", "is set together with nats.creds_file; use one of them")
	}
	if n.User != "" && n.PasswordEnv == "" {
		p.add("nats.password_env", "required with nats.user: the name of the environment variable holding the password")
	}
	if n.PasswordEnv != "" && n.User == "" {
		p.add("nats.user", "required with nats.password_env")
	}
	if n.PasswordEnv != "" && !envVarName.MatchString(n.PasswordEnv) {
		p.add("nats.password_env", "%q is not an environment variable name; give the name of the variable, not the password", n.PasswordEnv)
	}
	if (n.TLS.CertFile == "") != (n.TLS.KeyFile == "") {
		p.add("nats.tls", "cert_file and key_file go together: give both for a client certificate, or neither")
	}
	for _, f := range []struct{ key, path string }{
		{"nats.creds_file", n.CredsFile},
		{"nats.tls.ca_file", n.TLS.CAFile},
		{"nats.tls.cert_file", n.TLS.CertFile},
		{"nats.tls.key_file", n.TLS.KeyFile},
	} {
		if f.path == "" {
			continue
		}
		if fi, err := os.Stat(f.path); err != nil {
			p.add(f.key, "%q: %v", f.path, errors.Unwrap(err))
		} else if fi.IsDir() {
			p.add(f.key, "%q is a directory, not a file", f.path)
		}
	}
}

// envVarName is the form of an environment variable name.
var envVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *Config) validateSchemas(p *problems) {
	if c.Schemas.ValidationWorkers < 0 {
		p.add("schemas.validation_workers", "%d: want 0 (one per core) or a positive number", c.Schemas.ValidationWorkers)
	}
	if n := c.Schemas.ValidationNice; n < 0 || n > 19 {
		p.add("schemas.validation_nice", "%d: want 0 (the process's priority) to 19 (the lowest)", n)
	}
	if len(c.Schemas.Dirs) == 0 {
		p.add("schemas.dirs", "required: at least one directory with XÖV schema packages")
		return
	}
	seen := map[string]int{}
	for i, dir := range c.Schemas.Dirs {
		key := fmt.Sprintf("schemas.dirs[%d]", i)
		if dir == "" {
			p.add(key, "empty directory name")
			continue
		}
		clean := filepath.Clean(dir)
		if j, dup := seen[clean]; dup {
			p.add(key, "%q is already listed as schemas.dirs[%d]", dir, j)
			continue
		}
		seen[clean] = i
		fi, err := os.Stat(dir)
		switch {
		case err != nil && !filepath.IsAbs(dir):
			wd, _ := os.Getwd()
			p.add(key, "%q: no such directory (relative to the working directory %s)", dir, wd)
		case err != nil:
			p.add(key, "%q: no such directory", dir)
		case !fi.IsDir():
			p.add(key, "%q is not a directory", dir)
		}
	}
}

// validateKeys checks senders, readers and admins: names unique within
// each list, and every API key hash and client certificate well-formed and
// used by one principal only, so that a credential identifies exactly one
// sender, reader or admin.
func (c *Config) validateKeys(p *problems) {
	hashes, certs := map[string]string{}, map[string]string{}
	names := map[string]int{}
	for i, s := range c.Senders {
		key := fmt.Sprintf("senders[%d]", i)
		checkName(p, key+".name", s.Name, names, "senders", i)
		checkCredentials(p, c, key, "sender", s.APIKeySHA256, s.ClientCert, s.RequireClientCert, hashes, certs)
		checkRateLimit(p, key+".rate_limit", s.RateLimit)
		checkPatterns(p, key+".allow.services", s.Allow.Services)
		checkPatterns(p, key+".allow.standards", s.Allow.Standards)
		checkPatterns(p, key+".allow.readers", s.Allow.Readers)
		checkPatterns(p, key+".allow.message_types", s.Allow.MessageTypes)
	}
	names = map[string]int{}
	ids := map[string]string{}
	for i, r := range c.Readers {
		key := fmt.Sprintf("readers[%d]", i)
		checkName(p, key+".name", r.Name, names, "readers", i)
		checkCredentials(p, c, key, "reader", r.APIKeySHA256, r.ClientCert, r.RequireClientCert, hashes, certs)
		checkRateLimit(p, key+".rate_limit", r.RateLimit)
		if len(r.Identifiers) == 0 {
			p.add(key+".identifiers", "required: the reader ids (Behördenkennung or XTA party identifier, e.g. \"ags:09999000\") whose messages %q may fetch", r.Name)
		}
		for j, id := range r.Identifiers {
			k := fmt.Sprintf("%s.identifiers[%d]", key, j)
			switch other, dup := ids[id]; {
			case strings.TrimSpace(id) == "" || id != strings.TrimSpace(id):
				p.add(k, "%q: a reader id without surrounding blanks, as the messages name it", id)
			case dup:
				p.add(k, "%q is already %s: every reader id belongs to one reader", id, other)
			default:
				ids[id] = k
			}
		}
	}
	names = map[string]int{}
	for i, a := range c.Admins {
		key := fmt.Sprintf("admins[%d]", i)
		checkName(p, key+".name", a.Name, names, "admins", i)
		checkCredentials(p, c, key, "admin", a.APIKeySHA256, a.ClientCert, a.RequireClientCert, hashes, certs)
		checkRateLimit(p, key+".rate_limit", a.RateLimit)
	}
}

// checkCredentials checks the API key hash and the client certificate of
// the principal at key: at least one of them, a certificate only with a
// client CA to verify it, each certificate name used by one principal only.
func checkCredentials(p *problems, c *Config, key, who, hash string, cc ClientCert, require bool, hashes, certs map[string]string) {
	if hash != "" || !cc.Given() {
		checkKeyHash(p, key, who, hash, hashes)
	}
	if require && !cc.Given() {
		p.add(key+".require_client_cert", "needs %s.client_cert: which certificate to require", key)
	}
	if !cc.Given() {
		return
	}
	switch {
	case cc.SubjectCN != "" && cc.SAN != "":
		p.add(key+".client_cert", "give subject_cn or san, not both")
	case c.Server.TLS.ClientCAFile == "":
		p.add(key+".client_cert", "needs server.tls.client_ca_file: the CA that issues client certificates")
	}
	id := "subject_cn " + cc.SubjectCN
	if cc.SubjectCN == "" {
		id = "san " + cc.SAN
	}
	if other, dup := certs[id]; dup {
		p.add(key+".client_cert", "same certificate as %s; every sender, reader and admin needs its own", other)
	} else {
		certs[id] = key
	}
}

// checkPatterns checks the glob patterns of one permission list at key.
func checkPatterns(p *problems, key string, pats []string) {
	for j, pat := range pats {
		if strings.TrimSpace(pat) == "" {
			p.add(fmt.Sprintf("%s[%d]", key, j), "empty pattern; leave the list out to allow every value, or write \"*\"")
		}
	}
}

// checkKeyHash checks the api_key_sha256 of the entry at key; seen maps the
// hashes met so far to the entry that holds them.
func checkKeyHash(p *problems, key, who, hash string, seen map[string]string) {
	h := strings.ToLower(hash)
	switch _, err := hex.DecodeString(h); {
	case hash == "":
		p.add(key+".api_key_sha256", "required: the hex SHA-256 of the %s's API key (printf %%s \"$KEY\" | sha256sum)", who)
	case len(h) != 64 || err != nil:
		// The value is not echoed: it may be a plain API key pasted by mistake.
		p.add(key+".api_key_sha256", "must be 64 hex digits, the SHA-256 of the API key (printf %%s \"$KEY\" | sha256sum), not the key itself; got %d characters", len(hash))
	default:
		if other, dup := seen[h]; dup {
			p.add(key+".api_key_sha256", "same API key as %s; every sender, reader and admin needs its own key", other)
		} else {
			seen[h] = key
		}
	}
}

func (c *Config) validateTargets(p *problems) {
	names := map[string]int{}
	for i, t := range c.Targets {
		key := fmt.Sprintf("targets[%d]", i)
		checkName(p, key+".name", t.Name, names, "targets", i)
		switch {
		case t.Type == "":
			p.add(key+".type", "required: the adapter type, e.g. \"filedrop\" or \"webhook\"")
		case !token.MatchString(t.Type):
			p.add(key+".type", "%q is not an adapter type name", t.Type)
		}
		if t.Concurrency < 1 || t.Concurrency > 1024 {
			p.add(key+".concurrency", "must be between 1 and 1024, got %d", t.Concurrency)
		}
		if t.MaxAttempts < 1 {
			p.add(key+".max_attempts", "must be at least 1, got %d", t.MaxAttempts)
		}
		if t.AckWait <= 0 {
			p.add(key+".ack_wait", "must be positive, e.g. \"60s\"")
		}
		switch {
		case t.Retry.Initial <= 0:
			p.add(key+".retry.initial", "must be positive, e.g. \"1s\"")
		case t.Retry.Max < t.Retry.Initial:
			p.add(key+".retry.max", "%s is shorter than retry.initial %s", t.Retry.Max, t.Retry.Initial)
		}
		c.validateMaxAge(p, key, t.MaxAge)
		if t.Options.Kind != 0 && t.Options.Kind != yaml.MappingNode && t.Options.ShortTag() != "!!null" {
			p.add(key+".options", "want a mapping of the adapter's options")
		}
	}
}

// validateMaxAge checks a target's max_age against the retention keys it
// depends on.
func (c *Config) validateMaxAge(p *problems, key string, maxAge time.Duration) {
	n := c.NATS
	switch {
	case maxAge <= 0:
		p.add(key+".max_age", "must be positive, e.g. \"168h\"")
	case maxAge < n.DuplicateWindow && n.DuplicateWindow <= n.PayloadRetention:
		// A submission dead-lettered for its age leaves the submissions
		// stream; a retry with its Idempotency-Key must still find it.
		p.add(key+".max_age", "%s is shorter than nats.duplicate_window %s; a retried submission could no longer find the one it repeats", maxAge, n.DuplicateWindow)
	case maxAge >= n.EventRetention && n.EventRetention > 0:
		p.add(key+".max_age", "%s must be shorter than nats.event_retention %s, or the events of a waiting submission expire before it is dead-lettered", maxAge, n.EventRetention)
	}
}

// ValidateTargetTypes checks that every target's type is known: known
// reports whether a type is a registered adapter or one the caller handles
// itself, such as "external". The caller decides because config does not
// know the adapters.
func (c *Config) ValidateTargetTypes(known func(typ string) bool) error {
	p := &problems{c: c}
	for i, t := range c.Targets {
		if t.Type != "" && !known(t.Type) {
			p.add(fmt.Sprintf("targets[%d].type", i), "unknown adapter type %q; this binary has no such adapter (check the spelling)", t.Type)
		}
	}
	return p.err()
}

// ValidateRoutes applies the checks that Validate applies to routes: every
// rule is named, names configured targets, and keeps test and production
// apart. Package routing calls it so that a Router is never built from
// rules Validate would refuse.
func ValidateRoutes(routes []Route, targets []Target) error {
	p := &problems{}
	validateRoutes(p, routes, targets)
	return p.err()
}

func validateRoutes(p *problems, routes []Route, targets []Target) {
	byName := map[string]*Target{}
	var names []string
	for i := range targets {
		if _, dup := byName[targets[i].Name]; !dup && targets[i].Name != "" {
			byName[targets[i].Name] = &targets[i]
			names = append(names, targets[i].Name)
		}
	}
	known := "no targets are configured"
	if len(names) > 0 {
		known = "configured targets: " + strings.Join(names, ", ")
	}
	ruleNames := map[string]int{}
	for i, r := range routes {
		key := fmt.Sprintf("routes[%d]", i)
		checkName(p, key+".name", r.Name, ruleNames, "routes", i)
		var target *Target
		switch t, ok := byName[r.Target]; {
		case r.Target == "":
			p.add(key+".target", "required: the name of a target (%s)", known)
		case !ok:
			p.add(key+".target", "unknown target %q (%s)", r.Target, known)
		default:
			target = t
		}
		if target != nil && target.Test && (r.Match.Test == nil || !*r.Match.Test) {
			p.add(key+".match.test", "must be true: target %q is a test target, and production messages must not reach it", r.Target)
		}
		if r.TestTarget == "" {
			continue
		}
		switch t, ok := byName[r.TestTarget]; {
		case !ok:
			p.add(key+".test_target", "unknown target %q (%s)", r.TestTarget, known)
		case !t.Test:
			p.add(key+".test_target", "target %q is not a test target; set test: true on it, or name a test target", r.TestTarget)
		case r.Match.Test != nil && !*r.Match.Test:
			p.add(key+".test_target", "is never used: match.test is false, so the rule matches production messages only")
		}
	}
}

// checkName checks a name that must be a unique token within its list.
func checkName(p *problems, key, name string, seen map[string]int, list string, i int) {
	switch {
	case name == "":
		p.add(key, "required")
	case len(name) > maxNameLen || !token.MatchString(name):
		p.add(key, "%q must be lower-case letters, digits and hyphens, starting with a letter or digit, at most %d characters", name, maxNameLen)
	default:
		if j, dup := seen[name]; dup {
			p.add(key, "%q is already used by %s[%d]", name, list, j)
			return
		}
		seen[name] = i
	}
}

// checkHostPort checks a host:port listen address; the host may be empty
// (all interfaces) and the port must be a number.
func checkHostPort(p *problems, key, addr string, required bool) {
	if addr == "" {
		if required {
			p.add(key, "required: host:port, e.g. \"127.0.0.1:8080\"")
		}
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(key, "%q is not host:port, e.g. \"127.0.0.1:8080\" or \":8080\"", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add(key, "%q has no valid port number", addr)
	}
}
