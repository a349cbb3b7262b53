package api

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/drehscheibe/drehscheibe/gateway/problem"
	"github.com/drehscheibe/drehscheibe/gateway/ratelimit"
)

// Role is the kind of a principal: what it may do.
type Role string

// The roles: senders submit and follow their submissions, readers fetch
// the messages in their boxes (/v1/inbox), admins use /v1/admin.
const (
	RoleSender Role = "sender"
	RoleReader Role = "reader"
	RoleAdmin  Role = "admin"
)

// Principal is a sender, reader or admin with its credentials.
type Principal struct {
	Name string
	Role Role
	// Identifiers are a reader's reader ids: the boxes it may read.
	Identifiers []string
	// KeySHA256 is the hex SHA-256 of its API key; empty: no key.
	KeySHA256 string
	// CertSubjectCN or CertSAN names its TLS client certificate; both
	// empty: no certificate.
	CertSubjectCN, CertSAN string
	// RequireCert makes the API key alone insufficient.
	RequireCert bool
	// PerSecond and Burst shape its rate limit; PerSecond 0: no limit.
	PerSecond, Burst int

	limiter *ratelimit.Bucket
}

// Principals finds the principal of a request by API key or by client
// certificate.
type Principals struct {
	// keys indexes by the SHA-256 of the API key: a request's key is
	// hashed and looked up, never compared with a configured key itself.
	keys  map[[sha256.Size]byte]*Principal
	certs map[string]*Principal // "cn:" + subject CN or "san:" + SAN
}

// NewPrincipals indexes ps. The configuration guarantees that every key and
// every certificate name belongs to one principal.
func NewPrincipals(ps []Principal) *Principals {
	idx := &Principals{keys: map[[sha256.Size]byte]*Principal{}, certs: map[string]*Principal{}}
	for i := range ps {
		p := &ps[i]
		p.limiter = ratelimit.New(p.PerSecond, p.Burst)
		// The configuration accepts only 64 hex digits; anything else
		// matches no key.
		var sum [sha256.Size]byte
		if len(p.KeySHA256) == hex.EncodedLen(len(sum)) && hexDecodes(sum[:], p.KeySHA256) {
			idx.keys[sum] = p
		}
		if p.CertSubjectCN != "" {
			idx.certs["cn:"+p.CertSubjectCN] = p
		}
		if p.CertSAN != "" {
			idx.certs["san:"+p.CertSAN] = p
		}
	}
	return idx
}

// byCert returns the principal of the request's verified client
// certificate: its subject CN first, then its SANs in order.
func (ps *Principals) byCert(r *http.Request) *Principal {
	if ps == nil || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	crt := r.TLS.PeerCertificates[0]
	names := []string{"cn:" + crt.Subject.CommonName}
	for _, n := range crt.DNSNames {
		names = append(names, "san:"+n)
	}
	for _, n := range crt.EmailAddresses {
		names = append(names, "san:"+n)
	}
	for _, u := range crt.URIs {
		names = append(names, "san:"+u.String())
	}
	for _, n := range names {
		if p, ok := ps.certs[n]; ok {
			return p
		}
	}
	return nil
}

// hexDecodes decodes the hex digits s into dst and reports whether s is
// valid hex.
func hexDecodes(dst []byte, s string) bool {
	_, err := hex.Decode(dst, []byte(s))
	return err == nil
}

func (ps *Principals) byKey(key string) *Principal {
	if ps == nil {
		return nil
	}
	return ps.keys[sha256.Sum256([]byte(key))]
}

// onlyFor says why a principal of another role is refused (403), by the
// role the endpoint is for.
var onlyFor = map[Role]string{
	RoleSender: "only senders submit and read submissions; this key is a %s's",
	RoleReader: "only readers (readers in the gateway's configuration) use the inbox; this key is a %s's",
	RoleAdmin:  "only admins (admins in the gateway's configuration) use admin endpoints; this key is a %s's",
}

// sender authenticates a sender. It writes the 401 or 403 itself and
// returns "" when it fails.
func (s *Server) sender(w http.ResponseWriter, r *http.Request) string {
	p, _ := s.authenticate(w, r, RoleSender)
	if p == nil {
		return ""
	}
	return p.Name
}

// admin authenticates an admin for /v1/admin/…, like sender.
func (s *Server) admin(w http.ResponseWriter, r *http.Request) string {
	p, _ := s.authenticate(w, r, RoleAdmin)
	if p == nil {
		return ""
	}
	return p.Name
}

// reader authenticates a reader for /v1/inbox/…; nil when it fails.
func (s *Server) reader(w http.ResponseWriter, r *http.Request) *Principal {
	p, _ := s.authenticate(w, r, RoleReader)
	return p
}

// authenticate finds the request's principal by API key and client
// certificate. Missing or invalid credentials, a key and a certificate of
// different principals, or a key without the certificate its principal
// requires are 401; a principal of another role than want is 403 with why.
// On failure it returns nil and the problem type it answered with.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, want Role) (*Principal, problem.Type) {
	key := r.Header.Get("X-Api-Key") // X-API-Key in its canonical form
	if a := r.Header.Get("Authorization"); key == "" && len(a) > 7 && strings.EqualFold(a[:7], "Bearer ") {
		key = strings.TrimSpace(a[7:])
	}
	byCert := s.Principals.byCert(r)
	p := byCert
	switch {
	case key == "" && byCert == nil:
		w.Header().Set("WWW-Authenticate", `Bearer realm="drehscheibe"`)
		return nil, s.unauthorized(w, r, "no API key: send Authorization: Bearer <key> (or a configured client certificate)")
	case key != "":
		if p = s.Principals.byKey(key); p == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="drehscheibe", error="invalid_token"`)
			return nil, s.unauthorized(w, r, "the API key is not valid")
		}
		if byCert != nil && byCert != p {
			return nil, s.unauthorized(w, r, "the API key and the client certificate belong to different principals")
		}
		if p.RequireCert && byCert != p {
			return nil, s.unauthorized(w, r, "%q must present its client certificate; the API key alone is not enough", p.Name)
		}
	}
	if p.Role != want {
		s.writeProblem(w, r, problem.New(problem.NotAllowed, onlyFor[want], p.Role))
		return nil, problem.NotAllowed
	}
	if secs := p.limiter.Take(); secs > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.writeProblem(w, r, problem.New(problem.RateLimited, "%q exceeded its rate limit of %d requests per second (burst %d); retry after %d s",
			p.Name, p.PerSecond, p.Burst, secs))
		return nil, problem.RateLimited
	}
	return p, problem.Type{}
}

func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, format string, args ...any) problem.Type {
	s.writeProblem(w, r, problem.New(problem.Unauthorized, format, args...))
	return problem.Unauthorized
}
