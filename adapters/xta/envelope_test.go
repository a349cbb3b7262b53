package xta_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/adapters/xta/xtatest"
)

func encode(t *testing.T, m *xta.Message) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, xta.Encode(&b, m, "test-boundary-0123456789"))
	return m.ContentType("test-boundary-0123456789"), b.Bytes()
}

func sampleMeta() *xta.MessageMetaData {
	m := &xta.MessageMetaData{}
	m.DeliveryAttributes.Delivery = "2026-03-02T09:15:27.000Z"
	m.DeliveryAttributes.ServiceQuality = "XTA"
	m.Originators.Author.Identifier = xta.PartyIdentifier{Value: "efa:demo-portal", Type: "xoev", Name: "Demo-Portal", Category: "Onlinedienst"}
	m.Destinations.Reader.Identifier = xta.PartyIdentifier{Value: "ags:09999000", Type: "xoev", Name: "Musterstadt"}
	m.MsgIdentification.MessageID = "urn:de:xta:messageid:drehscheibe:3f2b8c1e-6d4a-4f0b-9a7e-5c1d2e3f4a5b"
	m.Qualifier.Service = "urn:xoev-de:drehscheibe:standard:demo"
	m.Qualifier.BusinessScenario.Undefined = "Demo"
	m.Qualifier.MessageType.KeyCode = xta.KeyCode{ListURI: "urn:xoev-de:drehscheibe:codeliste:demo-nachrichten", ListVersionID: "1.0", Code: "0100", Name: "antrag.einreichen.0100"}
	m.Qualifier.MessageType.PayloadSchema = "urn:xoev-de:drehscheibe:standard:demo:1.0"
	m.MsgSize = "42"
	return m
}

func TestEveryFaultIsValidMTOM(t *testing.T) {
	v := xtatest.New(t)
	for _, c := range xta.Catalogue {
		t.Run(c.Code, func(t *testing.T) {
			f := xta.NewFault(c, "because %s", "reasons")
			f.Details = []string{"line 3, column 7: something"}
			ct, body := encode(t, &xta.Message{Action: xta.OpSendMessage.Action, RelatesTo: "urn:uuid:1", Fault: f})
			env := v.Check(t, ct, body)
			rf := env.Fault()
			require.NotNil(t, rf)
			assert.Equal(t, string(c.Exception), rf.Exception)
			assert.Equal(t, c.Code, rf.Code)
			assert.Equal(t, c.Name, rf.Name)
			assert.Contains(t, rf.Reason, "line 3, column 7")
			assert.Equal(t, xta.OpSendMessage.Action, env.Action)
			assert.Equal(t, "urn:uuid:1", env.Header.RelatesTo)
			if c.Sender {
				assert.Equal(t, "soap:Sender", rf.SOAPCode)
			} else {
				assert.Equal(t, "soap:Receiver", rf.SOAPCode)
			}
		})
	}
}

func TestFetchResponseRoundTrip(t *testing.T) {
	v := xtatest.New(t)
	meta := sampleMeta()
	msg := xta.Content{ContentType: "application/xml", Encoding: "UTF-8", Filename: "antrag.xml", ID: "message", Data: []byte("<a>ü</a>")}
	att := []xta.Content{{ContentType: "application/pdf", Filename: "x.pdf", Data: []byte("%PDF-1.4 binary \x00\xff")}}
	ct, body := encode(t, &xta.Message{
		Action: xta.OpGetMessage.Action, MessageID: "urn:uuid:2", RelatesTo: "urn:uuid:1",
		Headers: func(w *xta.Writer) {
			meta.Write(w)
			xta.WriteMsgBoxResponse(w, "urn:uuid:box-1", "", 3)
		},
		Body: func(w *xta.Writer) { xta.WriteContainer(w, &msg, att) },
	})
	env := v.Check(t, ct, body)
	require.NotNil(t, env.Header.MessageMetaData)
	assert.Equal(t, *meta, *env.Header.MessageMetaData)
	require.NotNil(t, env.Header.MsgBoxResponse)
	require.NotNil(t, env.Header.MsgBoxResponse.ItemsPending)
	assert.Equal(t, 3, *env.Header.MsgBoxResponse.ItemsPending)
	cc := env.Body.Container.ContentContainer
	require.NotNil(t, cc)
	assert.Equal(t, msg.Data, cc.Message.Data)
	assert.Equal(t, "9", cc.Message.Size, "size is the byte length")
	assert.Equal(t, "antrag.xml", cc.Message.Filename)
	require.Len(t, cc.Attachments, 1)
	assert.Equal(t, att[0].Data, cc.Attachments[0].Data)
	assert.Equal(t, 2, strings.Count(string(body), "Content-Type: application/octet-stream"),
		"message and attachment travel as MTOM parts")
}

func TestOtherBodiesValidate(t *testing.T) {
	v := xtatest.New(t)
	yes := true
	meta := sampleMeta()
	bodies := map[string]func(w *xta.Writer){
		"lookup": func(w *xta.Writer) {
			xta.WriteLookupServiceResponse(w, []xta.LookupServiceResult{
				{LookupService: xta.LookupService{Reader: meta.Destinations.Reader, ServiceType: "urn:x"}, Available: &yes},
				{LookupService: xta.LookupService{Reader: meta.Destinations.Reader, ServiceType: "urn:y"}},
			})
		},
		"report": func(w *xta.Writer) {
			r := xta.TransportReport{MessageMetaData: *meta, ReportTime: "2026-03-02T09:15:27.000Z", XTAServerIdentity: "drehscheibe", Status: 1,
				Infos:   []xta.Record{{Timestamp: "2026-03-02T09:15:27.000Z", Code: xta.KeyCode{ListURI: "urn:x", ListVersionID: "1", Code: "delivered"}, Reason: "ok"}},
				Reports: []xta.Report{{Key: xta.KeyCode{ListURI: "urn:x", ListVersionID: "1", Code: "events"}, Data: xta.Content{Data: []byte("[]")}}}}
			r.Write(w)
		},
		"statuslist": func(w *xta.Writer) {
			l := xta.MsgStatusList{Attributes: []xta.MsgAttributes{{MessageID: "urn:a", TypeOfBusinessScenario: "urn:b", MsgSize: 3, DeliveryTime: "2026-03-02T09:15:27.000Z"}},
				MetaData: []xta.MessageMetaData{*meta}}
			l.Write(w)
		},
		"messageid": func(w *xta.Writer) { w.Elem("wsa:MessageID", "urn:de:xta:messageid:x:y") },
		"empty":     nil,
	}
	for name, b := range bodies {
		t.Run(name, func(t *testing.T) {
			ct, body := encode(t, &xta.Message{Action: xta.OpGetTransportReport.Action, RelatesTo: "urn:uuid:1", Body: b})
			env := v.Check(t, ct, body)
			if name == "report" {
				require.NotNil(t, env.Body.TransportReport)
				assert.Equal(t, []byte("[]"), env.Body.TransportReport.Reports[0].Data.Data)
				assert.Equal(t, 1, env.Body.TransportReport.Status)
			}
		})
	}
}

const plainRequest = `<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">
 <s:Header>
  <MessageMetaData xmlns="http://www.osci.eu/ws/2014/10/transport">
   <DeliveryAttributes/>
   <Originators><Author><Identifier type="xoev">efa:demo-portal</Identifier></Author></Originators>
   <Destinations><Reader><Identifier type="xoev">ags:09999000</Identifier></Reader></Destinations>
   <MsgIdentification><MessageID xmlns="http://www.w3.org/2005/08/addressing">my-own-id-42</MessageID></MsgIdentification>
   <Qualifier><Service>urn:s</Service><BusinessScenario><Undefined>x</Undefined></BusinessScenario>
    <MessageType listURI="urn:l" listVersionID="1"><code>c</code></MessageType></Qualifier>
  </MessageMetaData>
 </s:Header>
 <s:Body>
  <xta:GenericContentContainer xmlns:xta="http://xoev.de/transport/xta/211">
   <xta:ContentContainer><xta:Message contentType="text/xml">%s</xta:Message></xta:ContentContainer>
  </xta:GenericContentContainer>
 </s:Body>
</s:Envelope>`

func TestReadPlainSOAPWithInlineBase64(t *testing.T) {
	payload := []byte("<hello>Grüße</hello>")
	b64 := base64.StdEncoding.EncodeToString(payload)
	wrapped := b64[:10] + "\r\n " + b64[10:] // encoders break lines
	body := strings.Replace(plainRequest, "%s", wrapped, 1)
	env, err := xta.Read(`application/soap+xml; charset=utf-8; action="http://www.xta.de/XTA/SendMessage"`, "", strings.NewReader(body), 0)
	require.NoError(t, err)
	assert.Equal(t, xta.OpSendMessage.Action, env.Action, "action from the Content-Type when wsa:Action is missing")
	assert.Equal(t, payload, env.Body.Container.ContentContainer.Message.Data)
	assert.Equal(t, "my-own-id-42", env.Header.MessageMetaData.MsgIdentification.MessageID)
	assert.Equal(t, "ags:09999000", env.Header.MessageMetaData.Destinations.Reader.ID())

	env, err = xta.Read("text/xml", `"http://www.xta.de/XTA/SendMessage"`, strings.NewReader(body), 0)
	require.NoError(t, err)
	assert.Equal(t, xta.OpSendMessage.Action, env.Action, "action from the SOAPAction header")
}

func TestReadMTOMRequest(t *testing.T) {
	payload := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000)
	root := strings.Replace(plainRequest, "%s", `<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:payload%40client"/>`, 1)
	body := "--b\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\nContent-ID: <root@client>\r\n\r\n" + root +
		"\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <payload@client>\r\n\r\n" + string(payload) + "\r\n--b--\r\n"
	ct := `multipart/related; type="application/xop+xml"; boundary="b"; start="<root@client>"; start-info="application/soap+xml"; action="http://www.xta.de/XTA/SendMessage"`
	env, err := xta.Read(ct, "", strings.NewReader(body), 0)
	require.NoError(t, err)
	assert.Equal(t, payload, env.Body.Container.ContentContainer.Message.Data)
	assert.Equal(t, xta.OpSendMessage.Action, env.Action)

	_, err = xta.Read(ct, "", strings.NewReader(strings.Replace(body, "cid:payload%40client", "cid:missing", 1)), 0)
	assert.ErrorContains(t, err, "names no MIME part")

	_, err = xta.Read(ct, "", strings.NewReader(body), 1000)
	assert.True(t, errors.Is(err, xta.ErrTooLarge), "got %v", err)
}

func TestReadRefusesWhatIsNotSOAP12(t *testing.T) {
	soap11 := `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>`
	_, err := xta.Read("text/xml", "", strings.NewReader(soap11), 0)
	assert.ErrorContains(t, err, "SOAP 1.2")
	_, err = xta.Read("application/json", "", strings.NewReader("{}"), 0)
	assert.ErrorContains(t, err, "not SOAP")
	_, err = xta.Read("application/soap+xml", "", strings.NewReader("<s:Envelope"), 0)
	assert.ErrorContains(t, err, "not readable")
}

func TestOperationsMatchTheWSDL(t *testing.T) {
	wsdl, err := os.ReadFile(filepath.Join(xtatest.Dir(t), "XTA.wsdl"))
	require.NoError(t, err)
	for _, op := range xta.Operations {
		assert.Contains(t, string(wsdl), `soapAction="`+op.Action+`"`, op.Name)
		got, ok := xta.OperationByAction(`"` + op.Action + `"`)
		assert.True(t, ok)
		assert.Equal(t, op, got)
	}
}

func TestCatalogueDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/xta.md")
	require.NoError(t, err)
	for _, c := range xta.Catalogue {
		row := "| " + c.Code + " | `" + string(c.Exception) + "` | " + c.Name + " | "
		assert.Contains(t, string(doc), row, "docs/xta.md documents %s", c.Code)
	}
}

// An encrypted container is kept as it came: the element cut out of the
// envelope, the declarations it inherits and uses added, an MTOM-optimised
// CipherValue inlined as base64.
func TestReadEncryptedData(t *testing.T) {
	enc := `<e:EncryptedData Type="http://www.w3.org/2001/04/xmlenc#Content">` +
		"\n  <e:EncryptionMethod Algorithm=\"http://www.w3.org/2009/xmlenc11#aes256-gcm\"/>\n" +
		`  <e:CipherData><e:CipherValue>%s</e:CipherValue></e:CipherData></e:EncryptedData>`
	plain := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:e="http://www.w3.org/2001/04/xmlenc#" xmlns:unused="urn:u">` +
		`<s:Header/><s:Body><x:GenericContentContainer xmlns:x="http://xoev.de/transport/xta/211">` + enc + `</x:GenericContentContainer></s:Body></s:Envelope>`

	env, err := xta.Read("application/soap+xml", xta.OpSendMessage.Action, strings.NewReader(strings.Replace(plain, "%s", "AAEC/w==", 1)), 0)
	require.NoError(t, err)
	gc := env.Body.Container
	require.NotNil(t, gc.Encrypted)
	assert.Nil(t, gc.ContentContainer)
	want := `<e:EncryptedData xmlns:e="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Content">` +
		"\n  <e:EncryptionMethod Algorithm=\"http://www.w3.org/2009/xmlenc11#aes256-gcm\"/>\n" +
		`  <e:CipherData><e:CipherValue>AAEC/w==</e:CipherValue></e:CipherData></e:EncryptedData>`
	assert.Equal(t, want, string(gc.Encrypted.Raw))

	root := strings.Replace(plain, "%s", `<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:cipher@client"/>`, 1)
	body := "--b\r\nContent-Type: application/xop+xml; type=\"application/soap+xml\"\r\nContent-ID: <root@client>\r\n\r\n" + root +
		"\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-ID: <cipher@client>\r\n\r\n\x00\x01\x02\xff\r\n--b--\r\n"
	env, err = xta.Read(`multipart/related; type="application/xop+xml"; boundary="b"; start="<root@client>"`, xta.OpSendMessage.Action, strings.NewReader(body), 0)
	require.NoError(t, err)
	assert.Equal(t, want, string(env.Body.Container.Encrypted.Raw), "the MTOM part is inlined as base64")

	// Written back, it validates against the XTA schemas (xenc included) and reads the same.
	v := xtatest.New(t)
	ct, out := encode(t, &xta.Message{Action: xta.OpGetMessage.Action, RelatesTo: "urn:uuid:1",
		Body: func(w *xta.Writer) { xta.WriteEncrypted(w, []byte(want)) }})
	back := v.Check(t, ct, out)
	assert.Equal(t, want, string(back.Body.Container.Encrypted.Raw))
}

// Parts are read into buffers of the size the envelope announces; a size
// that is wrong, or missing, still gives the part's real bytes.
func TestReadMTOMPartsWhateverTheDeclaredSize(t *testing.T) {
	payload := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000)
	for _, size := range []string{"", ` size="4000"`, ` size="10"`, ` size="999999"`} {
		root := strings.Replace(plainRequest, `<xta:Message contentType="text/xml">%s</xta:Message>`,
			`<xta:Message contentType="text/xml"`+size+`><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:p"/></xta:Message>`, 1)
		body := "--b\r\nContent-Type: application/xop+xml\r\nContent-ID: <r>\r\n\r\n" + root +
			"\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-ID: <p>\r\n\r\n" + string(payload) + "\r\n--b--\r\n"
		env, err := xta.Read(`multipart/related; type="application/xop+xml"; boundary="b"; start="<r>"`, "", strings.NewReader(body), 1<<20)
		require.NoError(t, err, size)
		assert.Equal(t, payload, env.Body.Container.ContentContainer.Message.Data, size)
	}
}

func TestReadInlineBase64Errors(t *testing.T) {
	for b64, want := range map[string]string{
		"AAEC/w=":      "multiple of 4",
		"AA==AAEC":     "base64",
		"AAE*":         "base64",
		"AAEC\n  /w==": "",
	} {
		_, err := xta.Read("application/soap+xml", xta.OpSendMessage.Action, strings.NewReader(strings.Replace(plainRequest, "%s", b64, 1)), 0)
		if want == "" {
			assert.NoError(t, err, b64)
			continue
		}
		assert.ErrorContains(t, err, want, b64)
	}
}

// Content given by Open is streamed when the message is written; Len
// tells the length before, and a source that is not as long as declared
// breaks the message off.
func TestEncodeStreamsContent(t *testing.T) {
	data := bytes.Repeat([]byte("stream\x00"), 100_000)
	opened := 0
	c := xta.Content{ContentType: "application/pdf", Length: int64(len(data)), Open: func() (io.ReadCloser, error) {
		opened++
		return io.NopCloser(bytes.NewReader(data)), nil
	}}
	msg := xta.Content{ContentType: "application/xml", Data: []byte("<a/>")}
	m := &xta.Message{Action: xta.OpGetMessage.Action, Body: func(w *xta.Writer) { xta.WriteContainer(w, &msg, []xta.Content{c}) }}
	enc := xta.Prepare(m, "b")
	n := enc.Len()
	assert.Equal(t, 0, opened, "Len reads no content")
	var buf bytes.Buffer
	written, err := enc.WriteTo(&buf)
	require.NoError(t, err)
	assert.Equal(t, n, written)
	assert.Equal(t, n, int64(buf.Len()))
	env, err := xta.Read(m.ContentType("b"), "", &buf, 0)
	require.NoError(t, err)
	att := env.Body.Container.ContentContainer.Attachments[0]
	assert.Equal(t, data, att.Data)
	assert.Equal(t, fmt.Sprint(len(data)), att.Size)

	c.Length++
	m.Body = func(w *xta.Writer) { xta.WriteContainer(w, &msg, []xta.Content{c}) }
	_, err = xta.Prepare(m, "b").WriteTo(io.Discard)
	assert.ErrorIs(t, err, xta.ErrLength)
}

// The client sends a Content-Length, not chunks, though it streams.
func TestClientSendsContentLength(t *testing.T) {
	var got, length int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, length = int64(len(b)), r.ContentLength
		env, _ := xta.Read(r.Header.Get("Content-Type"), "", bytes.NewReader(b), 0)
		m := &xta.Message{Action: env.Action, RelatesTo: env.Header.MessageID}
		w.Header().Set("Content-Type", m.ContentType("x"))
		_ = xta.Encode(w, m, "x")
	}))
	defer srv.Close()
	c := &xta.Client{URL: srv.URL, HTTP: srv.Client()}
	msg := xta.Content{ContentType: "application/xml", Data: []byte("<a/>")}
	_, err := c.Call(t.Context(), xta.OpSendMessage, sampleMeta().Write, func(w *xta.Writer) { xta.WriteContainer(w, &msg, nil) })
	require.NoError(t, err)
	assert.Positive(t, got)
	assert.Equal(t, got, length)
}
