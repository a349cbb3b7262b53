// Package api is drehscheibe's REST API under /v1 (see api/openapi.json and
// docs/efa-providers.md). Every error is a problem from gateway/problem; every
// response carries X-Request-ID.
package api

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/gateway/audit"
	"github.com/drehscheibe/drehscheibe/gateway/inflight"
	"github.com/drehscheibe/drehscheibe/gateway/intake"
	"github.com/drehscheibe/drehscheibe/gateway/mailbox"
	"github.com/drehscheibe/drehscheibe/gateway/metrics"
	"github.com/drehscheibe/drehscheibe/gateway/problem"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// OpenAPI is the OpenAPI 3.1 description served at /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

// Limits bound what one request may carry.
type Limits struct {
	// MaxBodyBytes bounds the whole body; it must be positive.
	MaxBodyBytes int64
	// MaxAttachments bounds the number of attachments; 0 allows none.
	MaxAttachments int
	// MaxAttachmentBytes bounds one attachment; it must be positive.
	MaxAttachmentBytes int64
}

// Server holds what the handlers need.
type Server struct {
	Pipeline *intake.Pipeline
	Store    *store.Store
	Metrics  *metrics.Metrics
	Log      *zap.Logger
	Limits   Limits
	// Principals are the senders, readers and admins that may use the API.
	Principals *Principals
	// Boxes are the message boxes readers fetch from (/v1/inbox); nil: none.
	Boxes *mailbox.Boxes
	// Audit records who submitted, fetched, replayed or discarded what; nil records nothing.
	Audit *audit.Log
	// Targets reports whether a delivery target is configured (replay
	// refuses dead letters of targets that are not).
	Targets func(name string) bool
	// PublicURL, if set, prefixes Location and status_url (e.g. https://gw.example.org).
	PublicURL string
	// Ready reports readiness for /readyz.
	Ready func(context.Context) error
	// InFlight bounds the requests with a body in flight; nil: no bound.
	InFlight *inflight.Limiter
}

// Handler returns the HTTP handler with every route and the middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.route(mux, "/v1/submissions", http.MethodPost, s.submit)
	s.route(mux, "/v1/submissions/{id}", http.MethodGet, s.status)
	s.route(mux, "/v1/validate", http.MethodPost, s.validate)
	s.route(mux, "/v1/inbox", http.MethodGet, s.listInbox)
	s.route(mux, "/v1/inbox/{id}", http.MethodGet, s.showInbox)
	s.route(mux, "/v1/inbox/{id}/message", http.MethodGet, s.fetchInboxMessage)
	s.route(mux, "/v1/inbox/{id}/attachments/{n}", http.MethodGet, s.fetchInboxAttachment)
	s.route(mux, "/v1/inbox/{id}/close", http.MethodPost, s.closeInbox)
	s.route(mux, "/v1/admin/deadletters", http.MethodGet, s.listDeadLetters)
	s.routes(mux, "/v1/admin/deadletters/{id}", map[string]http.HandlerFunc{
		http.MethodGet: s.showDeadLetter, http.MethodDelete: s.discardDeadLetter})
	s.route(mux, "/v1/admin/deadletters/{id}/replay", http.MethodPost, s.replayDeadLetter)
	s.route(mux, "/openapi.json", http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(OpenAPI)
	})
	s.route(mux, "/healthz", http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.route(mux, "/readyz", http.MethodGet, s.readyz)
	promH := promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{})
	s.route(mux, "/metrics", http.MethodGet, promH.ServeHTTP)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeProblem(w, r, problem.New(problem.NotFound, "no endpoint %s", r.URL.Path))
	})
	return s.middleware(mux)
}

// route registers h for one method; other methods get a problem document.
func (s *Server) route(mux *http.ServeMux, pattern, method string, h http.HandlerFunc) {
	s.routes(mux, pattern, map[string]http.HandlerFunc{method: h})
}

// routes registers a handler per method; other methods get a problem
// document. HEAD is served by the GET handler.
func (s *Server) routes(mux *http.ServeMux, pattern string, hs map[string]http.HandlerFunc) {
	allowed := make([]string, 0, len(hs))
	for m := range hs {
		allowed = append(allowed, m)
	}
	sort.Strings(allowed)
	allow := strings.Join(allowed, ", ")
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		h, ok := hs[r.Method]
		if !ok && r.Method == http.MethodHead {
			h, ok = hs[http.MethodGet]
		}
		if !ok {
			w.Header().Set("Allow", allow)
			s.writeProblem(w, r, problem.New(problem.MethodNotAllowed, "%s does not support %s; use %s", r.URL.Path, r.Method, allow))
			return
		}
		h(w, r)
	})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	sender := s.sender(w, r)
	if sender == "" {
		return
	}
	id := r.PathValue("id")
	e, err := s.Store.Get(r.Context(), id)
	// Another sender's submission is as absent as a missing one.
	if errors.Is(err, store.ErrNotFound) || (err == nil && e.Record.Sender != sender) {
		s.writeProblem(w, r, problem.New(problem.NotFound, "no submission %q", id))
		return
	}
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	status, events, err := s.Store.State(r.Context(), e)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	s.audit(r, audit.Viewed, "sender", sender, e.Record.ID, "", false)
	writeJSON(w, http.StatusOK, statusView(e.Record, s.statusURL(r, e.Record.ID), status, events))
}

func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.Log.Error("jetstream unavailable", zap.String("request_id", requestID(r.Context())), zap.Error(err))
	w.Header().Set("Retry-After", "5")
	s.writeProblem(w, r, problem.New(problem.Unavailable, "the gateway's store is unavailable; retry later"))
}

// statusURL is the absolute URL of a submission.
func (s *Server) statusURL(r *http.Request, id string) string {
	return s.baseURL(r) + "/v1/submissions/" + id
}

// baseURL is PublicURL if set, else the scheme and host the client used.
func (s *Server) baseURL(r *http.Request) string {
	base := strings.TrimRight(s.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base
}

// writeJSON answers code with v as indented JSON. It encodes into a pooled
// buffer with a pooled encoder (the same bytes as a json.Encoder on w, in
// one Write) so that an answer costs no encoder, indent buffer or growing
// output buffer of its own.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	e := jsonEncoders.Get().(*jsonEncoder)
	if e.enc.Encode(v) == nil {
		_, _ = w.Write(e.buf.Bytes())
	}
	e.buf.Reset()
	if e.buf.Cap() <= maxPooledJSON {
		jsonEncoders.Put(e)
	}
}

// jsonEncoder is an indenting JSON encoder with its output buffer.
type jsonEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// maxPooledJSON bounds the buffers kept for reuse: a large answer (a long
// list) does not keep its memory.
const maxPooledJSON = 64 << 10

var jsonEncoders = sync.Pool{New: func() any {
	e := &jsonEncoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetIndent("", "  ")
	return e
}}

// submissionView is the JSON of a submission in 202 and status answers.
type submissionView struct {
	ID          string             `json:"id"`
	Status      string             `json:"status"`
	StatusURL   string             `json:"status_url"`
	ReceivedAt  time.Time          `json:"received_at"`
	Facts       factsView          `json:"facts"`
	Route       routeView          `json:"route"`
	Attachments []store.Attachment `json:"attachments,omitempty"`
	Events      []store.Event      `json:"events,omitempty"`
}

type factsView struct {
	Standard        string `json:"standard,omitempty"`
	Version         string `json:"version,omitempty"`
	Namespace       string `json:"namespace"`
	MessageType     string `json:"message_type"`
	Author          string `json:"author,omitempty"`
	Reader          string `json:"reader,omitempty"`
	NachrichtenUUID string `json:"nachrichten_uuid,omitempty"`
	Service         string `json:"service,omitempty"`
	Test            bool   `json:"test"`
}

type routeView struct {
	Rule   string `json:"rule"`
	Target string `json:"target"`
}

func statusView(r store.Record, url, status string, events []store.Event) submissionView {
	v := submissionView{
		ID: r.ID, Status: status, StatusURL: url, ReceivedAt: r.ReceivedAt,
		Facts: factsView{Standard: r.Standard, Version: r.Version, Namespace: r.Namespace, MessageType: r.MessageType,
			Author: r.Author, Reader: r.Reader, NachrichtenUUID: r.NachrichtenUUID, Service: r.Service, Test: r.Test},
		Route: routeView{Rule: r.Rule, Target: r.Target},
	}
	// Senders see that an attempt failed and whether it will be retried, not
	// the receiver's internals (addresses, paths) that error texts carry;
	// operators find those in the logs under the submission id.
	for _, e := range events {
		if e.Error != "" {
			e.Error = "delivery attempt failed"
		}
		v.Events = append(v.Events, e)
	}
	for _, a := range r.Attachments {
		a.Object = ""
		v.Attachments = append(v.Attachments, a)
	}
	return v
}
