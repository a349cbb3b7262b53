package xta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drehscheibe/drehscheibe/gateway/delivery"
)

// PushType is the target type of the xta-push adapter.
const PushType = "xta-push"

// Code lists drehscheibe writes into the MessageMetaData it creates.
const (
	// MessageTypeListURI is the code list of MessageType for messages that
	// did not come by XTA: the code is the XÖV message's root element name.
	MessageTypeListURI = "urn:drehscheibe:xta:codeliste:xoev-message-type"
	// PropertyListURI is the code list of the MessageProperties the
	// xta-push adapter adds: "submission-id" and "attempt".
	PropertyListURI = "urn:drehscheibe:xta:codeliste:property"
	// ListVersion is the version of drehscheibe's code lists.
	ListVersion = "1"
)

var (
	_ delivery.Adapter = (*Push)(nil)
	_ delivery.Factory = pushFactory
)

func init() { delivery.Register(PushType, pushFactory) }

// Push delivers submissions to a remote XTA server: sendMessage with the
// message and its attachments as MTOM parts over mutual TLS, then
// getTransportReport until the remote server reports the message green
// (delivered) or red (failed). It is safe for concurrent use.
//
// A retry sends under the same message id: with message_id "stable" the id
// follows from the submission, with "create" the id the remote server
// created is remembered (in this process only). The remote server's 9024
// (id taken) then means it has the message already, and the attempt goes on
// with the transport report. A message the remote server accepted is not
// sent again by this process: the retry asks for its transport report
// only, and sends it again only if the remote server no longer knows the
// id (9070). That keeps a retry to one small request instead of the whole
// message, which matters to a remote server that limits requests.
type Push struct {
	name      string
	o         PushOptions
	client    *Client
	transport *http.Transport

	mu      sync.Mutex
	created map[string]string // submission id → id from createMessageId
	sent    map[string]string // submission id → id the remote server has
}

func pushFactory(name string, decode func(v any) error) (delivery.Adapter, error) {
	var o PushOptions
	if err := decode(&o); err != nil {
		return nil, err
	}
	return NewPush(name, o)
}

// NewPush checks the options, loads the TLS files and returns the adapter
// of the target called name.
func NewPush(name string, o PushOptions) (*Push, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	tc, err := o.TLS.Config(strings.HasPrefix(o.URL, "https:"))
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &Push{
		name: name, o: o, transport: tr, created: map[string]string{}, sent: map[string]string{},
		client: &Client{URL: o.URL, HTTP: &http.Client{Timeout: o.Timeout, Transport: tr}},
	}, nil
}

// Close closes idle connections.
func (p *Push) Close() error {
	p.transport.CloseIdleConnections()
	return nil
}

// Deliver sends d to the remote server and follows its transport report.
// Faults the remote answers as Sender (the request is wrong: unknown
// account, schema violation, no route there) are permanent; everything
// else is retried by the gateway, after at least the Retry-After of a 9030
// fault or an HTTP 429 or 503.
func (p *Push) Deliver(ctx context.Context, d *delivery.Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var info *Info
	if len(d.XTA) > 0 {
		info = &Info{}
		if err := json.Unmarshal(d.XTA, info); err != nil {
			return delivery.Permanent(fmt.Errorf("the record's xta member is unreadable: %v", err))
		}
	}
	msg, atts := content(ctx, d, info)
	size := msg.Len()
	for i := range atts {
		size += atts[i].Len()
	}
	meta, err := metaData(d, info, size)
	if err != nil {
		return delivery.Permanent(err)
	}
	author := meta.Originators.Author.Identifier
	id, err := p.messageID(ctx, d, info, author)
	if err != nil {
		return p.classify("createMessageId", err)
	}
	meta.MsgIdentification.MessageID = id
	body := func(w *Writer) { WriteContainer(w, msg, atts) }
	if info != nil && info.Encrypted {
		enc, err := d.Message.ReadAll(ctx)
		if err != nil {
			return fmt.Errorf("read the encrypted content: %w", err)
		}
		body = func(w *Writer) { WriteEncrypted(w, enc) }
	}
	if p.wasSent(d.SubmissionID, id) {
		err := p.follow(ctx, d.SubmissionID, author, id, false)
		if !IsFault(err, InvalidMessageIDCode.Code) {
			return err
		}
		// The remote server lost it (restarted without its store, say).
	}
	err = p.client.SendMessage(ctx, meta, body)
	if err != nil && !IsFault(err, MessageIDTaken.Code) {
		return p.classify("sendMessage of "+id, err)
	}
	p.mu.Lock()
	p.sent[d.SubmissionID] = id
	p.mu.Unlock()
	return p.follow(ctx, d.SubmissionID, author, id, err != nil)
}

// wasSent reports whether the remote server accepted submission sub under
// id in an earlier attempt of this process.
func (p *Push) wasSent(sub, id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent[sub] == id
}

// follow asks for the transport report until the status is final or the
// report timeout is over. resent says the remote had the id already.
func (p *Push) follow(ctx context.Context, sub string, author PartyIdentifier, id string, resent bool) error {
	deadline := time.Now().Add(p.o.ReportTimeout)
	for {
		rep, err := p.client.TransportReport(ctx, author, id)
		switch {
		case resent && IsFault(err, InvalidMessageIDCode.Code):
			return delivery.Permanent(fmt.Errorf("the remote XTA server has message id %s, but not from %s: the id is taken; choose another instance_id", id, author.Value))
		case err != nil:
			return p.classify("getTransportReport of "+id, err)
		case rep.Status == 1:
			p.forget(sub)
			return nil
		case rep.Status == 3:
			p.forget(sub)
			return delivery.Permanent(fmt.Errorf("the remote XTA server reports message %s red (status 3)%s", id, records(rep.Errors)))
		}
		if !time.Now().Before(deadline) {
			if p.o.AcceptOpen {
				p.forget(sub)
				return nil
			}
			return fmt.Errorf("the remote XTA server accepted message %s but reports it %s after %s; asking again later",
				id, statusWord(rep.Status), p.o.ReportTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(p.o.ReportInterval):
		}
	}
}

// classify marks err permanent unless it is temporary; a temporary error
// passes on the wait the remote server asked for (WaitRequested), which
// the gateway honours before the next attempt.
func (p *Push) classify(what string, err error) error {
	err = fmt.Errorf("%s at %s: %w", what, p.o.URL, err)
	if Temporary(err) {
		return delivery.RetryAfter(err, WaitRequested(err))
	}
	return delivery.Permanent(err)
}

// messageID is the id d is sent under: its own XTA id or one derived from
// the submission ("stable"), or one the remote server created ("create").
func (p *Push) messageID(ctx context.Context, d *delivery.Delivery, info *Info, author PartyIdentifier) (string, error) {
	if p.o.MessageID == MessageIDStable {
		if info != nil && strings.TrimSpace(info.MetaData.MsgIdentification.MessageID) != "" {
			return strings.TrimSpace(info.MetaData.MsgIdentification.MessageID), nil
		}
		return "urn:de:xta:messageid:" + p.o.InstanceID + ":" + d.SubmissionID, nil
	}
	p.mu.Lock()
	id, ok := p.created[d.SubmissionID]
	p.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := p.client.CreateMessageID(ctx, author)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	p.created[d.SubmissionID] = id
	p.mu.Unlock()
	return id, nil
}

// forget drops what the adapter remembers of sub once its delivery is
// final. (A submission that runs out of attempts stays remembered: a few
// bytes until the process ends.)
func (p *Push) forget(sub string) {
	p.mu.Lock()
	delete(p.created, sub)
	delete(p.sent, sub)
	p.mu.Unlock()
}

// metaData is the MessageMetaData d is sent with: the one it came with by
// XTA (without the delivery times of the previous hop), or one built from
// the facts the gateway identified.
func metaData(d *delivery.Delivery, info *Info, size int64) (*MessageMetaData, error) {
	m := &MessageMetaData{}
	if info != nil {
		*m = info.MetaData
		m.Properties = append([]Property(nil), info.MetaData.Properties...)
		m.DeliveryAttributes.Delivery, m.DeliveryAttributes.InitialFetch, m.DeliveryAttributes.Reception = "", "", ""
	} else {
		m.Originators.Author.Identifier = PartyIdentifier{Value: d.Author, Type: "xoev"}
		m.Destinations.Reader.Identifier = PartyIdentifier{Value: d.Reader, Type: "xoev"}
		m.Qualifier.Service = firstNonEmpty(d.Service, d.Namespace)
		m.Qualifier.BusinessScenario.Undefined = firstNonEmpty(d.Standard, "XÖV")
		m.Qualifier.MessageType.KeyCode = KeyCode{ListURI: MessageTypeListURI, ListVersionID: ListVersion, Code: d.MessageType}
		m.Qualifier.MessageType.PayloadSchema = d.Namespace
		if !d.ReceivedAt.IsZero() {
			m.DeliveryAttributes.Origin = FormatTime(d.ReceivedAt)
		}
	}
	if d.Test {
		m.TestMsg = "true"
	}
	if m.DeliveryAttributes.InitialSend == "" {
		m.DeliveryAttributes.InitialSend = FormatTime(time.Now())
	}
	m.SetProperty(PropertyListURI, ListVersion, "submission-id", d.SubmissionID)
	m.SetProperty(PropertyListURI, ListVersion, "attempt", strconv.Itoa(d.Attempt))
	if size > 0 {
		m.MsgSize = strconv.FormatInt(size, 10)
	}
	switch {
	case m.Originators.Author.ID() == "":
		return nil, errors.New("the message names no author, and XTA needs one (oscimeta:Author)")
	case m.Destinations.Reader.ID() == "":
		return nil, errors.New("the message names no reader, and XTA needs one (oscimeta:Reader)")
	case strings.TrimSpace(m.Qualifier.MessageType.PayloadSchema) == "" || strings.TrimSpace(m.Qualifier.Service) == "":
		return nil, errors.New("the message has no namespace, and XTA needs one (MessageType/@payloadSchema)")
	}
	return m, nil
}

// content is the Message and the Attachments with their attributes: those
// the message came with by XTA, or what the gateway knows. Attachments are
// streamed from the store while the request is sent.
func content(ctx context.Context, d *delivery.Delivery, info *Info) (*Content, []Content) {
	msg := &Content{ContentType: "application/xml", Encoding: "UTF-8", Filename: d.MessageType + ".xml", ID: "message"}
	if info != nil {
		m := info.Message
		msg = &Content{ContentType: firstNonEmpty(m.ContentType, msg.ContentType), ContentDescription: m.ContentDescription,
			Encoding: m.Encoding, Filename: m.Filename, ID: m.ID, Lang: m.Lang}
	}
	msg.Open, msg.Length = func() (io.ReadCloser, error) { return d.Message.Open(ctx) }, d.Message.Size
	atts := make([]Content, len(d.Attachments))
	for i, a := range d.Attachments {
		c := Content{ContentType: firstNonEmpty(a.ContentType, "application/octet-stream"), Filename: a.Name}
		if info != nil && i < len(info.Attachments) {
			c = info.Attachments[i]
			c.ContentType = firstNonEmpty(c.ContentType, a.ContentType, "application/octet-stream")
			c.Size = ""
		}
		open := a.Open
		c.Open = func() (io.ReadCloser, error) { return open(ctx) }
		c.Length = a.Size
		atts[i] = c
	}
	return msg, atts
}

func records(rs []Record) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, strings.TrimSpace(r.Code.Code+" "+r.Reason))
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, "; ")
}

func statusWord(s int) string {
	switch s {
	case 0:
		return "open (0)"
	case 2:
		return "yellow (2)"
	}
	return strconv.Itoa(s)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}
