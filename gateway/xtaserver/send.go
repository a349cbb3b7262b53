package xtaserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/gateway/audit"
	"github.com/drehscheibe/drehscheibe/gateway/identify"
	"github.com/drehscheibe/drehscheibe/gateway/intake"
	"github.com/drehscheibe/drehscheibe/gateway/mailbox"
	"github.com/drehscheibe/drehscheibe/gateway/problem"
	"github.com/drehscheibe/drehscheibe/schemas"
)

// maxMessageIDLen is XTA's limit for a message id.
const maxMessageIDLen = 100

// sendMessage hands the container's Message to the intake pipeline:
// validate, identify, route and store durably, and answers only then.
func (s *Server) sendMessage(ctx context.Context, c *call) (*reply, *xta.Fault) {
	received := time.Now().UTC()
	meta := c.env.Header.MessageMetaData
	if meta == nil {
		return nil, xta.NewFault(xta.NoParameters, "the oscimeta:MessageMetaData header is missing")
	}
	party, f := s.party(c, &meta.Originators.Author, "Author of the MessageMetaData")
	if f != nil {
		return nil, f
	}
	req, f := Request(meta, c.env.Body.Container, party.SenderName(), int64(s.cfg.MaxContainerBytes))
	if f != nil {
		return nil, f
	}
	req.ReceivedAt = received
	id := strings.TrimSpace(meta.MsgIdentification.MessageID)
	switch m, err := s.state.boxes.Message(ctx, id); {
	case err == nil:
		return nil, xta.NewFault(xta.MessageIDTaken, "message id %q was used before (submission %s)", id, m.Submission)
	case err != mailbox.ErrNotFound:
		return nil, internal(err)
	}

	checked, prob := s.pipeline.Check(req)
	if prob != nil {
		return nil, FaultOf(prob)
	}
	sync := c.op == xta.OpSendMessageSync
	if sync && !checked.Decision.Sync {
		return nil, xta.NewFault(xta.OnlyAsync, "the routing rule %q that takes this message is not synchronous (routes[].sync); use sendMessage", checked.Decision.Rule)
	}
	stored, prob := s.pipeline.Commit(ctx, req, checked)
	if prob != nil {
		return nil, FaultOf(prob)
	}
	if stored.Duplicate {
		return nil, xta.NewFault(xta.MessageIDTaken, "message id %q was used before (submission %s)", id, stored.Record.ID)
	}
	reader := meta.Destinations.Reader.ID()
	if ok, err := s.state.boxes.IndexMessage(ctx, id, mailbox.Message{Submission: stored.Record.ID, Author: party.Identifier, Reader: reader}); err != nil || !ok {
		// The submission is stored and will be delivered; only the id index is missing.
		s.log.Error("message id not indexed", zap.String("submission_id", stored.Record.ID), zap.Bool("taken", !ok), zap.Error(err))
	}
	s.record(ctx, audit.Submitted, party.Identifier, stored.Record.ID)
	s.log.Info("xta message accepted", zap.String("submission_id", stored.Record.ID), zap.String("author", party.Identifier),
		zap.String("reader", reader), zap.String("target", stored.Record.Target), zap.Bool("sync", sync))
	if sync {
		return s.awaitDelivery(ctx, stored.Record.ID, id, reader)
	}
	return &reply{}, nil
}

// Request turns an XTA message, its MessageMetaData and content container,
// into a request for the intake pipeline: the Message is the XÖV message,
// the Attachments follow with their file names, the Qualifier's Service and
// the TestMsg flag are the metadata, the message id scopes idempotency
// ("xta:" + the id in lower case) and the record's xta member keeps the
// MessageMetaData and content attributes. End-to-end encrypted content
// (xenc:EncryptedData) becomes the message itself, routed by the
// MessageMetaData and stored unread. sendMessage and the pull intake
// (gateway/xtapull) share it. The caller sets ReceivedAt.
func Request(meta *xta.MessageMetaData, gc *xta.GenericContentContainer, sender string, maxBytes int64) (*intake.Request, *xta.Fault) {
	id := strings.TrimSpace(meta.MsgIdentification.MessageID)
	if id == "" || len(id) > maxMessageIDLen {
		return nil, xta.NewFault(xta.InvalidURI, "the message id must be 1 to %d characters, got %d", maxMessageIDLen, len(id))
	}
	switch {
	case gc == nil:
		return nil, xta.NewFault(xta.NoParameters, "the body holds no xta:GenericContentContainer")
	case gc.ContentContainer == nil && gc.Encrypted != nil:
		return encrypted(meta, gc.Encrypted.Raw, sender, maxBytes)
	case gc.ContentContainer == nil:
		return nil, xta.NewFault(xta.NoParameters, "the GenericContentContainer holds no ContentContainer")
	}
	cc := gc.ContentContainer
	size := int64(len(cc.Message.Data))
	for _, a := range cc.Attachments {
		size += int64(len(a.Data))
	}
	if size > maxBytes {
		return nil, xta.NewFault(xta.TooLarge, "the container holds %d bytes, more than xta.max_container_bytes (%d)", size, maxBytes)
	}
	req, f := request(meta, xta.Info{MetaData: *meta, Message: cc.Message, Attachments: cc.Attachments}, cc.Message.Data, sender)
	if f != nil {
		return nil, f
	}
	req.Metadata = &identify.Metadata{Service: strings.TrimSpace(meta.Qualifier.Service)}
	if meta.Test() {
		t := true
		req.Metadata.Test = &t
	}
	for i, a := range cc.Attachments {
		name := firstNonEmpty(a.Filename, a.ID, fmt.Sprintf("attachment-%d", i+1))
		req.Attachments = append(req.Attachments, intake.Attachment{Name: name, ContentType: firstNonEmpty(a.ContentType, "application/octet-stream"), Data: a.Data})
	}
	req.RequestSHA256 = fingerprint(req)
	return req, nil
}

// encrypted is the request for end-to-end encrypted content: the
// xenc:EncryptedData element is the message, routed by the facts of the
// MessageMetaData (Reader, Author, Service, MessageType code and
// payloadSchema, TestMsg) and stored without being read. Its XML may be as
// large as the container it encrypts in base64 (4/3 of the limit) plus 1 MiB
// of markup.
func encrypted(meta *xta.MessageMetaData, raw []byte, sender string, maxBytes int64) (*intake.Request, *xta.Fault) {
	if limit := maxBytes/3*4 + 1<<20; int64(len(raw)) > limit {
		return nil, xta.NewFault(xta.TooLarge, "the xenc:EncryptedData holds %d bytes, more than %d (xta.max_container_bytes %d as base64 plus markup)", len(raw), limit, maxBytes)
	}
	q := meta.Qualifier
	facts := identify.Facts{
		Namespace: strings.TrimSpace(q.MessageType.PayloadSchema), MessageType: strings.TrimSpace(q.MessageType.Code),
		Author: meta.Originators.Author.ID(), Reader: meta.Destinations.Reader.ID(),
		Service: strings.TrimSpace(q.Service), Test: meta.Test(),
	}
	if facts.Namespace == "" || facts.MessageType == "" {
		return nil, xta.NewFault(xta.NoParameters, "encrypted content is routed by the MessageMetaData: its MessageType needs a code and a payloadSchema")
	}
	req, f := request(meta, xta.Info{MetaData: *meta, Encrypted: true}, raw, sender)
	if f != nil {
		return nil, f
	}
	req.Encrypted = &facts
	req.RequestSHA256 = fingerprint(req)
	return req, nil
}

// request is what plain and encrypted content share: the message, the
// record's xta member, and the message id as idempotency key.
func request(meta *xta.MessageMetaData, info xta.Info, msg []byte, sender string) (*intake.Request, *xta.Fault) {
	infoJSON, err := json.Marshal(info)
	if err != nil {
		return nil, internal(err)
	}
	return &intake.Request{
		Sender: sender, Message: msg, XTA: infoJSON,
		IdempotencyKey: "xta:" + strings.ToLower(strings.TrimSpace(meta.MsgIdentification.MessageID)),
	}, nil
}

// fingerprint is the request's SHA-256 over the message, the attachments
// and the xta member, for the idempotency check.
func fingerprint(req *intake.Request) string {
	h := sha256.New()
	h.Write(req.Message)
	for _, a := range req.Attachments {
		h.Write(a.Data)
	}
	h.Write(req.XTA)
	return hex.EncodeToString(h.Sum(nil))
}

// FaultOf maps a refusal of the intake pipeline to an XTA fault.
func FaultOf(p *problem.Problem) *xta.Fault {
	var code xta.Code
	switch p.Type {
	case problem.Malformed, problem.Forbidden, problem.SchemaViolation, problem.UnknownMessage:
		code = xta.SchemaViolation
	case problem.MetadataConflict:
		code = xta.InvalidParameters
	case problem.NoRoute, problem.TestRefused:
		code = xta.DeliveryFailed
	case problem.IdempotencyConflict:
		code = xta.MessageIDTaken
	case problem.Unavailable: // JetStream cannot store: nothing was stored, the client retries
		code = xta.Internal
	case problem.NotAllowed:
		code = xta.AccountMismatch
	default:
		code = xta.Internal
	}
	f := xta.NewFault(code, "%s", p.Detail)
	if errs, ok := p.Ext["errors"].([]schemas.Issue); ok {
		for _, e := range errs {
			f.Details = append(f.Details, fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Message))
		}
	}
	if cs, ok := p.Ext["conflicts"].([]identify.Conflict); ok {
		for _, c := range cs {
			f.Details = append(f.Details, fmt.Sprintf("%s: the message says %q, the MessageMetaData %q", c.Field, c.Document, c.Metadata))
		}
	}
	return f
}
