package api

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/gateway/audit"
	"github.com/drehscheibe/drehscheibe/gateway/mailbox"
	"github.com/drehscheibe/drehscheibe/gateway/problem"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// Paging of GET /v1/inbox.
const (
	defaultInboxLimit = 100
	maxInboxLimit     = 1000
)

// inboxView is the JSON of one message in a reader's inbox.
type inboxView struct {
	SubmissionID    string           `json:"submission_id"`
	MessageID       string           `json:"message_id"`
	Reader          string           `json:"reader"`
	Author          string           `json:"author,omitempty"`
	Standard        string           `json:"standard,omitempty"`
	Version         string           `json:"version,omitempty"`
	Namespace       string           `json:"namespace"`
	MessageType     string           `json:"message_type"`
	Service         string           `json:"service,omitempty"`
	NachrichtenUUID string           `json:"nachrichten_uuid,omitempty"`
	Test            bool             `json:"test"`
	Encrypted       bool             `json:"encrypted,omitempty"`
	Size            int64            `json:"size"`
	SHA256          string           `json:"sha256"`
	DeliveredAt     time.Time        `json:"delivered_at"`
	FetchedAt       *time.Time       `json:"fetched_at,omitempty"`
	URL             string           `json:"url"`
	MessageURL      string           `json:"message_url"`
	Attachments     []attachmentView `json:"attachments,omitempty"`
}

type attachmentView struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	URL         string `json:"url"`
}

type inboxList struct {
	Messages []inboxView `json:"messages"`
	// Next, when set, fetches the next page (?after=…), as for dead letters.
	Next string `json:"next,omitempty"`
}

// boxID matches what can be a submission id; anything else is not in a box.
var boxID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// listInbox handles GET /v1/inbox[?fetched=&limit=&after=]: the messages in the boxes of the
// reader's identifiers, oldest first, a page at a time.
func (s *Server) listInbox(w http.ResponseWriter, r *http.Request) {
	p := s.reader(w, r)
	if p == nil {
		return
	}
	q := r.URL.Query()
	limit := defaultInboxLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxInboxLimit {
			s.writeProblem(w, r, problem.New(problem.BadRequest, "limit %q: want a number from 1 to %d", v, maxInboxLimit))
			return
		}
		limit = n
	}
	var fetched *bool
	if v := q.Get("fetched"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.writeProblem(w, r, problem.New(problem.BadRequest, "fetched %q: want true (fetched before) or false (not fetched yet)", v))
			return
		}
		fetched = &b
	}
	var after *mailbox.Entry
	if v := q.Get("after"); v != "" {
		var ok bool
		if after, ok = parseCursor(v); !ok {
			s.writeProblem(w, r, problem.New(problem.BadRequest, "after must be the next value of an earlier page, got %q", v))
			return
		}
	}
	list := inboxList{Messages: []inboxView{}}
	var entries []mailbox.Entry
	if s.Boxes != nil {
		var err error
		if entries, err = s.Boxes.List(r.Context(), p.Identifiers...); err != nil {
			s.unavailable(w, r, err)
			return
		}
	}
	var last *mailbox.Entry
	for i := range entries {
		e := &entries[i]
		if after != nil && !after.Before(e) || fetched != nil && *fetched == e.InitialFetch.IsZero() {
			continue
		}
		if len(list.Messages) == limit {
			list.Next = cursor(last)
			break
		}
		se, err := s.Store.Get(r.Context(), e.Submission)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			s.unavailable(w, r, err)
			return
		}
		list.Messages = append(list.Messages, s.inboxView(r, e, se.Record))
		last = e
	}
	if r.Method != http.MethodHead {
		ids := make([]string, len(list.Messages))
		for i, m := range list.Messages {
			ids[i] = m.SubmissionID
		}
		s.Audit.Record(audit.Entry{Action: audit.Listed, Role: string(RoleReader), Principal: p.Name, SubmissionIDs: ids,
			RemoteAddr: r.RemoteAddr, RequestID: requestID(r.Context())})
	}
	writeJSON(w, http.StatusOK, list)
}

// cursor is the opaque position after e.
func cursor(e *mailbox.Entry) string {
	return base64.RawURLEncoding.EncodeToString([]byte(e.Delivered.UTC().Format(time.RFC3339Nano) + " " + e.Submission))
}

func parseCursor(c string) (*mailbox.Entry, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, false
	}
	at, sub, ok := strings.Cut(string(b), " ")
	t, err := time.Parse(time.RFC3339Nano, at)
	if !ok || err != nil {
		return nil, false
	}
	return &mailbox.Entry{Delivered: t, Submission: sub}, true
}

// inboxEntry authenticates the reader and finds the message {id} in its
// boxes. A message in another reader's box is answered like one that does
// not exist. It writes the problem itself and returns nil when it fails.
func (s *Server) inboxEntry(w http.ResponseWriter, r *http.Request) (*Principal, *mailbox.Entry, *store.Record) {
	p := s.reader(w, r)
	if p == nil {
		return nil, nil, nil
	}
	id := r.PathValue("id")
	notFound := func() { s.writeProblem(w, r, problem.New(problem.NotFound, "no message %q in the inbox", id)) }
	if s.Boxes == nil || !boxID.MatchString(id) {
		notFound()
		return nil, nil, nil
	}
	e, err := s.Boxes.Get(r.Context(), id, p.Identifiers...)
	if errors.Is(err, mailbox.ErrNotFound) {
		notFound()
		return nil, nil, nil
	}
	if err != nil {
		s.unavailable(w, r, err)
		return nil, nil, nil
	}
	se, err := s.Store.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		notFound()
		return nil, nil, nil
	}
	if err != nil {
		s.unavailable(w, r, err)
		return nil, nil, nil
	}
	return p, e, &se.Record
}

// showInbox handles GET /v1/inbox/{id}: the message's metadata.
func (s *Server) showInbox(w http.ResponseWriter, r *http.Request) {
	p, e, rec := s.inboxEntry(w, r)
	if p == nil {
		return
	}
	if r.Method != http.MethodHead {
		s.audit(r, audit.Viewed, string(RoleReader), p.Name, e.Submission, e.Target, false)
	}
	writeJSON(w, http.StatusOK, s.inboxView(r, e, *rec))
}

// fetchInboxMessage handles GET /v1/inbox/{id}/message: the message as it
// was submitted, streamed from the store.
func (s *Server) fetchInboxMessage(w http.ResponseWriter, r *http.Request) {
	p, e, rec := s.inboxEntry(w, r)
	if p == nil {
		return
	}
	s.stream(w, r, p, e, rec.MessageSize, rec.MessageSHA256, "application/xml", "", func(ctx context.Context) (io.ReadCloser, error) {
		return s.Store.OpenSubmissionMessage(ctx, e.Submission)
	})
}

// fetchInboxAttachment handles GET /v1/inbox/{id}/attachments/{n}: the
// n-th attachment (from 1), streamed from the store.
func (s *Server) fetchInboxAttachment(w http.ResponseWriter, r *http.Request) {
	p, e, rec := s.inboxEntry(w, r)
	if p == nil {
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 || n > len(rec.Attachments) {
		s.writeProblem(w, r, problem.New(problem.NotFound, "message %q has no attachment %q (it has %d, numbered from 1)", e.Submission, r.PathValue("n"), len(rec.Attachments)))
		return
	}
	a := rec.Attachments[n-1]
	s.stream(w, r, p, e, a.Size, a.SHA256, a.ContentType, a.Name, func(ctx context.Context) (io.ReadCloser, error) {
		return s.Store.OpenObject(ctx, a.Object)
	})
}

// stream answers with the content open returns: its size, digest, type
// and, for an attachment, its file name. The first fetch of the message
// records the event fetched; HEAD records nothing.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, p *Principal, e *mailbox.Entry, size int64, sum, ctype, name string,
	open func(context.Context) (io.ReadCloser, error)) {
	body, err := open(r.Context())
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	defer func() { _ = body.Close() }()
	if r.Method != http.MethodHead {
		if err := s.Boxes.MarkFetched(r.Context(), e, "fetched over REST by "+p.Name); err != nil {
			s.unavailable(w, r, err)
			return
		}
		s.audit(r, audit.Fetched, string(RoleReader), p.Name, e.Submission, e.Target, false)
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	if sum != "" {
		h.Set("X-Content-SHA256", sum)
	}
	if name != "" {
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, body); err != nil {
		// The status is sent; the client sees a body shorter than Content-Length.
		s.Log.Warn("inbox fetch broke off", zap.String("request_id", requestID(r.Context())),
			zap.String("submission_id", e.Submission), zap.Error(err))
	}
}

// closeInbox handles POST /v1/inbox/{id}/close: the reader has the message;
// it leaves the box, and its submission's status becomes closed.
func (s *Server) closeInbox(w http.ResponseWriter, r *http.Request) {
	p, e, _ := s.inboxEntry(w, r)
	if p == nil {
		return
	}
	err := s.Boxes.Close(r.Context(), e.Reader, e.Submission, "closed over REST by "+p.Name)
	if errors.Is(err, mailbox.ErrNotFound) {
		// Closed meanwhile (by another request, or over XTA).
		s.writeProblem(w, r, problem.New(problem.NotFound, "no message %q in the inbox", e.Submission))
		return
	}
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	s.audit(r, audit.Closed, string(RoleReader), p.Name, e.Submission, e.Target, false)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) inboxView(r *http.Request, e *mailbox.Entry, rec store.Record) inboxView {
	url := s.baseURL(r) + "/v1/inbox/" + e.Submission
	v := inboxView{
		SubmissionID: e.Submission, MessageID: e.MessageID, Reader: e.Reader, Author: rec.Author,
		Standard: rec.Standard, Version: rec.Version, Namespace: rec.Namespace, MessageType: rec.MessageType,
		Service: rec.Service, NachrichtenUUID: rec.NachrichtenUUID, Test: rec.Test, Encrypted: rec.Encrypted,
		Size: rec.MessageSize, SHA256: rec.MessageSHA256, DeliveredAt: e.Delivered,
		URL: url, MessageURL: url + "/message",
	}
	if !e.InitialFetch.IsZero() {
		t := e.InitialFetch
		v.FetchedAt = &t
	}
	for i, a := range rec.Attachments {
		v.Attachments = append(v.Attachments, attachmentView{Name: a.Name, ContentType: a.ContentType, Size: a.Size, SHA256: a.SHA256,
			URL: url + "/attachments/" + strconv.Itoa(i+1)})
	}
	return v
}
