// Package intake is the path of a submission, top-down in one place:
//
//	validate (schemas) → identify (XÖV header) → merge metadata → permissions → route → store durably
//
// End-to-end encrypted XTA content skips the first three stages: it is
// routed by the facts of its XTA MessageMetaData and stored unread.
//
// Each stage hands the next what it needs and never reaches back. A stage that
// refuses the submission answers with a problem from the catalogue; nothing is
// stored unless every stage passed.
package intake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/drehscheibe/drehscheibe/gateway/identify"
	"github.com/drehscheibe/drehscheibe/gateway/lowprio"
	"github.com/drehscheibe/drehscheibe/gateway/problem"
	"github.com/drehscheibe/drehscheibe/gateway/routing"
	"github.com/drehscheibe/drehscheibe/gateway/store"
	"github.com/drehscheibe/drehscheibe/schemas"
)

// Observer receives measurements for metrics.
type Observer interface {
	Validated(outcome string, d time.Duration)
}

// Pipeline holds the stages.
type Pipeline struct {
	Catalog *schemas.Catalog
	Router  *routing.Router
	Store   *store.Store // nil: Check only
	Obs     Observer
	// Permissions maps a sender's name to what it may submit; a sender
	// without an entry may submit everything.
	Permissions map[string]Permissions
	// Validators run the validations (on threads of lower priority, see
	// package lowprio); nil validates on the caller's goroutine.
	Validators *lowprio.Pool
}

// Attachment is one attachment as posted.
type Attachment struct {
	Name, ContentType string
	Data              []byte
}

// Request is one submission as the REST or XTA edge received it.
type Request struct {
	Sender         string
	Message        []byte
	Metadata       *identify.Metadata
	Attachments    []Attachment
	IdempotencyKey string
	// RequestSHA256 fingerprints the whole request so that a reused
	// Idempotency-Key with a different body is detected.
	RequestSHA256 string
	ReceivedAt    time.Time
	// XTA is stored as the record's xta member (messages that came by XTA).
	XTA []byte
	// Encrypted, when set, says that Message is end-to-end encrypted content
	// (an XTA xenc:EncryptedData element) that the gateway cannot read:
	// it is neither validated nor identified but routed by these facts,
	// which come from the sender's XTA MessageMetaData, and stored as it
	// came. Only the XTA intakes set it.
	Encrypted *identify.Facts
}

// Checked is the outcome of the stages before storage.
type Checked struct {
	Report      *schemas.Report
	Facts       identify.Facts
	Decision    routing.Decision
	ValidatedAt time.Time
	RoutedAt    time.Time
}

// Check validates, identifies and routes req without storing anything.
func (p *Pipeline) Check(req *Request) (*Checked, *problem.Problem) {
	if req.Encrypted != nil {
		return p.checkEncrypted(req)
	}
	start := time.Now()
	var rep *schemas.Report
	p.Validators.Do(func() { rep = p.Catalog.Validate(req.Message) })
	if p.Obs != nil {
		p.Obs.Validated(string(rep.Outcome), time.Since(start))
	}
	c := &Checked{Report: rep, ValidatedAt: time.Now().UTC()}

	switch rep.Outcome {
	case schemas.OutcomeForbidden:
		p := problem.New(problem.Forbidden, "%s", firstMessage(rep, "the message contains a forbidden construct")).With("errors", rep.Errors)
		if rep.Limit != nil {
			p.With("limit", rep.Limit.Value).With("limit_key", limitKeys[rep.Limit.Name])
		}
		return c, p
	case schemas.OutcomeMalformed:
		return c, problem.New(problem.Malformed, "the message is not well-formed XML: %s", firstMessage(rep, "")).With("errors", rep.Errors)
	case schemas.OutcomeUnknownRoot:
		found := "{" + rep.Namespace + "}" + rep.Root
		return c, problem.New(problem.UnknownMessage, "no loaded standard declares the root element %s", found).
			With("found", map[string]string{"namespace": rep.Namespace, "element": rep.Root}).
			With("loaded", rep.Known)
	}

	facts, err := identify.Identify(req.Message)
	if err != nil {
		return c, problem.New(problem.Malformed, "%v", err)
	}
	facts.Standard, facts.Version = rep.Standard, rep.Version
	c.Facts = facts
	if rep.Outcome != schemas.OutcomeValid {
		return c, problem.New(problem.SchemaViolation, "the message violates the %s %s schema (%d errors)", rep.Standard, rep.Version, len(rep.Errors)).
			With("errors", rep.Errors).With("facts", facts)
	}
	if req.Metadata != nil {
		merged, conflicts := identify.Merge(facts, *req.Metadata)
		if len(conflicts) > 0 {
			return c, problem.New(problem.MetadataConflict, "%d metadata values contradict the message", len(conflicts)).
				With("conflicts", conflicts).With("facts", facts)
		}
		c.Facts = merged
	}
	return c, p.route(c, req.Sender)
}

// checkEncrypted routes encrypted content by the facts its sender gave.
// The standard and version are those the catalog knows for the namespace.
func (p *Pipeline) checkEncrypted(req *Request) (*Checked, *problem.Problem) {
	c := &Checked{Facts: *req.Encrypted, ValidatedAt: time.Now().UTC()}
	if pkg, ok := p.Catalog.Lookup(c.Facts.Namespace); ok {
		c.Facts.Standard, c.Facts.Version = pkg.Standard, pkg.Version
	}
	return c, p.route(c, req.Sender)
}

// route decides the target of c's facts.
func (p *Pipeline) route(c *Checked, sender string) *problem.Problem {
	// The sender's permissions come before the route: what a sender may not
	// submit is refused the same way wherever it would go.
	if prob := p.Permissions[sender].check(sender, c.Facts); prob != nil {
		return prob.With("facts", c.Facts)
	}
	d, err := p.Router.Route(routing.Input{
		Namespace: c.Facts.Namespace, Standard: c.Facts.Standard, MessageType: c.Facts.MessageType,
		Reader: c.Facts.Reader, Service: c.Facts.Service, Sender: sender, Test: c.Facts.Test,
	})
	c.RoutedAt = time.Now().UTC()
	switch {
	case errors.Is(err, routing.ErrTestRefused):
		return problem.New(problem.TestRefused, "%v", err).With("facts", c.Facts)
	case err != nil:
		return problem.New(problem.NoRoute, "%v", err).With("facts", c.Facts)
	}
	c.Decision = d
	return nil
}

// Submit runs Check and stores the submission durably. It returns the stored
// submission only after JetStream acknowledged it.
func (p *Pipeline) Submit(ctx context.Context, req *Request) (*store.Stored, *Checked, *problem.Problem) {
	c, prob := p.Check(req)
	if prob != nil {
		return nil, c, prob
	}
	st, prob := p.Commit(ctx, req, c)
	return st, c, prob
}

// Commit stores a submission that Check passed, for a caller that looks at
// the outcome of Check (the routing decision) before it stores.
func (p *Pipeline) Commit(ctx context.Context, req *Request, c *Checked) (*store.Stored, *problem.Problem) {
	f := c.Facts
	sum := sha256.Sum256(req.Message)
	rec := store.Record{
		ID: uuid.Must(uuid.NewV7()).String(), Sender: req.Sender,
		Target: c.Decision.Target, Rule: c.Decision.Rule,
		Namespace: f.Namespace, Standard: f.Standard, Version: f.Version, MessageType: f.MessageType,
		Author: f.Author, Reader: f.Reader, NachrichtenUUID: f.NachrichtenUUID,
		Service: f.Service, ReplyTo: f.ReplyTo, Test: f.Test,
		MessageSize: int64(len(req.Message)), MessageSHA256: hex.EncodeToString(sum[:]),
		RequestSHA256: req.RequestSHA256,
		ReceivedAt:    req.ReceivedAt, ValidatedAt: c.ValidatedAt, RoutedAt: c.RoutedAt,
		XTA: req.XTA, Encrypted: req.Encrypted != nil,
	}
	sub := &store.Submission{Record: rec, Message: req.Message, IdempotencyKey: req.IdempotencyKey}
	for _, a := range req.Attachments {
		s := sha256.Sum256(a.Data)
		sub.Record.Attachments = append(sub.Record.Attachments, store.Attachment{
			Name: a.Name, ContentType: a.ContentType, Size: int64(len(a.Data)), SHA256: hex.EncodeToString(s[:]),
		})
		sub.Attachments = append(sub.Attachments, a.Data)
	}
	st, err := p.Store.Put(ctx, sub)
	switch {
	case errors.Is(err, store.ErrIdempotencyConflict):
		return nil, problem.New(problem.IdempotencyConflict, "the Idempotency-Key %q was used before with a different request", req.IdempotencyKey)
	case err != nil:
		return nil, problem.New(problem.Unavailable, "the submission could not be stored: %v", err)
	}
	return st, nil
}

// limitKeys maps the limits of package schemas to their configuration keys.
var limitKeys = map[string]string{
	schemas.LimitDepth:          "limits.max_xml_depth",
	schemas.LimitAttributes:     "limits.max_xml_attributes",
	schemas.LimitAttributeBytes: "limits.max_xml_attribute_bytes",
	schemas.LimitNamespaces:     "limits.max_xml_namespaces",
}

func firstMessage(r *schemas.Report, def string) string {
	if len(r.Errors) == 0 {
		return def
	}
	e := r.Errors[0]
	if e.Line > 0 {
		return e.Message + " (line " + strconv.Itoa(e.Line) + ", column " + strconv.Itoa(e.Column) + ")"
	}
	return e.Message
}
