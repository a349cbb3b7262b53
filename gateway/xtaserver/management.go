package xtaserver

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/gateway/audit"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/gateway/mailbox"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// Code lists of the records and reports in a transport report.
const (
	eventListURI  = "urn:drehscheibe:xta:codeliste:event"
	reportListURI = "urn:drehscheibe:xta:codeliste:report"
	listVersion   = xta.ListVersion
)

func (s *Server) checkAccountActive(c *call) (*reply, *xta.Fault) {
	if _, f := s.author(c); f != nil {
		return nil, f
	}
	return &reply{}, nil
}

// NewMessageID creates an XTA message id: urn:de:xta:messageid:<instance>:<uuid>.
func NewMessageID(instance string) string {
	return "urn:de:xta:messageid:" + instance + ":" + uuid.NewString()
}

func (s *Server) createMessageID(c *call) (*reply, *xta.Fault) {
	if _, f := s.author(c); f != nil {
		return nil, f
	}
	id := NewMessageID(s.cfg.InstanceID)
	return &reply{body: func(w *xta.Writer) { w.Elem("wsa:MessageID", id) }}, nil
}

func (s *Server) lookupService(c *call) (*reply, *xta.Fault) {
	if _, f := s.author(c); f != nil {
		return nil, f
	}
	req := c.env.Body.LookupServiceRequest
	if req == nil {
		return nil, xta.NewFault(xta.NoParameters, "the body holds no xta:LookupServiceRequest")
	}
	var results []xta.LookupServiceResult
	for _, l := range req.Lists {
		for _, ls := range l.Services {
			ok := s.router.Serves(ls.Reader.ID(), strings.TrimSpace(ls.ServiceType))
			r := xta.LookupServiceResult{LookupService: ls, Available: &ok}
			if r.Reader.Identifier.Type == "" {
				r.Reader.Identifier.Type = "xoev"
			}
			results = append(results, r)
		}
	}
	if len(results) == 0 {
		return nil, xta.NewFault(xta.NoParameters, "the LookupServiceRequest names no LookupService")
	}
	return &reply{body: func(w *xta.Writer) { xta.WriteLookupServiceResponse(w, results) }}, nil
}

// known checks the call's author and finds the message of the body's
// wsa:MessageID that the author's party may see (as author or reader).
func (s *Server) known(ctx context.Context, c *call) (config.XTAParty, *mailbox.Message, string, *xta.Fault) {
	p, f := s.author(c)
	if f != nil {
		return p, nil, "", f
	}
	party := p.Identifier
	if c.env.Body.MessageID == nil || strings.TrimSpace(*c.env.Body.MessageID) == "" {
		return p, nil, "", xta.NewFault(xta.NoParameters, "the body holds no wsa:MessageID")
	}
	id := strings.TrimSpace(*c.env.Body.MessageID)
	m, err := s.state.boxes.Message(ctx, id)
	if errors.Is(err, mailbox.ErrNotFound) || err == nil && m.Author != party && m.Reader != party {
		return p, nil, id, xta.NewFault(xta.InvalidMessageIDCode, "no message %q for %q", id, party)
	}
	if err != nil {
		return p, nil, id, internal(err)
	}
	return p, m, id, nil
}

func (s *Server) getTransportReport(ctx context.Context, c *call) (*reply, *xta.Fault) {
	p, m, id, f := s.known(ctx, c)
	if f != nil {
		return nil, f
	}
	rep, err := s.report(ctx, m.Submission, id, m.Reader)
	if err != nil {
		return nil, internal(err)
	}
	s.record(ctx, audit.Viewed, p.Identifier, m.Submission)
	return &reply{body: rep.Write}, nil
}

// report is the transport report of submission sub as XTA message id for reader.
func (s *Server) report(ctx context.Context, sub, id, reader string) (*xta.TransportReport, error) {
	e, err := s.st.Get(ctx, sub)
	if err != nil {
		return nil, err
	}
	evs, err := s.st.Events(ctx, e)
	if err != nil {
		return nil, err
	}
	rep := &xta.TransportReport{
		MessageMetaData:   s.metaData(e.Record, id, reader, e.Record.MessageSize, evs),
		ReportTime:        xta.FormatTime(time.Now()),
		XTAServerIdentity: s.cfg.InstanceID,
		Status:            s.messageStatus(e.Record, evs),
	}
	for _, ev := range evs {
		reason := ev.Type
		for _, s := range []string{ev.Detail, ev.Error} {
			if s != "" {
				reason += ": " + s
			}
		}
		r := xta.Record{Timestamp: xta.FormatTime(ev.At), Code: xta.KeyCode{ListURI: eventListURI, ListVersionID: listVersion, Code: ev.Type}, Reason: reason}
		switch ev.Type {
		case store.EventFailed, store.EventDeadLettered:
			rep.Errors = append(rep.Errors, r)
		case store.EventAttemptFailed, store.EventCancelled:
			rep.Warnings = append(rep.Warnings, r)
		default:
			rep.Infos = append(rep.Infos, r)
		}
	}
	log, _ := json.Marshal(evs)
	rep.Reports = []xta.Report{{Key: xta.KeyCode{ListURI: reportListURI, ListVersionID: listVersion, Code: "event-log"}, Data: xta.Content{Data: log}}}
	return rep, nil
}

// messageStatus maps an event log to the XTA MessageStatus: 0 open (on its
// way, or waiting in a message box), 1 green (delivered to the
// Fachverfahren, or fetched and closed from the box), 2 yellow (a delivery
// attempt failed and is retried, or the author cancelled), 3 red (failed).
func (s *Server) messageStatus(r store.Record, evs []store.Event) int {
	status := 0
	for _, ev := range evs {
		switch ev.Type {
		case store.EventFailed, store.EventDeadLettered:
			return 3
		case store.EventAttemptFailed, store.EventCancelled:
			status = max(status, 2)
		case store.EventClosed:
			status = 1
		case store.EventDelivered:
			if !s.boxes[r.Target] {
				status = 1
			}
		}
	}
	return status
}

func (s *Server) cancelMessage(ctx context.Context, c *call) (*reply, *xta.Fault) {
	p, m, id, f := s.known(ctx, c)
	if f != nil {
		return nil, f
	}
	if m.Author != p.Identifier {
		return nil, xta.NewFault(xta.InvalidMessageIDCode, "no message %q sent by %q", id, p.Identifier)
	}
	e, err := s.st.Get(ctx, m.Submission)
	if err != nil {
		return nil, internal(err)
	}
	evs, err := s.st.Events(ctx, e)
	if err != nil {
		return nil, internal(err)
	}
	switch st := store.Status(evs); {
	case st == store.EventQueued || st == "retrying":
	case st == store.EventDelivered && s.boxes[e.Record.Target]:
		// Waiting in a box and not fetched yet: it leaves the box.
		if err := s.state.boxes.Remove(ctx, m.Reader, m.Submission); err != nil {
			return nil, internal(err)
		}
	default:
		return nil, xta.NewFault(xta.CancelTooLate, "message %q cannot be cancelled any more: it is %s", id, st)
	}
	if err := s.st.Append(ctx, m.Submission, store.Event{Type: store.EventCancelled, Detail: "cancelMessage by " + p.Identifier}); err != nil {
		return nil, internal(err)
	}
	s.record(ctx, audit.Cancelled, p.Identifier, m.Submission)
	return &reply{}, nil
}
