package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"encoding"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/drehscheibe/drehscheibe/gateway/loopback"
)

// Options configure a webhook target. They are decoded from the target's
// options in drehscheibe.yaml.
type Options struct {
	// URL receives the POST requests. Required. https, or http when the host
	// is loopback or AllowInsecureHTTP is set.
	URL string `yaml:"url" json:"url"`
	// AllowInsecureHTTP permits an http URL to a host that is not loopback.
	AllowInsecureHTTP bool `yaml:"allow_insecure_http" json:"allow_insecure_http"`
	// SecretEnv names the environment variable holding the HMAC secret.
	// Required; the secret itself never goes into the configuration file.
	SecretEnv string `yaml:"secret_env" json:"secret_env"`
	// Timeout bounds one request, from connecting to reading the response
	// (default 30s).
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// Headers are extra static headers sent with every request.
	Headers map[string]string `yaml:"headers" json:"headers"`
	// TLS configures the https client.
	TLS *TLSOptions `yaml:"tls" json:"tls"`
}

// TLSOptions configure the https client.
type TLSOptions struct {
	// CAFile is a PEM bundle of the CAs trusted for the receiver's
	// certificate. When set, it replaces the system roots for this target.
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// CertFile and KeyFile are the PEM client certificate and key the gateway
	// presents (mutual TLS). Both or neither.
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
	// InsecureSkipVerify turns off verification of the receiver's
	// certificate. For tests only; it makes TLS worthless against an attacker.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify" json:"insecure_skip_verify"`
}

// DefaultTimeout bounds a request when the timeout option is not set.
const DefaultTimeout = 30 * time.Second

// MinSecretBytes is the shortest HMAC secret accepted.
const MinSecretBytes = 16

// Duration is a time.Duration written as a Go duration string ("30s",
// "1m30s"). A bare number is rejected rather than read as nanoseconds.
type Duration time.Duration

var _ encoding.TextUnmarshaler = (*Duration)(nil)

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(text)))
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a number with a unit, e.g. 30s or 2m", string(text))
	}
	*d = Duration(v)
	return nil
}

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// reserved are headers the adapter sets itself or that would break the
// request; the headers option must not set them.
var reserved = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Content-Encoding": true, "Transfer-Encoding": true,
	"Host": true, "Connection": true, "Te": true, "Trailer": true, "Upgrade": true, "Expect": true,
}

// config is Options checked and resolved.
type config struct {
	url     *url.URL
	secret  []byte
	timeout time.Duration
	headers http.Header
	tls     *tls.Config
}

func (o Options) resolve(getenv func(string) string) (*config, error) {
	c := &config{timeout: time.Duration(o.Timeout), headers: http.Header{}}
	u, err := checkURL(o.URL, o.AllowInsecureHTTP)
	if err != nil {
		return nil, err
	}
	c.url = u

	if o.SecretEnv == "" {
		return nil, errors.New("option secret_env is required: the name of the environment variable that holds the HMAC secret")
	}
	secret := getenv(o.SecretEnv)
	if secret == "" {
		return nil, fmt.Errorf("option secret_env: environment variable %s is unset or empty; set it to the shared HMAC secret", o.SecretEnv)
	}
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("option secret_env: the secret in %s is %d bytes, want at least %d (e.g. openssl rand -hex 32)", o.SecretEnv, len(secret), MinSecretBytes)
	}
	c.secret = []byte(secret)

	switch {
	case c.timeout == 0:
		c.timeout = DefaultTimeout
	case c.timeout < 0:
		return nil, fmt.Errorf("option timeout %s must be positive", o.Timeout)
	}

	for k, v := range o.Headers {
		ck := http.CanonicalHeaderKey(strings.TrimSpace(k))
		switch {
		case !validToken(ck):
			return nil, fmt.Errorf("option headers: %q is not a valid header name", k)
		case reserved[ck] || strings.HasPrefix(ck, "Drehscheibe-"):
			return nil, fmt.Errorf("option headers: %s is set by the adapter and cannot be overridden", ck)
		case strings.ContainsAny(v, "\r\n\x00"):
			return nil, fmt.Errorf("option headers: the value of %s contains a line break or NUL", ck)
		}
		c.headers.Set(ck, v)
	}

	if o.TLS != nil {
		if u.Scheme != "https" {
			return nil, errors.New("option tls is set but url is not https")
		}
		if c.tls, err = o.TLS.config(); err != nil {
			return nil, fmt.Errorf("option tls: %w", err)
		}
	}
	return c, nil
}

func checkURL(raw string, allowHTTP bool) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("option url is required: the receiver's https address")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("option url: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("option url %s: scheme must be https or http", redact(u))
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("option url %s: no host", redact(u))
	case u.User != nil:
		return nil, fmt.Errorf("option url %s: must not contain credentials; the request is authenticated by its signature", redact(u))
	case u.Fragment != "":
		return nil, fmt.Errorf("option url %s: must not contain a fragment", redact(u))
	case u.Scheme == "http" && !allowHTTP && !loopback.Host(u.Hostname()):
		return nil, fmt.Errorf("option url %s: http to a host that is not loopback sends personal data unencrypted; use https, or set allow_insecure_http: true", redact(u))
	}
	return u, nil
}

// redact returns u without credentials, query and fragment, fit for errors and logs.
func redact(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return r.String()
}

func (o *TLSOptions) config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.InsecureSkipVerify} //nolint:gosec // opt-in for tests, documented
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate found", o.CAFile)
		}
		c.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("cert_file and key_file must be given together")
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file/key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// validToken reports whether s is an RFC 9110 token, as a header name must be.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r >= 0x80 || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) || r == 0x7f {
			return false
		}
	}
	return true
}
