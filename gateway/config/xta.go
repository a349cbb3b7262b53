package config

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/drehscheibe/drehscheibe/gateway/loopback"
)

// XTA configures the XTA 2 Version 3 server (docs/xta.md): its own
// listener with TLS client certificates, and the parties (XTA accounts)
// that client certificates may act for.
type XTA struct {
	// Enabled starts the XTA listener.
	Enabled bool `yaml:"enabled"`
	// Listen is the host:port of the XTA listener, separate from the REST API.
	Listen string `yaml:"listen"`
	// InstanceID names this XTA server in the message ids it creates
	// (urn:de:xta:messageid:<instance_id>:<uuid>) and in transport reports;
	// at most 41 characters.
	InstanceID string `yaml:"instance_id"`
	// TLS holds the server certificate and the CA that client
	// certificates must be issued by.
	TLS XTATLS `yaml:"tls"`
	// AllowPlainHTTP serves XTA without TLS. Only for tests and for a
	// TLS-terminating proxy in front that passes the verified client
	// identity in ClientHeader.
	AllowPlainHTTP bool `yaml:"allow_plain_http"`
	// ClientHeader is the HTTP header that carries the client identity on
	// a plain-HTTP listener (the value a party's client is compared with).
	ClientHeader string `yaml:"client_header"`
	// MaxContainerBytes limits the decoded content of one container
	// (message and attachments); XTA allows 40 MB.
	MaxContainerBytes ByteSize `yaml:"max_container_bytes"`
	// SyncTimeout bounds how long sendMessageSync waits for the delivery
	// of a message of a synchronous route (routes[].sync).
	SyncTimeout time.Duration `yaml:"sync_timeout"`
	// RateLimit is the token bucket of every client (certificate identity)
	// whose parties set none of their own, checked before the request body
	// is read. Clients that are no party's client share one bucket of this
	// size.
	RateLimit RateLimit `yaml:"rate_limit"`
	// Parties are the XTA accounts.
	Parties []XTAParty `yaml:"parties"`
	// Pull lists remote XTA message boxes whose messages the gateway
	// fetches into its intake (the pull intake). They work whether the XTA
	// server is enabled or not.
	Pull []XTAPull `yaml:"pull"`
}

// XTAPull is one remote XTA 2 Version 3 message box the gateway polls:
// getStatusList, getMessage for each message, the intake, and close only
// after the message is stored durably.
type XTAPull struct {
	// Name identifies the source in logs and is the default sender name.
	Name string `yaml:"name"`
	// URL is the endpoint of the remote XTA server: https, or http to a
	// loopback address.
	URL string `yaml:"url"`
	// TLS names the client certificate the remote server knows the
	// gateway by and the CA of the server's certificate.
	TLS XTAClientTLS `yaml:"tls"`
	// Reader is the party identifier whose box is read: the gateway's
	// account at the remote server (oscimeta:Author of the requests).
	Reader string `yaml:"reader"`
	// ReaderType is the identifier's type attribute; default "xoev".
	ReaderType string `yaml:"reader_type"`
	// Interval is the pause between two polls (default 30s).
	Interval time.Duration `yaml:"interval"`
	// Timeout bounds one request (default 60s).
	Timeout time.Duration `yaml:"timeout"`
	// Sender is the sender name of the fetched messages for routes
	// (match.sender); default "xta-pull-" followed by the name.
	Sender string `yaml:"sender"`
	// MaxContainerBytes limits the content of one fetched container
	// (default 40 MiB, the XTA limit).
	MaxContainerBytes ByteSize `yaml:"max_container_bytes"`
}

// XTAClientTLS names the PEM files of an XTA client.
type XTAClientTLS struct {
	// CertFile and KeyFile are the client certificate and its key;
	// required for https.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile holds the CA(s) of the server certificate; empty: the system's roots.
	CAFile string `yaml:"ca_file"`
}

func (t *XTAPull) setDefaults() {
	t.ReaderType = "xoev"
	t.Interval = 30 * time.Second
	t.Timeout = 60 * time.Second
	t.MaxContainerBytes = 40 * MiB
}

// SenderName is the sender name of the messages fetched from the source.
func (t XTAPull) SenderName() string {
	if t.Sender != "" {
		return t.Sender
	}
	return "xta-pull-" + t.Name
}

// XTATLS names the files of the XTA listener's TLS setup (PEM).
type XTATLS struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
}

// XTAParty is one XTA account: a party identifier (as in oscimeta:Author or
// Reader, e.g. "ags:09999000") and the client allowed to act for it.
type XTAParty struct {
	// Identifier is the party identifier value.
	Identifier string `yaml:"identifier"`
	// Type is the identifier's type attribute; default "xoev".
	Type string `yaml:"type"`
	// Name and Category fill the identifier's attributes in the metadata
	// drehscheibe writes for this party.
	Name     string `yaml:"name"`
	Category string `yaml:"category"`
	// Client is the client certificate's subject common name or one of its
	// subject alternative names (DNS, URI, e-mail); on a plain-HTTP
	// listener, the value of the client header. Several parties may share
	// a client (an intermediary acting for several authorities).
	Client string `yaml:"client"`
	// Sender is the sender name this party's sendMessage submissions carry
	// for routing rules (match.sender); default "xta-" followed by the
	// client, lower-cased, with other characters than letters and digits
	// as hyphens.
	Sender string `yaml:"sender"`
	// RateLimit, when set, replaces xta.rate_limit for the party's client.
	// The bucket belongs to the client, so parties sharing a client share
	// it and must not set different limits.
	RateLimit *RateLimit `yaml:"rate_limit"`
}

// defaults for the xta section, set by Default.
func defaultXTA() XTA {
	return XTA{
		Listen:            "127.0.0.1:8443",
		InstanceID:        "drehscheibe",
		ClientHeader:      "X-Client-Identity",
		MaxContainerBytes: 40 * MiB,
		SyncTimeout:       30 * time.Second,
		RateLimit:         RateLimit{PerSecond: 50, Burst: 100},
	}
}

func (t *XTAParty) setDefaults() { t.Type = "xoev" }

var instanceID = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,41}$`)

func (c *Config) validateXTA(p *problems) {
	x := c.XTA
	for i, t := range c.Targets {
		if (t.Type == "box" || t.Type == "xta-box") && !x.Enabled && len(c.Readers) == 0 {
			p.add(fmt.Sprintf("targets[%d].type", i), "a %s target needs readers (REST) or xta.enabled: true (XTA), or no reader can fetch its messages", t.Type)
		}
	}
	c.validatePull(p)
	if !x.Enabled {
		return
	}
	checkHostPort(p, "xta.listen", x.Listen, true)
	if x.Listen == c.Server.Listen && !strings.HasSuffix(x.Listen, ":0") {
		p.add("xta.listen", "%q is also server.listen; XTA needs a listener of its own", x.Listen)
	}
	if !instanceID.MatchString(x.InstanceID) {
		p.add("xta.instance_id", "%q must be 1 to 41 letters, digits, '_', '.' or '-'", x.InstanceID)
	}
	if x.MaxContainerBytes <= 0 {
		p.add("xta.max_container_bytes", "must be positive, e.g. \"40MiB\"")
	}
	switch {
	case x.SyncTimeout <= 0:
		p.add("xta.sync_timeout", "must be positive, e.g. \"30s\"")
	case c.Server.WriteTimeout > 0 && x.SyncTimeout >= c.Server.WriteTimeout:
		p.add("xta.sync_timeout", "%s must be shorter than server.write_timeout (%s), which bounds the XTA answer too", x.SyncTimeout, c.Server.WriteTimeout)
	}
	if x.AllowPlainHTTP {
		if x.ClientHeader == "" || http.CanonicalHeaderKey(x.ClientHeader) == "" {
			p.add("xta.client_header", "required with allow_plain_http: the header carrying the client identity")
		}
	} else {
		for _, f := range []struct{ key, path string }{
			{"xta.tls.cert_file", x.TLS.CertFile}, {"xta.tls.key_file", x.TLS.KeyFile}, {"xta.tls.client_ca_file", x.TLS.ClientCAFile},
		} {
			if f.path == "" {
				p.add(f.key, "required: XTA runs over HTTPS with client certificates (allow_plain_http only behind a TLS-terminating proxy)")
			} else if _, err := os.Stat(f.path); err != nil {
				p.add(f.key, "%v", err)
			}
		}
	}
	checkRateLimit(p, "xta.rate_limit", &x.RateLimit)
	if need := x.MaxRequestBytes(); x.MaxContainerBytes > 0 && int64(c.Server.MaxInFlightBytes) < need {
		p.add("server.max_in_flight_bytes", "%s is less than the largest XTA request (%d bytes: xta.max_container_bytes %s as base64 plus 1 MiB of SOAP), which could then never be answered",
			c.Server.MaxInFlightBytes, need, x.MaxContainerBytes)
	}
	seen := map[string]int{}
	limits := map[string]int{} // client → index of its first party
	for i, pt := range x.Parties {
		key := fmt.Sprintf("xta.parties[%d]", i)
		if pt.Identifier == "" {
			p.add(key+".identifier", "required: the party identifier, e.g. \"ags:09999000\"")
		} else if j, dup := seen[pt.Identifier]; dup {
			p.add(key+".identifier", "%q is already xta.parties[%d]", pt.Identifier, j)
		} else {
			seen[pt.Identifier] = i
		}
		if pt.Type == "" {
			p.add(key+".type", "must not be empty (default \"xoev\")")
		}
		if pt.Client == "" {
			p.add(key+".client", "required: the client certificate's CN or SAN that may act for this party")
		}
		if pt.Sender != "" && !token.MatchString(pt.Sender) {
			p.add(key+".sender", "%q must be lower-case letters, digits and hyphens", pt.Sender)
		}
		checkRateLimit(p, key+".rate_limit", pt.RateLimit)
		if j, ok := limits[pt.Client]; ok && pt.Client != "" && x.PartyLimit(pt) != x.PartyLimit(x.Parties[j]) {
			p.add(key+".rate_limit", "client %q shares one bucket with xta.parties[%d], whose rate limit differs; give both the same rate_limit", pt.Client, j)
		} else if !ok {
			limits[pt.Client] = i
		}
	}
}

// MaxRequestBytes is the most one XTA request may carry: the largest
// container as base64 plus 1 MiB of SOAP around it.
func (x XTA) MaxRequestBytes() int64 {
	return int64(x.MaxContainerBytes)/3*4 + 1<<20
}

// PartyLimit returns the rate limit of a party's client.
func (x XTA) PartyLimit(pt XTAParty) RateLimit {
	if pt.RateLimit != nil {
		return *pt.RateLimit
	}
	return x.RateLimit
}

var nonToken = regexp.MustCompile(`[^a-z0-9]+`)

// SenderName is the sender name of the party's submissions.
func (t XTAParty) SenderName() string {
	if t.Sender != "" {
		return t.Sender
	}
	return "xta-" + nonToken.ReplaceAllString(strings.ToLower(t.Client), "-")
}

func (c *Config) validatePull(p *problems) {
	seen := map[string]int{}
	for i, s := range c.XTA.Pull {
		key := fmt.Sprintf("xta.pull[%d]", i)
		checkName(p, key+".name", s.Name, seen, "xta.pull", i)
		if msg := checkXTAURL(s.URL); msg != "" {
			p.add(key+".url", "%s", msg)
		}
		if s.Reader == "" {
			p.add(key+".reader", "required: the party identifier whose box the gateway reads, e.g. \"ags:09999000\"")
		}
		if s.ReaderType == "" {
			p.add(key+".reader_type", "must not be empty (default \"xoev\")")
		}
		if s.Interval < time.Second {
			p.add(key+".interval", "%s is too short; poll at most once a second", s.Interval)
		}
		if s.Timeout <= 0 {
			p.add(key+".timeout", "must be positive, e.g. \"60s\"")
		}
		if s.MaxContainerBytes <= 0 {
			p.add(key+".max_container_bytes", "must be positive, e.g. \"40MiB\"")
		}
		if s.Sender != "" && !token.MatchString(s.Sender) {
			p.add(key+".sender", "%q must be lower-case letters, digits and hyphens", s.Sender)
		}
		t := s.TLS
		switch {
		case (t.CertFile == "") != (t.KeyFile == ""):
			p.add(key+".tls.cert_file", "cert_file and key_file go together")
		case t.CertFile == "" && strings.HasPrefix(s.URL, "https:"):
			p.add(key+".tls.cert_file", "required: XTA servers authenticate clients by certificate")
		}
		for _, f := range []struct{ key, path string }{{"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"ca_file", t.CAFile}} {
			if f.path == "" {
				continue
			}
			if _, err := os.Stat(f.path); err != nil {
				p.add(key+".tls."+f.key, "%v", err)
			}
		}
	}
}

// checkXTAURL checks the URL of a remote XTA server: https, or http to a
// loopback address. It returns what is wrong, or "".
func checkXTAURL(raw string) string {
	if raw == "" {
		return "required: the endpoint of the remote XTA server, e.g. \"https://xta.example.de/xta\""
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "":
		return fmt.Sprintf("%q is not an absolute URL", raw)
	case u.User != nil:
		return "must not contain credentials; XTA authenticates by client certificate"
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback.Host(u.Hostname()):
	default:
		return fmt.Sprintf("%q: want https (http only to a loopback address)", raw)
	}
	return ""
}
