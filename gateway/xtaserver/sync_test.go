package xtaserver_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
)

// sendSync sends the demo message for reader by sendMessageSync.
func (e *env) sendSync(id, reader string) (*xta.Envelope, error) {
	m := meta(id, portal, xta.PartyIdentifier{Value: reader, Type: "xoev"})
	content := xta.Content{ContentType: "application/xml", Filename: "antrag.xml", Data: e.demoFor(reader)}
	return e.call("portal", xta.OpSendMessageSync, m.Write, func(w *xta.Writer) { xta.WriteContainer(w, &content, nil) })
}

// A synchronous route answers sendMessageSync once the target has the
// message: the MessageMetaData with the delivery time, and the transport
// report as the content.
func TestSendMessageSync(t *testing.T) {
	e := start(t, "")
	env, err := e.sendSync("sync-1", "ags:04444000")
	require.NoError(t, err)
	ms, _ := filepath.Glob(filepath.Join(e.outbox, "[^.]*", "manifest.json"))
	require.Len(t, ms, 1, "delivered before the answer")
	assert.Equal(t, e.demoFor("ags:04444000"), e.delivered())
	md := env.Header.MessageMetaData
	require.NotNil(t, md)
	assert.Equal(t, "sync-1", md.MsgIdentification.MessageID, "the answer's MessageMetaData is the request's message")
	assert.NotEmpty(t, md.DeliveryAttributes.Delivery)
	msg := env.Body.Container.ContentContainer.Message
	assert.Equal(t, "application/xml", msg.ContentType)
	assert.Equal(t, "transport-report.xml", msg.Filename)
	e.v.CheckXML(t, msg.Data)
	assert.Contains(t, string(msg.Data), "<xta:Status>1</xta:Status>", "green: the filedrop took it")

	// A box target has the message once it waits in the box: status open.
	env, err = e.sendSync("sync-box", "ags:03333000")
	require.NoError(t, err)
	assert.Contains(t, string(env.Body.Container.ContentContainer.Message.Data), "<xta:Status>0</xta:Status>")

	// Not delivered within xta.sync_timeout: 9032, but the message is stored and goes on.
	_, err = e.sendSync("sync-slow", "ags:02222000")
	f := fault(t, err, "9032")
	assert.Contains(t, f.Reason, "within xta.sync_timeout")
	_, err = e.sendSync("sync-slow", "ags:02222000")
	fault(t, err, "9024")

	// A route without sync: 9080 before anything is stored, so the id stays free.
	_, err = e.sendSync("async-only", "ags:09999000")
	f = fault(t, err, "9080")
	assert.True(t, strings.Contains(f.Reason, `"a"`), f.Reason)
	require.NoError(t, e.send("async-only", readerA, e.demo))
}
