package xtaserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/gateway/audit"
	"github.com/drehscheibe/drehscheibe/gateway/kvjson"
	"github.com/drehscheibe/drehscheibe/gateway/mailbox"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// maxListItems caps a status list when the request sets no maxListItems.
const maxListItems = 1000

func (s *Server) msgBox(ctx context.Context, c *call) (*reply, *xta.Fault) {
	p, f := s.author(c)
	if f != nil {
		return nil, f
	}
	b := c.env.Body
	switch c.op {
	case xta.OpGetStatusList:
		if b.MsgBoxStatusListRequest == nil {
			return nil, xta.NewFault(xta.NoParameters, "the body holds no osci:MsgBoxStatusListRequest")
		}
		return s.getStatusList(ctx, p.Identifier, b.MsgBoxStatusListRequest)
	case xta.OpGetNextStatusList:
		if b.MsgBoxGetNextRequest == nil {
			return nil, xta.NewFault(xta.NoParameters, "the body holds no osci:MsgBoxGetNextRequest")
		}
		return s.getNextStatusList(ctx, p.Identifier, b.MsgBoxGetNextRequest)
	case xta.OpGetMessage:
		if b.MsgBoxFetchRequest == nil {
			return nil, xta.NewFault(xta.NoParameters, "the body holds no osci:MsgBoxFetchRequest")
		}
		return s.getMessage(ctx, p.Identifier, b.MsgBoxFetchRequest.Selector)
	case xta.OpGetNextMessage:
		if b.MsgBoxGetNextRequest == nil {
			return nil, xta.NewFault(xta.NoParameters, "the body holds no osci:MsgBoxGetNextRequest")
		}
		return s.getNextMessage(ctx, p.Identifier, b.MsgBoxGetNextRequest)
	default:
		if b.MsgBoxCloseRequest == nil {
			return nil, xta.NewFault(xta.NoParameters, "the body holds no osci:MsgBoxCloseRequest")
		}
		return s.close(ctx, p.Identifier, b.MsgBoxCloseRequest)
	}
}

// parseSelector reads an osci:MsgSelector; nil selects everything.
func parseSelector(m *xta.MsgSelector) (selector, error) {
	var sel selector
	if m == nil {
		return sel, nil
	}
	switch strings.TrimSpace(m.NewEntry) {
	case "true", "1":
		t := true
		sel.NewEntry = &t
	case "false", "0":
		f := false
		sel.NewEntry = &f
	}
	for _, id := range m.MessageIDs {
		sel.IDs = append(sel.IDs, strings.ToLower(strings.TrimSpace(id)))
	}
	var err error
	if sel.From, err = parseTime(m.TimeFrom); err != nil {
		return sel, err
	}
	sel.To, err = parseTime(m.TimeTo)
	return sel, err
}

// parseTime reads an xs:dateTime; one without a zone is taken as UTC.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02T15:04:05.999999999", s)
}

func (sel *selector) match(e *mailbox.Entry) bool {
	switch {
	case sel.NewEntry != nil && *sel.NewEntry != e.InitialFetch.IsZero():
		return false
	case len(sel.IDs) > 0 && !slices.Contains(sel.IDs, strings.ToLower(e.MessageID)):
		return false
	case !sel.From.IsZero() && e.Delivered.Before(sel.From):
		return false
	case !sel.To.IsZero() && e.Delivered.After(sel.To):
		return false
	}
	return true
}

// matches lists the entries of reader's box that sel selects and it has not returned yet.
func (s *Server) matches(ctx context.Context, it *iteration) ([]mailbox.Entry, error) {
	all, err := s.state.boxes.List(ctx, it.Reader)
	if err != nil {
		return nil, err
	}
	var out []mailbox.Entry
	for i := range all {
		if it.Selector.match(&all[i]) && !slices.Contains(it.Returned, all[i].Submission) {
			out = append(out, all[i])
		}
	}
	return out, nil
}

func newRequestID() string { return "urn:uuid:" + uuid.NewString() }

func (s *Server) saveIteration(ctx context.Context, rid string, it *iteration) error {
	return kvjson.Put(ctx, s.state.reqs, "req."+kvjson.Hash(rid), it)
}

// iteration loads the iteration of rid for reader; nil if unknown (or another reader's).
func (s *Server) iteration(ctx context.Context, rid, reader string) (*iteration, error) {
	var it iteration
	err := kvjson.Get(ctx, s.state.reqs, "req."+kvjson.Hash(strings.TrimSpace(rid)), &it)
	if errors.Is(err, mailbox.ErrNotFound) || err == nil && it.Reader != reader {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &it, nil
}

func (s *Server) getStatusList(ctx context.Context, reader string, req *xta.MsgBoxStatusListRequest) (*reply, *xta.Fault) {
	rid := newRequestID()
	sel, err := parseSelector(req.Selector)
	if err != nil {
		return s.emptyList(rid, xta.ReasonSearchArgsInvalid), nil
	}
	it := &iteration{Reader: reader, Selector: sel, Max: maxListItems, ListForm: strings.TrimSpace(req.ListForm)}
	if n, err := strconv.Atoi(strings.TrimSpace(req.MaxListItems)); err == nil && n > 0 && n < maxListItems {
		it.Max = n
	}
	return s.nextList(ctx, rid, it)
}

func (s *Server) getNextStatusList(ctx context.Context, reader string, req *xta.MsgBoxGetNextRequest) (*reply, *xta.Fault) {
	it, err := s.iteration(ctx, req.RequestID, reader)
	if err != nil {
		return nil, internal(err)
	}
	if it == nil {
		return s.emptyList(strings.TrimSpace(req.RequestID), xta.ReasonRequestIDInvalid), nil
	}
	return s.nextList(ctx, strings.TrimSpace(req.RequestID), it)
}

// nextList answers the next page of an iteration and remembers what it returned.
func (s *Server) nextList(ctx context.Context, rid string, it *iteration) (*reply, *xta.Fault) {
	ms, err := s.matches(ctx, it)
	if err != nil {
		return nil, internal(err)
	}
	if it.Max <= 0 {
		it.Max = maxListItems
	}
	page := ms[:min(len(ms), it.Max)]
	var list xta.MsgStatusList
	for _, e := range page {
		it.Returned = append(it.Returned, e.Submission)
		if it.ListForm == xta.ListFormAttributes {
			a := xta.MsgAttributes{MessageID: e.MessageID, TypeOfBusinessScenario: e.Scenario, MsgSize: e.Size, DeliveryTime: xta.FormatTime(e.Delivered)}
			if !e.InitialFetch.IsZero() {
				a.InitialFetchedTime = xta.FormatTime(e.InitialFetch)
			}
			list.Attributes = append(list.Attributes, a)
			continue
		}
		m, _, f := s.boxMeta(ctx, &e)
		if f != nil {
			return nil, f
		}
		list.MetaData = append(list.MetaData, m)
	}
	if err := s.saveIteration(ctx, rid, it); err != nil {
		return nil, internal(err)
	}
	ids := make([]string, 0, len(page))
	for _, e := range page {
		ids = append(ids, e.Submission)
	}
	s.audit.Record(audit.Entry{Action: audit.Listed, Role: "xta-party", Principal: it.Reader, SubmissionIDs: ids, RemoteAddr: remoteAddr(ctx)})
	reason := ""
	if len(page) == 0 {
		reason = xta.ReasonNoMatch
	}
	pending := len(ms) - len(page)
	return &reply{
		headers: func(w *xta.Writer) { xta.WriteMsgBoxResponse(w, rid, reason, pending) },
		body:    list.Write,
	}, nil
}

func (s *Server) emptyList(rid, reason string) *reply {
	return &reply{
		headers: func(w *xta.Writer) { xta.WriteMsgBoxResponse(w, rid, reason, 0) },
		body:    (&xta.MsgStatusList{}).Write,
	}
}

// boxMeta is the MessageMetaData of a box entry.
func (s *Server) boxMeta(ctx context.Context, e *mailbox.Entry) (xta.MessageMetaData, *store.Entry, *xta.Fault) {
	se, err := s.st.Get(ctx, e.Submission)
	if err != nil {
		return xta.MessageMetaData{}, nil, internal(err)
	}
	evs, err := s.st.Events(ctx, se)
	if err != nil {
		return xta.MessageMetaData{}, nil, internal(err)
	}
	m := s.metaData(se.Record, e.MessageID, e.Reader, e.Size, evs)
	m.DeliveryAttributes.Delivery = xta.FormatTime(e.Delivered)
	if !e.InitialFetch.IsZero() {
		m.DeliveryAttributes.InitialFetch = xta.FormatTime(e.InitialFetch)
	}
	return m, se, nil
}

func (s *Server) getMessage(ctx context.Context, reader string, m *xta.MsgSelector) (*reply, *xta.Fault) {
	sel, err := parseSelector(m)
	if err != nil {
		return nil, xta.NewFault(xta.InvalidParameters, "unreadable MsgSelector: %v", err)
	}
	return s.fetch(ctx, newRequestID(), &iteration{Reader: reader, Selector: sel})
}

func (s *Server) getNextMessage(ctx context.Context, reader string, req *xta.MsgBoxGetNextRequest) (*reply, *xta.Fault) {
	rid := strings.TrimSpace(req.RequestID)
	it, err := s.iteration(ctx, rid, reader)
	if err != nil {
		return nil, internal(err)
	}
	if it == nil {
		// A client that keeps no request ids gets the next message of its box.
		rid, it = newRequestID(), &iteration{Reader: reader}
	}
	for _, id := range req.LastMsgReceived {
		if m, err := s.state.boxes.Message(ctx, id); err == nil {
			it.Returned = append(it.Returned, m.Submission)
		}
	}
	return s.fetch(ctx, rid, it)
}

// fetch hands out the first message of the iteration: MessageMetaData and
// MsgBoxResponse headers, the content container as MTOM. The first fetch
// sets InitialFetch and records the event fetched.
func (s *Server) fetch(ctx context.Context, rid string, it *iteration) (*reply, *xta.Fault) {
	ms, err := s.matches(ctx, it)
	if err != nil {
		return nil, internal(err)
	}
	if len(ms) == 0 {
		what := "no message waits in the box of " + strconv.Quote(it.Reader)
		if len(it.Selector.IDs) > 0 {
			what = "no message " + strings.Join(it.Selector.IDs, ", ") + " in the box of " + strconv.Quote(it.Reader)
		}
		return nil, xta.NewFault(xta.InvalidMessageIDCode, "%s", what)
	}
	e := ms[0]
	if err := s.state.boxes.MarkFetched(ctx, &e, "getMessage by "+it.Reader); err != nil {
		return nil, internal(err)
	}
	meta, se, f := s.boxMeta(ctx, &e)
	if f != nil {
		return nil, f
	}
	body, err := s.content(ctx, se)
	if err != nil {
		return nil, internal(err)
	}
	it.Returned = append(it.Returned, e.Submission)
	if err := s.saveIteration(ctx, rid, it); err != nil {
		return nil, internal(err)
	}
	s.record(ctx, audit.Fetched, it.Reader, e.Submission)
	pending := len(ms) - 1
	return &reply{
		headers: func(w *xta.Writer) {
			meta.Write(w)
			xta.WriteMsgBoxResponse(w, rid, "", pending)
		},
		body: body,
	}, nil
}

// content loads the message and attachments of a submission with the
// content attributes the sender gave (or defaults that say what they are)
// and returns the writer of the GenericContentContainer: a ContentContainer,
// or for end-to-end encrypted content the xenc:EncryptedData as it came.
func (s *Server) content(ctx context.Context, se *store.Entry) (func(w *xta.Writer), error) {
	r := se.Record
	var info xta.Info
	_ = json.Unmarshal(r.XTA, &info)
	if r.Encrypted {
		_, data, err := s.st.Load(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		return func(w *xta.Writer) { xta.WriteEncrypted(w, data) }, nil
	}
	msg := info.Message
	// Streamed from the store while the response is written, like the attachments.
	msg.Data, msg.Open, msg.Length = nil, func() (io.ReadCloser, error) { return s.st.OpenSubmissionMessage(ctx, r.ID) }, r.MessageSize
	msg.ContentType = firstNonEmpty(msg.ContentType, "application/xml")
	msg.Encoding = firstNonEmpty(msg.Encoding, "UTF-8")
	msg.Filename = firstNonEmpty(msg.Filename, r.MessageType+".xml")
	msg.ID = firstNonEmpty(msg.ID, "message")
	var atts []xta.Content
	for i, a := range r.Attachments {
		var c xta.Content
		if i < len(info.Attachments) {
			c = info.Attachments[i]
		}
		// Streamed from the object store while the response is written.
		obj := a.Object
		c.Data, c.Open, c.Length = nil, func() (io.ReadCloser, error) { return s.st.OpenObject(ctx, obj) }, a.Size
		c.ContentType = firstNonEmpty(c.ContentType, a.ContentType)
		c.Filename = firstNonEmpty(c.Filename, a.Name)
		c.ID = firstNonEmpty(c.ID, "attachment-"+strconv.Itoa(i+1))
		atts = append(atts, c)
	}
	return func(w *xta.Writer) { xta.WriteContainer(w, &msg, atts) }, nil
}

// close confirms messages by LastMsgReceived (or, without it, the messages
// the iteration of MsgBoxRequestID handed out). Each leaves the box with
// the event closed. The MsgBoxRequestID itself may be anything: real
// clients send a constant "1".
func (s *Server) close(ctx context.Context, reader string, req *xta.MsgBoxGetNextRequest) (*reply, *xta.Fault) {
	var subs []string
	ids := req.LastMsgReceived
	if len(ids) == 0 {
		it, err := s.iteration(ctx, req.RequestID, reader)
		if err != nil {
			return nil, internal(err)
		}
		if it == nil || len(it.Returned) == 0 {
			return nil, xta.NewFault(xta.NoParameters, "close names no LastMsgReceived and MsgBoxRequestID %q handed out no message", req.RequestID)
		}
		subs = it.Returned
	}
	for _, id := range ids {
		m, err := s.state.boxes.Message(ctx, id)
		if err != nil && !errors.Is(err, mailbox.ErrNotFound) {
			return nil, internal(err)
		}
		if m == nil || m.Reader != reader {
			return nil, xta.NewFault(xta.InvalidMessageIDCode, "no message %q in the box of %q", strings.TrimSpace(id), reader)
		}
		if _, err := s.state.boxes.Get(ctx, m.Submission, reader); err != nil {
			return nil, xta.NewFault(xta.InvalidMessageIDCode, "message %q is not (or no longer) in the box of %q", strings.TrimSpace(id), reader)
		}
		subs = append(subs, m.Submission)
	}
	for _, sub := range subs {
		switch err := s.state.boxes.Close(ctx, reader, sub, "close by "+reader); {
		case errors.Is(err, mailbox.ErrNotFound):
			continue
		case err != nil:
			return nil, internal(err)
		}
		s.record(ctx, audit.Closed, reader, sub)
	}
	return &reply{}, nil
}
