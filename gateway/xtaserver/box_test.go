package xtaserver_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/test/gatewaytest"
)

// statusList writes an osci:MsgBoxStatusListRequest.
func statusList(maxItems int, form string, sel func(w *xta.Writer)) func(w *xta.Writer) {
	return func(w *xta.Writer) {
		attrs := []string{"ListForm", form}
		if maxItems > 0 {
			attrs = append(attrs, "maxListItems", fmt.Sprint(maxItems))
		}
		w.Open("osci:MsgBoxStatusListRequest", attrs...)
		if sel != nil {
			sel(w)
		}
		w.Close()
	}
}

// byIDs is an osci:MsgSelector for message ids.
func byIDs(ids ...string) func(w *xta.Writer) {
	return func(w *xta.Writer) {
		w.Open("osci:MsgSelector")
		for _, id := range ids {
			w.Elem("wsa:MessageID", id)
		}
		w.Close()
	}
}

// fetchByID is getMessage as the it-at-m client sends it: MsgSelector/wsa:MessageID.
func fetchByID(id string) func(w *xta.Writer) {
	return func(w *xta.Writer) {
		w.Open("osci:MsgBoxFetchRequest")
		byIDs(id)(w)
		w.Close()
	}
}

// closeReq is close as real clients send it: a constant MsgBoxRequestID "1".
func closeReq(rid string, ids ...string) func(w *xta.Writer) {
	return func(w *xta.Writer) {
		w.Open("osci:MsgBoxCloseRequest", "MsgBoxRequestID", rid)
		for _, id := range ids {
			w.Elem("osci:LastMsgReceived", id)
		}
		w.Close()
	}
}

func getNext(el, rid string) func(w *xta.Writer) {
	return func(w *xta.Writer) {
		w.Open("osci:"+el, "MsgBoxRequestID", rid)
		w.Close()
	}
}

func ids(l *xta.MsgStatusList) []string {
	var out []string
	for _, m := range l.MetaData {
		out = append(out, m.MsgIdentification.MessageID)
	}
	for _, a := range l.Attributes {
		out = append(out, a.MessageID)
	}
	return out
}

func pending(t *testing.T, env *xta.Envelope) (string, int) {
	t.Helper()
	r := env.Header.MsgBoxResponse
	require.NotNil(t, r, "MsgBoxResponse header")
	require.NotEmpty(t, r.RequestID)
	if r.NoMessageAvailable != nil {
		assert.Equal(t, xta.ReasonNoMatch, r.NoMessageAvailable.Reason)
		return r.RequestID, -1
	}
	require.NotNil(t, r.ItemsPending)
	return r.RequestID, *r.ItemsPending
}

func TestMessageBox(t *testing.T) {
	e := start(t, "")
	before := time.Now().Add(-time.Second)
	pdf := xta.Content{ContentType: "application/pdf", Filename: "fahrzeugschein.pdf", ID: "anlage1", Data: []byte("%PDF-1.4\x00\xff binary")}
	require.NoError(t, e.send("msg-1", readerB, e.demoFor("ags:07777000"), pdf))
	require.NoError(t, e.send("msg-2", readerB, e.demoFor("ags:07777000")))
	require.NoError(t, e.send("MSG-3", readerB, e.demoFor("ags:07777000")))
	require.NoError(t, e.send("other-reader", readerC, e.demoFor("ags:06666000")))
	b := xta.AuthorHeader(readerB)

	// Wait until the three are in B's box.
	var env *xta.Envelope
	var err error
	require.Eventually(t, func() bool {
		env, err = e.call("fachverfahren-b", xta.OpGetStatusList, b, statusList(0, "MessageMetaData", nil))
		require.NoError(t, err)
		return len(env.Body.MsgStatusList.MetaData) == 3
	}, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, []string{"msg-1", "msg-2", "MSG-3"}, ids(env.Body.MsgStatusList), "oldest first, B's messages only")
	m := env.Body.MsgStatusList.MetaData[0]
	assert.Equal(t, "efa:demo-portal", m.Originators.Author.Identifier.Value)
	assert.Equal(t, "Demo-Portal", m.Originators.Author.Identifier.Name)
	assert.Equal(t, "ags:07777000", m.Destinations.Reader.Identifier.Value)
	assert.NotEmpty(t, m.Destinations.Reader.Identifier.Name)
	assert.Equal(t, "urn:xoev-de:drehscheibe:standard:demo:1.0", m.Qualifier.MessageType.PayloadSchema)
	assert.Equal(t, fmt.Sprint(len(e.demoFor("ags:07777000"))), m.MsgSize)
	assert.NotEmpty(t, m.DeliveryAttributes.Delivery)

	// maxListItems pages; ItemsPending counts the rest; getNextStatusList continues.
	env, err = e.call("fachverfahren-b", xta.OpGetStatusList, b, statusList(2, "MessageMetaData", nil))
	require.NoError(t, err)
	rid, n := pending(t, env)
	assert.Equal(t, 1, n)
	assert.Equal(t, []string{"msg-1", "msg-2"}, ids(env.Body.MsgStatusList))
	env, err = e.call("fachverfahren-b", xta.OpGetStatusList, b, statusList(2, "MessageMetaData", nil))
	require.NoError(t, err)
	rid2, _ := pending(t, env)
	assert.NotEqual(t, rid, rid2, "every getStatusList has a fresh MsgBoxRequestID")
	env, err = e.call("fachverfahren-b", xta.OpGetNextStatusList, b, getNext("MsgBoxGetNextRequest", rid))
	require.NoError(t, err)
	_, n = pending(t, env)
	assert.Equal(t, 0, n)
	assert.Equal(t, []string{"MSG-3"}, ids(env.Body.MsgStatusList))
	env, err = e.call("fachverfahren-b", xta.OpGetNextStatusList, b, getNext("MsgBoxGetNextRequest", rid))
	require.NoError(t, err)
	_, n = pending(t, env)
	assert.Equal(t, -1, n, "NoMessageAvailable at the end")

	// The schema's misspelt MsgAtrributes form, and a selector by ids (case-insensitive) and time window.
	env, err = e.call("fachverfahren-b", xta.OpGetStatusList, b, statusList(0, "MsgAtrributes", func(w *xta.Writer) {
		w.Open("osci:MsgSelector", "newEntry", "true")
		w.Elem("wsa:MessageID", "msg-3")
		w.Elem("wsa:MessageID", "msg-1")
		w.Elem("osci:MsgBoxEntryTimeFrom", xta.FormatTime(before))
		w.Elem("osci:MsgBoxEntryTimeTo", xta.FormatTime(time.Now().Add(time.Minute)))
		w.Close()
	}))
	require.NoError(t, err)
	assert.Empty(t, env.Body.MsgStatusList.MetaData)
	assert.Equal(t, []string{"msg-1", "MSG-3"}, ids(env.Body.MsgStatusList))
	assert.NotZero(t, env.Body.MsgStatusList.Attributes[0].MsgSize)
	env, err = e.call("fachverfahren-b", xta.OpGetStatusList, b, statusList(0, "MsgAtrributes", func(w *xta.Writer) {
		w.Open("osci:MsgSelector")
		w.Elem("osci:MsgBoxEntryTimeTo", xta.FormatTime(before))
		w.Close()
	}))
	require.NoError(t, err)
	_, n = pending(t, env)
	assert.Equal(t, -1, n, "nothing arrived before the window")

	// getMessage by id: content, attachments, complete metadata, InitialFetch.
	env, err = e.call("fachverfahren-b", xta.OpGetMessage, b, fetchByID("msg-1"))
	require.NoError(t, err)
	cc := env.Body.Container.ContentContainer
	assert.Equal(t, e.demoFor("ags:07777000"), cc.Message.Data)
	assert.Equal(t, "antrag.xml", cc.Message.Filename)
	assert.Equal(t, "UTF-8", cc.Message.Encoding)
	assert.Equal(t, fmt.Sprint(len(cc.Message.Data)), cc.Message.Size)
	require.Len(t, cc.Attachments, 1)
	assert.Equal(t, pdf.Data, cc.Attachments[0].Data)
	assert.Equal(t, "fahrzeugschein.pdf", cc.Attachments[0].Filename)
	require.NotNil(t, env.Header.MessageMetaData)
	assert.NotEmpty(t, env.Header.MessageMetaData.DeliveryAttributes.InitialFetch)
	_, n = pending(t, env)
	assert.Equal(t, 0, n)

	// newEntry=true no longer lists the fetched message.
	env, err = e.call("fachverfahren-b", xta.OpGetStatusList, b, statusList(0, "MsgAtrributes", func(w *xta.Writer) {
		w.Open("osci:MsgSelector", "newEntry", "true")
		w.Close()
	}))
	require.NoError(t, err)
	assert.Equal(t, []string{"msg-2", "MSG-3"}, ids(env.Body.MsgStatusList))

	// A reader never sees another reader's messages.
	c := xta.AuthorHeader(readerC)
	_, err = e.call("fachverfahren-c", xta.OpGetMessage, c, fetchByID("msg-2"))
	fault(t, err, "9070")
	_, err = e.call("fachverfahren-c", xta.OpClose, c, closeReq("1", "msg-2"))
	fault(t, err, "9070")
	env, err = e.call("fachverfahren-c", xta.OpGetStatusList, c, statusList(0, "MessageMetaData", nil))
	require.NoError(t, err)
	assert.Equal(t, []string{"other-reader"}, ids(env.Body.MsgStatusList))
	_, err = e.call("fachverfahren-c", xta.OpGetNextStatusList, c, getNext("MsgBoxGetNextRequest", rid))
	require.NoError(t, err, "another reader's request id is an invalid one, not a fault")

	// close with the constant MsgBoxRequestID "1": the message leaves the box.
	_, err = e.call("fachverfahren-b", xta.OpClose, b, closeReq("1", "MSG-1"))
	require.NoError(t, err)
	_, err = e.call("fachverfahren-b", xta.OpGetMessage, b, fetchByID("msg-1"))
	fault(t, err, "9070")
	_, err = e.call("fachverfahren-b", xta.OpClose, b, closeReq("1", "msg-1"))
	fault(t, err, "9070")

	// The author sees fetched and closed in the transport report: green.
	env, err = e.call("portal", xta.OpGetTransportReport, xta.AuthorHeader(portal), func(w *xta.Writer) { w.Elem("wsa:MessageID", "msg-1") })
	require.NoError(t, err)
	rep := env.Body.TransportReport
	assert.Equal(t, 1, rep.Status)
	var codes []string
	for _, r := range rep.Infos {
		codes = append(codes, r.Code.Code)
	}
	assert.Equal(t, []string{"received", "validated", "routed", "queued", "delivered", "fetched", "closed"}, codes)
	assert.NotEmpty(t, rep.MessageMetaData.DeliveryAttributes.Reception)

	// getNextMessage walks the rest; close by the iteration's request id.
	env, err = e.call("fachverfahren-b", xta.OpGetNextMessage, b, getNext("MsgBoxGetNextRequest", "1"))
	require.NoError(t, err)
	assert.Equal(t, "msg-2", env.Header.MessageMetaData.MsgIdentification.MessageID)
	rid, _ = pending(t, env)
	env, err = e.call("fachverfahren-b", xta.OpGetNextMessage, b, getNext("MsgBoxGetNextRequest", rid))
	require.NoError(t, err)
	assert.Equal(t, "MSG-3", env.Header.MessageMetaData.MsgIdentification.MessageID)
	_, err = e.call("fachverfahren-b", xta.OpClose, b, closeReq(rid))
	require.NoError(t, err)
	env, err = e.call("fachverfahren-b", xta.OpGetStatusList, b, statusList(0, "MessageMetaData", nil))
	require.NoError(t, err)
	_, n = pending(t, env)
	assert.Equal(t, -1, n, "the box is empty")
}

// A message posted over REST waits in the box too, with metadata the
// gateway identified.
func TestRESTSubmissionInTheBox(t *testing.T) {
	e := start(t, "")
	subID := gatewaytest.Submit(t, "http://"+e.g.Addr(), restKey, e.demoFor("ags:07777000"))

	id := "urn:de:xta:messageid:drehscheibe-test:" + subID
	b := xta.AuthorHeader(readerB)
	var env *xta.Envelope
	var err error
	require.Eventually(t, func() bool {
		env, err = e.call("fachverfahren-b", xta.OpGetMessage, b, fetchByID(id))
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "%v", err)
	assert.Equal(t, e.demoFor("ags:07777000"), env.Body.Container.ContentContainer.Message.Data)
	m := env.Header.MessageMetaData
	assert.Equal(t, "efa:demo-portal", m.Originators.Author.Identifier.Value)
	assert.Equal(t, "antrag.einreichen.0100", m.Qualifier.MessageType.Code)
	assert.Equal(t, "urn:xoev-de:drehscheibe:standard:demo:1.0", m.Qualifier.MessageType.PayloadSchema)
	assert.Equal(t, "antrag.einreichen.0100.xml", env.Body.Container.ContentContainer.Message.Filename)
	_, err = e.call("fachverfahren-b", xta.OpClose, b, closeReq("1", id))
	require.NoError(t, err)

	// The REST status shows the box events.
	sreq, _ := http.NewRequest(http.MethodGet, "http://"+e.g.Addr()+"/v1/submissions/"+subID, nil)
	sreq.Header.Set("Authorization", "Bearer "+restKey)
	res, err := http.DefaultClient.Do(sreq)
	require.NoError(t, err)
	var st struct{ Status string }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&st))
	res.Body.Close()
	assert.Equal(t, "closed", st.Status)
}

// Two gateways share one JetStream: a reader lists on one and fetches and
// closes on the other.
func TestBoxFromAnyReplica(t *testing.T) {
	one := startWith(t, "", `nats: {data_dir: %q, listen: "127.0.0.1:0"}`, "256KiB")
	url := one.g.Store.ClientURL()
	require.NotEmpty(t, url)
	two := startWith(t, "", `nats: {embedded: false, url: "`+url+`"} # %q`, "256KiB")
	require.NoError(t, one.send("replicated", readerB, one.demoFor("ags:07777000")))
	b := xta.AuthorHeader(readerB)
	var env *xta.Envelope
	var err error
	require.Eventually(t, func() bool {
		env, err = two.call("fachverfahren-b", xta.OpGetStatusList, b, statusList(0, "MessageMetaData", nil))
		require.NoError(t, err)
		return len(env.Body.MsgStatusList.MetaData) == 1
	}, 10*time.Second, 50*time.Millisecond)
	rid, _ := pending(t, env)
	env, err = one.call("fachverfahren-b", xta.OpGetNextStatusList, b, getNext("MsgBoxGetNextRequest", rid))
	require.NoError(t, err)
	_, n := pending(t, env)
	assert.Equal(t, -1, n, "replica one continues replica two's iteration")
	_, err = two.call("fachverfahren-b", xta.OpGetMessage, b, fetchByID("replicated"))
	require.NoError(t, err)
	_, err = one.call("fachverfahren-b", xta.OpClose, b, closeReq("1", "replicated"))
	require.NoError(t, err)
	_, err = two.call("fachverfahren-b", xta.OpGetMessage, b, fetchByID("replicated"))
	fault(t, err, "9070")
}
