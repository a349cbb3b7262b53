package xtaserver_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
)

func TestAccounts(t *testing.T) {
	e := start(t, "")
	_, err := e.call("fachverfahren-a", xta.OpCheckAccountActive, xta.AuthorHeader(readerA), nil)
	require.NoError(t, err)
	_, err = e.call("portal", xta.OpCheckAccountActive, xta.AuthorHeader(portal), nil)
	require.NoError(t, err)

	_, err = e.call("fachverfahren-a", xta.OpCheckAccountActive, xta.AuthorHeader(stranger), nil)
	fault(t, err, "9012")
	_, err = e.call("fachverfahren-a", xta.OpCheckAccountActive, xta.AuthorHeader(readerB), nil)
	f := fault(t, err, "9014")
	assert.Equal(t, "PermissionDeniedException", f.Exception)
	_, err = e.call("unknown-client", xta.OpCheckAccountActive, xta.AuthorHeader(readerA), nil)
	fault(t, err, "9014")
	_, err = e.call("fachverfahren-a", xta.OpCheckAccountActive, nil, nil)
	fault(t, err, "9020")
}

func TestTLSClientCertificateRequired(t *testing.T) {
	e := start(t, "")
	_, err := e.client("").Call(context.Background(), xta.OpCheckAccountActive, xta.AuthorHeader(readerA), nil)
	require.Error(t, err, "a client without certificate does not get through the handshake")
	assert.NotContains(t, err.Error(), "fault")
}

func TestCreateMessageID(t *testing.T) {
	e := start(t, "")
	seen := map[string]bool{}
	for range 3 {
		env, err := e.call("portal", xta.OpCreateMessageID, xta.AuthorHeader(portal), nil)
		require.NoError(t, err)
		require.NotNil(t, env.Body.MessageID)
		id := *env.Body.MessageID
		assert.Regexp(t, regexp.MustCompile(`^urn:de:xta:messageid:drehscheibe-test:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), id)
		assert.LessOrEqual(t, len(id), 100)
		assert.False(t, seen[id])
		seen[id] = true
	}
}

func TestLookupService(t *testing.T) {
	e := start(t, "")
	env, err := e.call("portal", xta.OpLookupService, xta.AuthorHeader(portal), func(w *xta.Writer) {
		w.Open("xta:LookupServiceRequest")
		for _, r := range []string{"ags:09999000", "ags:07777000", "ags:12345678"} {
			w.Open("xta:LookupServiceRequestList")
			w.Open("xta:LookupService")
			w.Open("oscimeta:Reader")
			w.Elem("oscimeta:Identifier", r, "type", "xoev")
			w.Close()
			w.Elem("xta:ServiceType", "urn:xoev-de:drehscheibe:service:bewohnerparken")
			w.Close()
			w.Close()
		}
		w.Close()
	})
	require.NoError(t, err)
	res := env.Body.LookupServiceResponse.Results
	require.Len(t, res, 3)
	for i, want := range []bool{true, true, false} {
		require.NotNil(t, res[i].Value.Available)
		assert.Equal(t, want, *res[i].Value.Available, res[i].Reader.ID())
	}
	_, err = e.call("portal", xta.OpLookupService, xta.AuthorHeader(portal), nil)
	fault(t, err, "9020")
}

func TestSendMessageThroughTheIntake(t *testing.T) {
	e := start(t, "")
	id := "urn:de:xta:messageid:portal:" + strings.Repeat("a", 8) + "-1"
	require.NoError(t, e.send(id, readerA, e.demo))
	assert.Equal(t, e.demo, e.delivered(), "the Message reaches the Fachverfahren byte-identical")

	// The author follows it by getTransportReport; ids compare case-insensitively.
	var rep *xta.TransportReport
	require.Eventually(t, func() bool {
		env, err := e.call("portal", xta.OpGetTransportReport, xta.AuthorHeader(portal), func(w *xta.Writer) { w.Elem("wsa:MessageID", strings.ToUpper(id)) })
		require.NoError(t, err)
		rep = env.Body.TransportReport
		return rep.Status == 1
	}, 10*time.Second, 50*time.Millisecond, "status green once delivered")
	assert.Equal(t, strings.ToUpper(id), rep.MessageMetaData.MsgIdentification.MessageID)
	assert.Equal(t, "drehscheibe-test", rep.XTAServerIdentity)
	assert.NotEmpty(t, rep.ReportTime)
	assert.Equal(t, "Demo-Portal", rep.MessageMetaData.Originators.Author.Identifier.Name)
	assert.Equal(t, "Stadt Musterstadt", rep.MessageMetaData.Destinations.Reader.Identifier.Name)
	assert.NotEmpty(t, rep.MessageMetaData.DeliveryAttributes.Delivery)
	require.NotEmpty(t, rep.Reports, "AdditionalReports carry the event log")
	assert.Contains(t, string(rep.Reports[0].Data.Data), `"delivered"`)
	var codes []string
	for _, r := range rep.Infos {
		codes = append(codes, r.Code.Code)
	}
	assert.Equal(t, []string{"received", "validated", "routed", "queued", "delivered"}, codes)

	// The reader may read the report too; another party may not.
	_, err := e.call("fachverfahren-a", xta.OpGetTransportReport, xta.AuthorHeader(readerA), func(w *xta.Writer) { w.Elem("wsa:MessageID", id) })
	require.NoError(t, err)
	_, err = e.call("fachverfahren-b", xta.OpGetTransportReport, xta.AuthorHeader(readerB), func(w *xta.Writer) { w.Elem("wsa:MessageID", id) })
	fault(t, err, "9070")

	// A reused id is refused, in any case, even with another message.
	err = e.send(strings.ToUpper(id), readerA, e.demoFor("ags:09999000"))
	fault(t, err, "9024")
}

func TestSendMessageRefusals(t *testing.T) {
	e := start(t, "")
	invalid := []byte(strings.Replace(string(e.demo), "<demo:antragsdatum>2026-03-02</demo:antragsdatum>", "<demo:antragsdatum>gestern</demo:antragsdatum>", 1))
	f := fault(t, e.send("id-invalid", readerA, invalid), "9050")
	assert.Equal(t, "MessageSchemaViolationException", f.Exception)
	assert.Regexp(t, `line \d+, column \d+: .*antragsdatum`, f.Reason, "every schema error with its line")

	fault(t, e.send("id-big", readerA, e.demo, xta.Content{ContentType: "application/pdf", Data: make([]byte, 300<<10)}), "9023")

	f = fault(t, e.send("id-noroute", readerA, e.demoFor("ags:12345678")), "9032")
	assert.Contains(t, f.Reason, "no route")

	m := meta("id-sync", portal, readerA)
	content := xta.Content{ContentType: "application/xml", Data: e.demo}
	_, err := e.call("portal", xta.OpSendMessageSync, m.Write, func(w *xta.Writer) { xta.WriteContainer(w, &content, nil) })
	fault(t, err, "9080")

	_, err = e.call("fachverfahren-a", xta.OpSendMessage, m.Write, func(w *xta.Writer) { xta.WriteContainer(w, &content, nil) })
	fault(t, err, "9014")

	_, err = e.call("portal", xta.OpSendMessage, nil, func(w *xta.Writer) { xta.WriteContainer(w, &content, nil) })
	fault(t, err, "9020")

	// The portal's sender (xta-portal) may use only the drehscheibe services.
	m = meta("id-service", portal, readerA)
	m.Qualifier.Service = "urn:example:other-service"
	_, err = e.call("portal", xta.OpSendMessage, m.Write, func(w *xta.Writer) { xta.WriteContainer(w, &content, nil) })
	f = fault(t, err, "9014")
	assert.Contains(t, f.Reason, `service "urn:example:other-service" is not among its allowed services`)

	// Refused messages burn no id: the same id works once the message is right.
	require.NoError(t, e.send("id-invalid", readerA, e.demo))
}

// A request as a plain SOAP client writes it: no MTOM, inline base64 with
// line breaks, a message id that is no URN, no wsa headers but a
// SOAPAction, only the required elements.
const plainSend = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://www.w3.org/2003/05/soap-envelope" xmlns:ns="http://www.osci.eu/ws/2014/10/transport" xmlns:add="http://www.w3.org/2005/08/addressing" xmlns:xta="http://xoev.de/transport/xta/211">
<soapenv:Header>
<ns:MessageMetaData>
<ns:DeliveryAttributes/>
<ns:Originators><ns:Author><ns:Identifier type="xoev">efa:demo-portal</ns:Identifier></ns:Author></ns:Originators>
<ns:Destinations><ns:Reader><ns:Identifier type="xoev">ags:09999000</ns:Identifier></ns:Reader></ns:Destinations>
<ns:MsgIdentification><add:MessageID>4711</add:MessageID></ns:MsgIdentification>
<ns:Qualifier><ns:Service>urn:demo</ns:Service><ns:BusinessScenario><ns:Undefined>x</ns:Undefined></ns:BusinessScenario><ns:MessageType listURI="urn:l" listVersionID="1" payloadSchema="urn:p"><code>0100</code></ns:MessageType></ns:Qualifier>
</ns:MessageMetaData>
</soapenv:Header>
<soapenv:Body><xta:GenericContentContainer><xta:ContentContainer><xta:Message contentType="text/xml">%s</xta:Message></xta:ContentContainer></xta:GenericContentContainer></soapenv:Body>
</soapenv:Envelope>`

func TestPlainSOAPWithInlineBase64(t *testing.T) {
	e := start(t, "")
	b64 := base64Lines(e.demo)
	status, env := e.raw("portal", "application/soap+xml; charset=UTF-8", `"http://www.xta.de/XTA/SendMessage"`, strings.Replace(plainSend, "%s", b64, 1))
	require.Equal(t, 200, status, "%v", env.Fault())
	assert.Nil(t, env.Fault())
	assert.Equal(t, e.demo, e.delivered())

	status, env = e.raw("portal", "application/soap+xml", "urn:no-such-action", strings.Replace(plainSend, "%s", b64, 1))
	assert.Equal(t, 400, status)
	assert.Equal(t, "9022", env.Fault().Code)

	status, env = e.raw("portal", "application/soap+xml", "", "<broken")
	assert.Equal(t, 400, status)
	assert.Equal(t, "9022", env.Fault().Code)
}

func TestCancelMessage(t *testing.T) {
	e := start(t, "")
	// ags:05555000 goes to an external target that nobody consumes: the message stays queued.
	require.NoError(t, e.send("cancel-me", xta.PartyIdentifier{Value: "ags:05555000", Type: "xoev"}, e.demoFor("ags:05555000")))
	_, err := e.call("fachverfahren-a", xta.OpCancelMessage, xta.AuthorHeader(readerA), func(w *xta.Writer) { w.Elem("wsa:MessageID", "cancel-me") })
	fault(t, err, "9070")
	_, err = e.call("portal", xta.OpCancelMessage, xta.AuthorHeader(portal), func(w *xta.Writer) { w.Elem("wsa:MessageID", "cancel-me") })
	require.NoError(t, err)
	env, err := e.call("portal", xta.OpGetTransportReport, xta.AuthorHeader(portal), func(w *xta.Writer) { w.Elem("wsa:MessageID", "cancel-me") })
	require.NoError(t, err)
	assert.Equal(t, 2, env.Body.TransportReport.Status)
	require.NotEmpty(t, env.Body.TransportReport.Warnings)
	assert.Equal(t, "cancelled", env.Body.TransportReport.Warnings[0].Code.Code)

	require.NoError(t, e.send("delivered-already", readerA, e.demo))
	e.delivered()
	require.Eventually(t, func() bool {
		_, err = e.call("portal", xta.OpCancelMessage, xta.AuthorHeader(portal), func(w *xta.Writer) { w.Elem("wsa:MessageID", "delivered-already") })
		return err != nil
	}, 10*time.Second, 50*time.Millisecond)
	f := fault(t, err, "9100")
	assert.Equal(t, "CancelDeniedException", f.Exception)
}
