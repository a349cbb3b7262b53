package xta

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"time"

	"github.com/drehscheibe/drehscheibe/gateway/loopback"
)

// PushOptions configure an xta-push target: the options of the target in
// drehscheibe.yaml (docs/xta.md, "Client role").
type PushOptions struct {
	// URL is the endpoint of the remote XTA 2 Version 3 server (one URL for
	// all ports): https, or http to a loopback address.
	URL string `yaml:"url"`
	// TLS names the client certificate the remote server knows the gateway
	// by, and the CA its server certificate is checked against.
	TLS ClientTLS `yaml:"tls"`
	// MessageID chooses the message ids: "stable" (default) keeps the id a
	// message came with by XTA and otherwise derives one from the
	// submission id, so that every attempt sends under the same id;
	// "create" asks the remote server's createMessageId.
	MessageID string `yaml:"message_id"`
	// InstanceID names this gateway in stable message ids
	// (urn:de:xta:messageid:<instance_id>:<submission id>); default "drehscheibe".
	InstanceID string `yaml:"instance_id"`
	// Timeout bounds one request (default 60s).
	Timeout time.Duration `yaml:"timeout"`
	// ReportTimeout bounds how long one attempt follows getTransportReport
	// for a final status after the remote server accepted the message
	// (default 60s). Keep it well below the target's ack_wait × 10.
	ReportTimeout time.Duration `yaml:"report_timeout"`
	// ReportInterval is the pause between two getTransportReport calls (default 2s).
	ReportInterval time.Duration `yaml:"report_interval"`
	// AcceptOpen counts a message the remote server accepted and still
	// reports open (0) or yellow (2) after ReportTimeout as delivered.
	// Without it such an attempt fails transiently and the gateway asks
	// again later; set it when the remote keeps messages in a box that
	// its reader empties rarely.
	AcceptOpen bool `yaml:"accept_open"`
}

// ClientTLS names the PEM files of an XTA client's TLS setup.
type ClientTLS struct {
	// CertFile and KeyFile are the client certificate and its key. XTA
	// servers require a client certificate; both are required for https.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile holds the CA(s) the server certificate is checked against;
	// empty: the system's roots.
	CAFile string `yaml:"ca_file"`
}

// Defaults of PushOptions.
const (
	DefaultTimeout        = 60 * time.Second
	DefaultReportTimeout  = 60 * time.Second
	DefaultReportInterval = 2 * time.Second
)

// Message id modes of PushOptions.MessageID.
const (
	MessageIDStable = "stable"
	MessageIDCreate = "create"
)

var instanceID = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,41}$`)

// check fills the defaults and reports the first bad option as "<key>: <problem>".
func (o *PushOptions) check() error {
	if o.MessageID == "" {
		o.MessageID = MessageIDStable
	}
	if o.InstanceID == "" {
		o.InstanceID = "drehscheibe"
	}
	for _, d := range []struct {
		key string
		v   *time.Duration
		def time.Duration
	}{{"timeout", &o.Timeout, DefaultTimeout}, {"report_timeout", &o.ReportTimeout, DefaultReportTimeout}, {"report_interval", &o.ReportInterval, DefaultReportInterval}} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			return fmt.Errorf("%s: %s must be positive", d.key, *d.v)
		}
	}
	switch {
	case o.MessageID != MessageIDStable && o.MessageID != MessageIDCreate:
		return fmt.Errorf("message_id: %q must be %q or %q", o.MessageID, MessageIDStable, MessageIDCreate)
	case !instanceID.MatchString(o.InstanceID):
		return fmt.Errorf("instance_id: %q must be 1 to 41 letters, digits, '_', '.' or '-'", o.InstanceID)
	}
	_, err := CheckURL(o.URL)
	return err
}

// CheckURL checks the URL of a remote XTA server: https, or http to a
// loopback address (tests; everything else would send personal data
// unencrypted). The error starts with "url: ".
func CheckURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("url: required: the endpoint of the remote XTA server")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("url: %v", err)
	case u.Host == "":
		return nil, fmt.Errorf("url: %q has no host", raw)
	case u.User != nil:
		return nil, errors.New("url: must not contain credentials; XTA authenticates by client certificate")
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback.Host(u.Hostname()):
	case u.Scheme == "http":
		return nil, fmt.Errorf("url: http to %s would send personal data unencrypted; use https", u.Hostname())
	default:
		return nil, fmt.Errorf("url: scheme %q: want https", u.Scheme)
	}
	return u, nil
}

// Config loads the files into a TLS client configuration. With https the
// client certificate is required. Errors start with "tls.<key>: ".
func (t ClientTLS) Config(https bool) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		return nil, errors.New("tls.cert_file: cert_file and key_file go together")
	case t.CertFile == "" && https:
		return nil, errors.New("tls.cert_file: required: XTA servers authenticate clients by certificate")
	case t.CertFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %v", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %v", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: no PEM certificate in %s", t.CAFile)
		}
	}
	return c, nil
}
