package config

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
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
	// Parties are the XTA accounts.
	Parties []XTAParty `yaml:"parties"`
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
}

// defaults for the xta section, set by Default.
func defaultXTA() XTA {
	return XTA{
		Listen:            "127.0.0.1:8443",
		InstanceID:        "drehscheibe",
		ClientHeader:      "X-Client-Identity",
		MaxContainerBytes: 40 * MiB,
	}
}

func (t *XTAParty) setDefaults() { t.Type = "xoev" }

var instanceID = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,41}$`)

func (c *Config) validateXTA(p *problems) {
	x := c.XTA
	for i, t := range c.Targets {
		if t.Type == "xta-box" && !x.Enabled {
			p.add(fmt.Sprintf("targets[%d].type", i), "an xta-box target needs xta.enabled: true, or no reader can fetch its messages")
		}
	}
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
	seen := map[string]int{}
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
	}
}

var nonToken = regexp.MustCompile(`[^a-z0-9]+`)

// SenderName is the sender name of the party's submissions.
func (t XTAParty) SenderName() string {
	if t.Sender != "" {
		return t.Sender
	}
	return "xta-" + nonToken.ReplaceAllString(strings.ToLower(t.Client), "-")
}
