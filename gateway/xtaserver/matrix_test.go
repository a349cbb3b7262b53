package xtaserver_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
)

// TestAccessMatrix calls every XTA operation for a party with: no client
// certificate, a certificate of no party, the certificate of another party
// (impersonation), another party acting as itself on the message, and the
// right party; and asserts the outcome of each.
func TestAccessMatrix(t *testing.T) {
	e := start(t, "")
	require.NoError(t, e.send("matrix-1", readerB, e.demoFor("ags:07777000")))
	b := xta.AuthorHeader(readerB)
	require.Eventually(t, func() bool {
		_, err := e.call("fachverfahren-b", xta.OpGetMessage, b, fetchByID("matrix-1"))
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "the message reaches B's box")

	byID := func(id string) func(w *xta.Writer) { return func(w *xta.Writer) { w.Elem("wsa:MessageID", id) } }
	lookup := func(w *xta.Writer) {
		w.Open("xta:LookupServiceRequest")
		w.Open("xta:LookupServiceRequestList")
		w.Open("xta:LookupService")
		w.Open("oscimeta:Reader")
		w.Elem("oscimeta:Identifier", "ags:07777000", "type", "xoev")
		w.Close()
		w.Elem("xta:ServiceType", "urn:xoev-de:drehscheibe:service:bewohnerparken")
		w.Close()
		w.Close()
		w.Close()
	}
	ops := []struct {
		op xta.Operation
		// as is the party the call is for, right its client ("": the
		// right party's call is left out, it would change the state);
		// self is another party's client acting as itself (selfAs) on the
		// same message, selfWant the fault it gets.
		as       xta.PartyIdentifier
		right    string
		self     string
		selfAs   xta.PartyIdentifier
		selfWant string
		body     func(w *xta.Writer)
	}{
		{op: xta.OpCheckAccountActive, as: readerB, right: "fachverfahren-b"},
		{op: xta.OpCreateMessageID, as: portal, right: "portal"},
		{op: xta.OpLookupService, as: portal, right: "portal", body: lookup},
		{op: xta.OpGetStatusList, as: readerB, right: "fachverfahren-b", body: statusList(0, "MessageMetaData", nil)}, // another reader: below
		{op: xta.OpGetMessage, as: readerB, right: "fachverfahren-b", body: fetchByID("matrix-1"),
			self: "fachverfahren-c", selfAs: readerC, selfWant: "9070"},
		{op: xta.OpGetNextMessage, as: readerB, right: "fachverfahren-b", body: getNext("MsgBoxGetNextRequest", "1"),
			self: "fachverfahren-c", selfAs: readerC, selfWant: "9070"},
		{op: xta.OpGetTransportReport, as: portal, right: "portal", body: byID("matrix-1"),
			self: "fachverfahren-c", selfAs: readerC, selfWant: "9070"},
		{op: xta.OpCancelMessage, as: portal, right: "", body: byID("matrix-1"),
			self: "fachverfahren-c", selfAs: readerC, selfWant: "9070"},
		{op: xta.OpClose, as: readerB, right: "fachverfahren-b", body: closeReq("1", "matrix-1"),
			self: "fachverfahren-c", selfAs: readerC, selfWant: "9070"},
	}
	// Another reader's status list does not contain B's message.
	env, err := e.call("fachverfahren-c", xta.OpGetStatusList, xta.AuthorHeader(readerC), statusList(0, "MessageMetaData", nil))
	require.NoError(t, err)
	assert.NotContains(t, ids(env.Body.MsgStatusList), "matrix-1")
	for _, o := range ops {
		name := o.op.Name
		h := xta.AuthorHeader(o.as)
		// No certificate: the handshake refuses the client; no fault, no answer.
		_, err := e.client("").Call(context.Background(), o.op, h, o.body)
		var f *xta.ReceivedFault
		assert.False(t, errors.As(err, &f), "%s without certificate: %v", name, err)
		require.Error(t, err, name)
		// A certificate of no party, and another party's certificate, for o.as.
		_, err = e.call("unknown-client", o.op, h, o.body)
		fault(t, err, "9014")
		_, err = e.call("fachverfahren-a", o.op, h, o.body)
		fault(t, err, "9014")
		if o.self != "" {
			_, err = e.call(o.self, o.op, xta.AuthorHeader(o.selfAs), o.body)
			fault(t, err, o.selfWant)
		}
		if o.right != "" {
			_, err = e.call(o.right, o.op, h, o.body)
			assert.NoError(t, err, "%s as the right party", name)
		}
	}
	// sendMessage: the author's certificate only.
	m := meta("matrix-2", portal, readerB)
	content := xta.Content{ContentType: "application/xml", Data: e.demoFor("ags:07777000")}
	body := func(w *xta.Writer) { xta.WriteContainer(w, &content, nil) }
	_, err = e.call("unknown-client", xta.OpSendMessage, m.Write, body)
	fault(t, err, "9014")
	_, err = e.call("fachverfahren-a", xta.OpSendMessage, m.Write, body)
	fault(t, err, "9014")
	_, err = e.call("portal", xta.OpSendMessage, m.Write, body)
	assert.NoError(t, err)
}
