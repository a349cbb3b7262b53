package mailbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/gateway/delivery"
	"github.com/drehscheibe/drehscheibe/gateway/kvjson"
)

// adapter is the delivery adapter of a box target: delivering puts the
// message into its reader's box.
type adapter struct {
	b           *Boxes
	target, typ string
}

// Adapter returns the delivery adapter of the box target named target of type typ.
func (b *Boxes) Adapter(target, typ string) delivery.Adapter {
	return &adapter{b: b, target: target, typ: typ}
}

// Deliver puts d into the box of its reader. It is idempotent: a second
// delivery of the same submission finds the entry there. A message that
// came over XTA keeps its message id, reader and service from its
// MessageMetaData; others get a message id made from the submission id.
func (a *adapter) Deliver(ctx context.Context, d *delivery.Delivery) error {
	se, err := a.b.st.Get(ctx, d.SubmissionID)
	if err != nil {
		return err
	}
	e := Entry{
		Submission: d.SubmissionID, Reader: d.Reader, Target: a.target, Delivered: time.Now().UTC(),
		Size: d.Message.Size, Scenario: firstNonEmpty(d.Service, d.Namespace),
		MessageID: "urn:de:xta:messageid:" + a.b.instanceID + ":" + d.SubmissionID,
	}
	if a.typ != XTAType {
		e.Type = a.typ
	}
	author := d.Author
	var info xta.Info
	if len(se.Record.XTA) > 0 && json.Unmarshal(se.Record.XTA, &info) == nil {
		e.Reader = info.MetaData.Destinations.Reader.ID()
		e.MessageID = strings.TrimSpace(info.MetaData.MsgIdentification.MessageID)
		e.Scenario = firstNonEmpty(strings.TrimSpace(info.MetaData.Qualifier.Service), e.Scenario)
		author = info.MetaData.Originators.Author.ID()
	}
	if e.Reader == "" {
		return delivery.Permanent(errors.New("the message names no reader, so it fits no message box"))
	}
	// The id index lets the reader close and the author follow the message
	// over XTA. sendMessage wrote it already; messages from other intakes get it here.
	if _, err := a.b.IndexMessage(ctx, e.MessageID, Message{Submission: d.SubmissionID, Author: author, Reader: e.Reader}); err != nil {
		return err
	}
	if m, err := a.b.Message(ctx, e.MessageID); err != nil {
		return err
	} else if m.Submission != d.SubmissionID {
		return delivery.Permanent(fmt.Errorf("message id %q is already used by submission %s", e.MessageID, m.Submission))
	}
	_, err = kvjson.Create(ctx, a.b.kv, boxKey(e.Reader, d.SubmissionID), e)
	return err
}

// Close releases nothing: the box lives in JetStream.
func (a *adapter) Close() error { return nil }

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
