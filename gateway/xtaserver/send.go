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
	if c.op == xta.OpSendMessageSync {
		return nil, xta.NewFault(xta.OnlyAsync, "drehscheibe delivers asynchronously; use sendMessage")
	}
	id := strings.TrimSpace(meta.MsgIdentification.MessageID)
	if id == "" || len(id) > maxMessageIDLen {
		return nil, xta.NewFault(xta.InvalidURI, "the message id must be 1 to %d characters, got %d", maxMessageIDLen, len(id))
	}
	gc := c.env.Body.Container
	switch {
	case gc == nil:
		return nil, xta.NewFault(xta.NoParameters, "the body holds no xta:GenericContentContainer")
	case gc.ContentContainer == nil && gc.Encrypted != nil:
		return nil, xta.NewFault(xta.InvalidParameters, "end-to-end encrypted content (xenc:EncryptedData) is not accepted yet; send a ContentContainer")
	case gc.ContentContainer == nil:
		return nil, xta.NewFault(xta.NoParameters, "the GenericContentContainer holds no ContentContainer")
	}
	cc := gc.ContentContainer
	size := int64(len(cc.Message.Data))
	for _, a := range cc.Attachments {
		size += int64(len(a.Data))
	}
	if size > int64(s.cfg.MaxContainerBytes) {
		return nil, xta.NewFault(xta.TooLarge, "the container holds %d bytes, more than xta.max_container_bytes (%s)", size, s.cfg.MaxContainerBytes)
	}
	switch m, err := s.state.message(ctx, id); {
	case err == nil:
		return nil, xta.NewFault(xta.MessageIDTaken, "message id %q was used before (submission %s)", id, m.Submission)
	case err != errNotFound:
		return nil, internal(err)
	}

	info := xtaInfo{MetaData: *meta, Message: cc.Message, Attachments: cc.Attachments}
	infoJSON, err := json.Marshal(info)
	if err != nil {
		return nil, internal(err)
	}
	req := &intake.Request{
		Sender: party.SenderName(), Message: cc.Message.Data,
		Metadata:       &identify.Metadata{Service: strings.TrimSpace(meta.Qualifier.Service)},
		IdempotencyKey: "xta:" + strings.ToLower(id),
		ReceivedAt:     received, XTA: infoJSON,
	}
	if meta.Test() {
		t := true
		req.Metadata.Test = &t
	}
	h := sha256.New()
	h.Write(cc.Message.Data)
	for i, a := range cc.Attachments {
		name := firstNonEmpty(a.Filename, a.ID, fmt.Sprintf("attachment-%d", i+1))
		req.Attachments = append(req.Attachments, intake.Attachment{Name: name, ContentType: firstNonEmpty(a.ContentType, "application/octet-stream"), Data: a.Data})
		h.Write(a.Data)
	}
	h.Write(infoJSON)
	req.RequestSHA256 = hex.EncodeToString(h.Sum(nil))

	stored, _, prob := s.pipeline.Submit(ctx, req)
	if prob != nil {
		return nil, faultOf(prob)
	}
	if stored.Duplicate {
		return nil, xta.NewFault(xta.MessageIDTaken, "message id %q was used before (submission %s)", id, stored.Record.ID)
	}
	reader := meta.Destinations.Reader.ID()
	if ok, err := createJSON(ctx, s.state.kv, idKey(id), message{Submission: stored.Record.ID, Author: party.Identifier, Reader: reader}); err != nil || !ok {
		// The submission is stored and will be delivered; only the id index is missing.
		s.log.Error("message id not indexed", zap.String("submission_id", stored.Record.ID), zap.Bool("taken", !ok), zap.Error(err))
	}
	s.audit.Record(audit.Entry{Action: audit.Submitted, Role: "xta-party", Principal: party.Identifier,
		SubmissionID: stored.Record.ID, RemoteAddr: remoteAddr(ctx)})
	s.log.Info("xta message accepted", zap.String("submission_id", stored.Record.ID), zap.String("author", party.Identifier),
		zap.String("reader", reader), zap.String("target", stored.Record.Target))
	return &reply{}, nil
}

// faultOf maps a refusal of the intake pipeline to an XTA fault.
func faultOf(p *problem.Problem) *xta.Fault {
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
