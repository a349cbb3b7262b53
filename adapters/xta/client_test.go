package xta_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/adapters/xta/xtatest"
)

// Every request the client role writes (xta-push, the pull intake) is MTOM
// and valid against the XTA schemas: header and body, each on its own.
func TestClientRequestsValidate(t *testing.T) {
	v := xtatest.New(t)
	var ops []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		env := v.Check(t, r.Header.Get("Content-Type"), body)
		op, ok := xta.OperationByAction(env.Action)
		require.True(t, ok, env.Action)
		ops = append(ops, op.Name)
		m := &xta.Message{Action: op.Action, RelatesTo: env.Header.MessageID}
		switch op {
		case xta.OpCreateMessageID:
			m.Body = func(w *xta.Writer) { w.Elem("wsa:MessageID", "urn:de:xta:messageid:x:1") }
		case xta.OpGetTransportReport:
			rep := xta.TransportReport{MessageMetaData: *sampleMeta(), ReportTime: xta.FormatTime(time.Now()), XTAServerIdentity: "x", Status: 1}
			m.Body = rep.Write
		case xta.OpGetStatusList:
			m.Headers = func(w *xta.Writer) { xta.WriteMsgBoxResponse(w, "urn:uuid:r", "", 0) }
			m.Body = (&xta.MsgStatusList{MetaData: []xta.MessageMetaData{*sampleMeta()}}).Write
		case xta.OpGetMessage:
			c := xta.Content{ContentType: "application/xml", Data: []byte("<a/>")}
			m.Headers = sampleMeta().Write
			m.Body = func(w *xta.Writer) { xta.WriteContainer(w, &c, nil) }
		}
		var buf bytes.Buffer
		require.NoError(t, xta.Encode(&buf, m, "r"))
		w.Header().Set("Content-Type", m.ContentType("r"))
		_, _ = w.Write(buf.Bytes())
	}))
	defer srv.Close()
	c := &xta.Client{URL: srv.URL, HTTP: srv.Client()}
	ctx := t.Context()
	author := xta.PartyIdentifier{Value: "efa:demo-portal", Type: "xoev"}
	reader := xta.PartyIdentifier{Value: "ags:09999000", Type: "xoev"}

	_, err := c.CreateMessageID(ctx, author)
	require.NoError(t, err)
	meta := sampleMeta()
	meta.SetProperty(xta.PropertyListURI, xta.ListVersion, "submission-id", "0195f3a9")
	data := bytes.Repeat([]byte{1, 2, 3}, 1000)
	msg := xta.Content{ContentType: "application/xml", Encoding: "UTF-8", Filename: "a.xml", ID: "m", Data: []byte("<a/>")}
	att := xta.Content{ContentType: "application/pdf", Filename: "b.pdf", Length: int64(len(data)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
	require.NoError(t, c.SendMessage(ctx, meta, func(w *xta.Writer) { xta.WriteContainer(w, &msg, []xta.Content{att}) }))
	enc := []byte(`<e:EncryptedData xmlns:e="http://www.w3.org/2001/04/xmlenc#"><e:CipherData><e:CipherValue>AAEC</e:CipherValue></e:CipherData></e:EncryptedData>`)
	require.NoError(t, c.SendMessage(ctx, meta, func(w *xta.Writer) { xta.WriteEncrypted(w, enc) }))
	_, err = c.TransportReport(ctx, author, "urn:de:xta:messageid:x:1")
	require.NoError(t, err)
	list, err := c.StatusList(ctx, reader, 100)
	require.NoError(t, err)
	assert.Len(t, list, 1)
	_, err = c.Fetch(ctx, reader, "urn:de:xta:messageid:x:1")
	require.NoError(t, err)
	require.NoError(t, c.Close(ctx, reader, "urn:uuid:r", "urn:de:xta:messageid:x:1"))
	assert.Equal(t, []string{"createMessageId", "sendMessage", "sendMessage", "getTransportReport", "getStatusList", "getMessage", "close"}, ops)
}

// A proxy in front of an XTA server may refuse with HTTP 429 or 503 and
// Retry-After but without a SOAP envelope; the client passes the wait on.
// Other statuses ask for no wait.
func TestClientReadsRetryAfterWithoutSOAP(t *testing.T) {
	for status, want := range map[int]time.Duration{429: 4 * time.Second, 503: 4 * time.Second, 502: 0} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "4")
			http.Error(w, "slow down", status)
		}))
		c := &xta.Client{URL: srv.URL, HTTP: srv.Client()}
		_, err := c.CreateMessageID(t.Context(), xta.PartyIdentifier{Value: "a", Type: "xoev"})
		srv.Close()
		require.Error(t, err)
		assert.True(t, xta.Temporary(err), "%d: %v", status, err)
		assert.Equal(t, want, xta.WaitRequested(err), "%d: %v", status, err)
	}
}
