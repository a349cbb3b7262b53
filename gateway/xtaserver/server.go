// Package xtaserver is drehscheibe's XTA 2 Version 3 server: the SOAP
// endpoint of ManagementPort, SendXtaPort and MsgBoxPort over the message
// boxes of gateway/mailbox, and the mapping of client
// certificates to XTA parties. The wire format comes from adapters/xta;
// sendMessage goes through the same intake pipeline as the REST API.
//
// It lives in gateway, not in adapters, because it needs the intake, the
// router and the store: adapters import only gateway/delivery, and the
// gateway may import the protocol package adapters/xta (which imports
// nothing of the gateway), so dependencies keep pointing one way
// (docs/decisions/0002-xta-server.md).
package xtaserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/gateway/audit"
	"github.com/drehscheibe/drehscheibe/gateway/certs"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/gateway/inflight"
	"github.com/drehscheibe/drehscheibe/gateway/intake"
	"github.com/drehscheibe/drehscheibe/gateway/mailbox"
	"github.com/drehscheibe/drehscheibe/gateway/routing"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// Options are what the server needs from the gateway.
type Options struct {
	Config   config.XTA
	Targets  []config.Target
	Pipeline *intake.Pipeline
	Router   *routing.Router
	Store    *store.Store
	Log      *zap.Logger
	// Audit records every call that reads or changes a message; nil records nothing.
	Audit *audit.Log
	// Boxes are the message boxes of the box targets (gateway/mailbox),
	// shared with the REST inbox.
	Boxes *mailbox.Boxes
	// InFlight bounds the requests in flight, together with the REST API; nil: no bound.
	InFlight *inflight.Limiter
	// Observer counts every answer; nil counts nothing.
	Observer Observer
}

// Observer counts the server's answers by operation (its XTA name, or
// "unknown" before the operation is known) and outcome: ok, rate-limited
// and busy for the refusals that carry Retry-After, else the fault code.
type Observer interface {
	XTARequest(operation, outcome string)
}

// The outcomes of refusals, in the vocabulary of the REST API's problem types.
const (
	OutcomeOK          = "ok"
	OutcomeRateLimited = "rate-limited"
	OutcomeBusy        = "busy"
)

// Server answers XTA requests. It is an http.Handler.
type Server struct {
	cfg      config.XTA
	pipeline *intake.Pipeline
	router   *routing.Router
	st       *store.Store
	state    *state
	log      *zap.Logger
	audit    *audit.Log
	parties  map[string]config.XTAParty
	boxes    map[string]bool // names of box targets
	// maxRequest bounds the bytes read per request: inline base64 of the
	// largest container plus room for the SOAP around it.
	maxRequest int64
	inFlight   *inflight.Limiter
	obs        Observer
	// buckets are the rate limits by party client, others the one of all
	// other clients; nil: no limit.
	buckets map[string]*bucket
	others  *bucket
}

// New makes the server and the JetStream buckets it keeps its state in.
func New(ctx context.Context, o Options) (*Server, error) {
	st, err := openState(ctx, o.Store, o.Boxes)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: o.Config, pipeline: o.Pipeline, router: o.Router, st: o.Store, state: st, log: o.Log.Named("xta"), audit: o.Audit,
		parties: map[string]config.XTAParty{}, boxes: map[string]bool{},
		maxRequest: o.Config.MaxRequestBytes(), inFlight: o.InFlight, obs: o.Observer,
	}
	s.buckets, s.others = newBuckets(o.Config)
	for _, p := range o.Config.Parties {
		s.parties[p.Identifier] = p
	}
	for _, t := range o.Targets {
		if mailbox.IsType(t.Type) {
			s.boxes[t.Name] = true
		}
	}
	return s, nil
}

// Listen opens the XTA listener: TLS with required, verified client
// certificates from tlsCerts (see LoadCerts), or plain TCP when
// allow_plain_http is set (tlsCerts nil).
func Listen(c config.XTA, tlsCerts *certs.Store) (net.Listener, error) {
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("xta.listen: %w", err)
	}
	if tlsCerts != nil {
		ln = tls.NewListener(ln, tlsCerts.TLSConfig())
	}
	return ln, nil
}

// LoadCerts reads the XTA listener's certificate, key and client CA: TLS
// 1.2 or 1.3 with the modern suites of package certs, client certificates
// required, HTTP/1.1. The store reloads them on demand (the gateway does so
// on SIGHUP). It returns nil for a plain-HTTP listener.
func LoadCerts(c config.XTA) (*certs.Store, error) {
	if c.AllowPlainHTTP {
		return nil, nil
	}
	st, err := certs.Load(certs.Files{Cert: c.TLS.CertFile, Key: c.TLS.KeyFile, ClientCA: c.TLS.ClientCAFile,
		RequireClientCert: true, Protocols: []string{"http/1.1"}})
	if err != nil {
		return nil, fmt.Errorf("xta.tls: %w", err)
	}
	return st, nil
}

// call is one request being answered.
type call struct {
	op      xta.Operation
	env     *xta.Envelope
	clients []string // identities of the client: certificate CN and SANs, or the client header
	start   time.Time
	refused string // OutcomeRateLimited or OutcomeBusy when a limit refused the call
}

// reply is a successful answer: headers and body, each optional.
type reply struct {
	headers func(w *xta.Writer)
	body    func(w *xta.Writer)
}

// faultAction is WS-Addressing's action for faults of unknown operations.
const faultAction = "http://www.w3.org/2005/08/addressing/soap/fault"

// ServeHTTP reads the SOAP request, checks the client and answers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{start: time.Now(), clients: s.identities(r)}
	if f := s.throttle(w, c); f != nil {
		c.op, c.refused = headerOp(r), OutcomeRateLimited
		s.write(w, c, nil, f)
		return
	}
	if r.Method != http.MethodPost {
		s.write(w, c, nil, xta.NewFault(xta.InvalidParameters, "XTA requests are SOAP over HTTP POST, not %s", r.Method))
		return
	}
	release, f := s.admit(w, r)
	if f != nil {
		c.op, c.refused = headerOp(r), OutcomeBusy
		s.write(w, c, nil, f)
		return
	}
	defer release()
	// A body cannot be longer than its Content-Length: that bounds the
	// buffers Read sizes by the size attributes clients announce.
	limit := s.maxRequest
	if r.ContentLength > 0 && r.ContentLength < limit {
		limit = r.ContentLength
	}
	env, err := xta.Read(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction"), r.Body, limit)
	if err != nil {
		code := xta.InvalidParameters
		if errors.Is(err, xta.ErrTooLarge) {
			code = xta.TooLarge
			err = fmt.Errorf("the request is larger than %d bytes (xta.max_container_bytes %s as base64 plus SOAP)", s.maxRequest, s.cfg.MaxContainerBytes)
		} else {
			// A framing fault (a DOCTYPE, too many MIME parts, …) may come
			// before the end of the body. Reading the rest, within the
			// request limit and the read timeout, lets a client that
			// writes its whole request before it reads see the fault
			// instead of a reset connection.
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, limit))
		}
		s.write(w, c, nil, xta.NewFault(code, "%v", err))
		return
	}
	c.env = env
	op, ok := xta.OperationByAction(env.Action)
	if !ok {
		s.write(w, c, nil, xta.NewFault(xta.InvalidParameters, "unknown action %q; see XTA.wsdl for the SOAPAction of each operation", env.Action))
		return
	}
	c.op = op
	rep, f := s.dispatch(context.WithValue(r.Context(), remoteKey{}, r.RemoteAddr), c)
	s.write(w, c, rep, f)
}

// remoteKey carries the client's address in a request's context, for the audit log.
type remoteKey struct{}

func remoteAddr(ctx context.Context) string {
	a, _ := ctx.Value(remoteKey{}).(string)
	return a
}

// record writes the audit line of party's action on submission sub.
func (s *Server) record(ctx context.Context, action, party, sub string) {
	s.audit.Record(audit.Entry{Action: action, Role: "xta-party", Principal: party, SubmissionID: sub, RemoteAddr: remoteAddr(ctx)})
}

func (s *Server) dispatch(ctx context.Context, c *call) (*reply, *xta.Fault) {
	switch c.op {
	case xta.OpCheckAccountActive:
		return s.checkAccountActive(c)
	case xta.OpCreateMessageID:
		return s.createMessageID(c)
	case xta.OpLookupService:
		return s.lookupService(c)
	case xta.OpGetTransportReport:
		return s.getTransportReport(ctx, c)
	case xta.OpCancelMessage:
		return s.cancelMessage(ctx, c)
	case xta.OpSendMessage, xta.OpSendMessageSync:
		return s.sendMessage(ctx, c)
	default:
		return s.msgBox(ctx, c)
	}
}

// write answers with MTOM, a fault or the reply. The response is encoded
// while it is sent: content the reply streams from the store goes to the
// connection chunk by chunk. If that fails half way, the connection is cut,
// so that the client sees a broken response rather than a short one.
func (s *Server) write(w http.ResponseWriter, c *call, rep *reply, f *xta.Fault) {
	m := &xta.Message{Action: c.op.Action, MessageID: "urn:uuid:" + uuid.NewString(), Fault: f}
	if m.Action == "" {
		m.Action = faultAction
	}
	if c.env != nil {
		m.RelatesTo = strings.TrimSpace(c.env.Header.MessageID)
	}
	if rep != nil {
		m.Headers, m.Body = rep.headers, rep.body
	}
	boundary := "MIMEBoundary_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	status := http.StatusOK
	fields := []zap.Field{zap.String("operation", c.op.Name), zap.Strings("client", c.clients)}
	if f != nil {
		status = http.StatusInternalServerError
		if f.Code.Sender {
			status = http.StatusBadRequest
		}
		fields = append(fields, zap.String("fault", f.Code.Code), zap.String("reason", f.Reason))
	}
	s.count(c, f)
	enc := xta.Prepare(m, boundary)
	w.Header().Set("Content-Type", m.ContentType(boundary))
	w.Header().Set("Content-Length", strconv.FormatInt(enc.Len(), 10))
	w.WriteHeader(status)
	if _, err := enc.WriteTo(w); err != nil {
		s.log.Error("response broken off", append(fields, zap.Duration("took", time.Since(c.start)), zap.Error(err))...)
		panic(http.ErrAbortHandler)
	}
	fields = append(fields, zap.Duration("took", time.Since(c.start)))
	if f != nil {
		s.log.Info("xta fault", fields...)
	} else {
		s.log.Info("xta request", fields...)
	}
}

// count tells the observer the outcome of c.
func (s *Server) count(c *call, f *xta.Fault) {
	if s.obs == nil {
		return
	}
	op, outcome := c.op.Name, OutcomeOK
	if op == "" {
		op = "unknown"
	}
	switch {
	case c.refused != "":
		outcome = c.refused
	case f != nil:
		outcome = f.Code.Code
	}
	s.obs.XTARequest(op, outcome)
}

// identities are the names a client can be configured by: the client
// certificate's subject CN and SANs, or on a plain-HTTP listener the client header.
func (s *Server) identities(r *http.Request) []string {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		crt := r.TLS.PeerCertificates[0]
		var out []string
		if crt.Subject.CommonName != "" {
			out = append(out, crt.Subject.CommonName)
		}
		out = append(out, crt.DNSNames...)
		out = append(out, crt.EmailAddresses...)
		for _, u := range crt.URIs {
			out = append(out, u.String())
		}
		return out
	}
	if s.cfg.AllowPlainHTTP && r.TLS == nil {
		if v := strings.TrimSpace(r.Header.Get(s.cfg.ClientHeader)); v != "" {
			return []string{v}
		}
	}
	return nil
}

// party checks that the client may act for the party p names.
func (s *Server) party(c *call, p *xta.Party, role string) (config.XTAParty, *xta.Fault) {
	id := p.ID()
	if id == "" {
		return config.XTAParty{}, xta.NewFault(xta.NoParameters, "the %s identifier is missing", role)
	}
	pt, ok := s.parties[id]
	if !ok {
		return pt, xta.NewFault(xta.UnknownAccount, "%s %q is not an account of this XTA server", role, id)
	}
	for _, cl := range c.clients {
		if cl == pt.Client {
			return pt, nil
		}
	}
	if len(c.clients) == 0 {
		return pt, xta.NewFault(xta.UnknownAccount, "the request carries no client identity (TLS client certificate)")
	}
	return pt, xta.NewFault(xta.AccountMismatch, "the client %q may not act for %s %q", c.clients[0], role, id)
}

// author checks the oscimeta:Author header of a management or box request.
func (s *Server) author(c *call) (config.XTAParty, *xta.Fault) {
	if c.env.Header.Author == nil {
		return config.XTAParty{}, xta.NewFault(xta.NoParameters, "the oscimeta:Author header is missing")
	}
	return s.party(c, c.env.Header.Author, "Author")
}

func internal(err error) *xta.Fault {
	return xta.NewFault(xta.Internal, "%v", err)
}
