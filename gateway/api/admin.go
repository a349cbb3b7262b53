package api

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/drehscheibe/drehscheibe/gateway/audit"
	"github.com/drehscheibe/drehscheibe/gateway/problem"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// Paging of GET /v1/admin/deadletters.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// targetName is the form of a configured target name (config's token).
var targetName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// deadLetterView is the JSON of a dead letter on the admin endpoints. Unlike
// the sender's view it shows error texts in full: admins are the operators.
type deadLetterView struct {
	ID             string        `json:"id"`
	Target         string        `json:"target"`
	Reason         string        `json:"reason"`
	Error          string        `json:"error,omitempty"`
	Attempts       int           `json:"attempts"`
	DeadLetteredAt time.Time     `json:"dead_lettered_at"`
	QueuedAt       time.Time     `json:"queued_at"`
	Sender         string        `json:"sender"`
	Facts          factsView     `json:"facts"`
	Route          routeView     `json:"route"`
	Status         string        `json:"status,omitempty"`
	Events         []store.Event `json:"events,omitempty"`
}

func newDeadLetterView(dl *store.DeadLetter) deadLetterView {
	r := dl.Record
	return deadLetterView{
		ID: dl.ID, Target: dl.Target, Reason: dl.Reason, Error: dl.Error, Attempts: dl.Attempts,
		DeadLetteredAt: dl.At, QueuedAt: dl.QueuedAt, Sender: r.Sender,
		Facts: factsView{Standard: r.Standard, Version: r.Version, Namespace: r.Namespace, MessageType: r.MessageType,
			Author: r.Author, Reader: r.Reader, NachrichtenUUID: r.NachrichtenUUID, Service: r.Service, Test: r.Test},
		Route: routeView{Rule: r.Rule, Target: r.Target},
	}
}

// listDeadLetters handles GET /v1/admin/deadletters[?target=&limit=&after=].
func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	admin := s.admin(w, r)
	if admin == "" {
		return
	}
	q := r.URL.Query()
	target := q.Get("target")
	if target != "" && !targetName.MatchString(target) {
		s.writeProblem(w, r, problem.New(problem.BadRequest, "target %q is not a target name", target))
		return
	}
	limit := defaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			s.writeProblem(w, r, problem.New(problem.BadRequest, "limit must be a number from 1 to %d, got %q", maxListLimit, v))
			return
		}
		limit = n
	}
	var after uint64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			s.writeProblem(w, r, problem.New(problem.BadRequest, "after must be the next value of an earlier page, got %q", v))
			return
		}
		after = n
	}
	list, next, err := s.Store.DeadLetters(r.Context(), target, after, limit)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	out := struct {
		DeadLetters []deadLetterView `json:"dead_letters"`
		Next        string           `json:"next,omitempty"`
	}{DeadLetters: make([]deadLetterView, 0, len(list))}
	ids := make([]string, 0, len(list))
	for i := range list {
		out.DeadLetters = append(out.DeadLetters, newDeadLetterView(&list[i]))
		ids = append(ids, list[i].ID)
	}
	s.Audit.Record(audit.Entry{Action: audit.Listed, Role: "admin", Principal: admin, SubmissionIDs: ids, RemoteAddr: r.RemoteAddr,
		RequestID: requestID(r.Context()), Target: target})
	if next != 0 {
		out.Next = strconv.FormatUint(next, 10)
	}
	writeJSON(w, http.StatusOK, out)
}

// deadLetter authenticates an admin (like admin) and loads the dead letter
// named in the path, or answers 401, 403, 404 or 503 and returns nil.
func (s *Server) deadLetter(w http.ResponseWriter, r *http.Request) (string, *store.DeadLetter) {
	admin := s.admin(w, r)
	if admin == "" {
		return "", nil
	}
	id := r.PathValue("id")
	dl, err := s.Store.DeadLetter(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.writeProblem(w, r, problem.New(problem.NotFound, "no dead letter for submission %q", id))
		return "", nil
	}
	if err != nil {
		s.unavailable(w, r, err)
		return "", nil
	}
	return admin, dl
}

// showDeadLetter handles GET /v1/admin/deadletters/{id}: the dead letter with
// the submission's current status and its whole event log.
func (s *Server) showDeadLetter(w http.ResponseWriter, r *http.Request) {
	admin, dl := s.deadLetter(w, r)
	if dl == nil {
		return
	}
	v := newDeadLetterView(dl)
	e, err := s.Store.Get(r.Context(), dl.ID)
	if err == nil {
		v.Status, v.Events, err = s.Store.State(r.Context(), e)
	}
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	s.audit(r, audit.Viewed, "admin", admin, dl.ID, dl.Target, false)
	writeJSON(w, http.StatusOK, v)
}

// replayDeadLetter handles POST /v1/admin/deadletters/{id}/replay: the
// submission is queued again for its target under the same id.
func (s *Server) replayDeadLetter(w http.ResponseWriter, r *http.Request) {
	admin, dl := s.deadLetter(w, r)
	if dl == nil {
		return
	}
	if s.Targets != nil && !s.Targets(dl.Target) {
		s.writeProblem(w, r, problem.New(problem.ReplayRefused, "target %q is no longer configured", dl.Target).With("target", dl.Target))
		return
	}
	err := s.Store.CheckContent(r.Context(), dl)
	if err == nil {
		err = s.Store.Replay(r.Context(), dl)
	}
	if errors.Is(err, store.ErrContentGone) {
		s.writeProblem(w, r, problem.New(problem.ReplayRefused, "%v; discard the dead letter", err))
		return
	}
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	s.audit(r, audit.Replayed, "admin", admin, dl.ID, dl.Target, false)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": dl.ID, "target": dl.Target, "status": store.EventQueued})
}

// discardDeadLetter handles DELETE /v1/admin/deadletters/{id}.
func (s *Server) discardDeadLetter(w http.ResponseWriter, r *http.Request) {
	admin, dl := s.deadLetter(w, r)
	if dl == nil {
		return
	}
	if err := s.Store.Discard(r.Context(), dl); err != nil {
		s.unavailable(w, r, err)
		return
	}
	s.audit(r, audit.Discarded, "admin", admin, dl.ID, dl.Target, false)
	w.WriteHeader(http.StatusNoContent)
}

// audit records an action in the audit log.
func (s *Server) audit(r *http.Request, action, role, who, id, target string, duplicate bool) {
	s.Audit.Record(audit.Entry{Action: action, Role: role, Principal: who, SubmissionID: id, RemoteAddr: r.RemoteAddr,
		RequestID: requestID(r.Context()), Target: target, Duplicate: duplicate})
}
