package xta_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/adaptertest"
	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/adapters/xta/xtatest"
	"github.com/drehscheibe/drehscheibe/gateway/delivery"
)

// receiver is the receiving side of the conformance suite: an XTA server
// over HTTPS with client certificates that answers createMessageId,
// sendMessage (9024 for a reused id) and getTransportReport with the
// status it is told. drehscheibe's own XTA server is the receiver of the
// end-to-end tests in gateway/xtapull; it validates messages, which the
// suite's samples are not.
type receiver struct {
	mu       sync.Mutex
	got      map[string]*sent // by lower-cased message id
	order    []string
	status   int        // reported by getTransportReport
	fault    *xta.Fault // answered to sendMessage, if set
	wait     string     // Retry-After header of the fault, if set
	created  int
	requests []string // operations in order
}

type sent struct {
	meta xta.MessageMetaData
	msg  xta.Content
	atts []xta.Content
	enc  []byte // xenc:EncryptedData instead of a ContentContainer
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	env, err := xta.Read(r.Header.Get("Content-Type"), r.Header.Get("SOAPAction"), r.Body, 0)
	if err != nil {
		rc.answer(w, "", xta.Operation{}, nil, nil, xta.NewFault(xta.InvalidParameters, "%v", err))
		return
	}
	op, _ := xta.OperationByAction(env.Action)
	rel := env.Header.MessageID
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests = append(rc.requests, op.Name)
	switch op {
	case xta.OpCreateMessageID:
		rc.created++
		id := fmt.Sprintf("urn:de:xta:messageid:receiver:%d", rc.created)
		rc.answer(w, rel, op, nil, func(w *xta.Writer) { w.Elem("wsa:MessageID", id) }, nil)
	case xta.OpSendMessage:
		m := env.Header.MessageMetaData
		key := strings.ToLower(m.MsgIdentification.MessageID)
		switch {
		case rc.fault != nil:
			rc.answer(w, rel, op, nil, nil, rc.fault)
		case rc.got[key] != nil:
			rc.answer(w, rel, op, nil, nil, xta.NewFault(xta.MessageIDTaken, "taken"))
		case env.Body.Container.Encrypted != nil:
			rc.got[key] = &sent{meta: *m, enc: env.Body.Container.Encrypted.Raw}
			rc.order = append(rc.order, key)
			rc.answer(w, rel, op, nil, nil, nil)
		default:
			cc := env.Body.Container.ContentContainer
			rc.got[key] = &sent{meta: *m, msg: cc.Message, atts: cc.Attachments}
			rc.order = append(rc.order, key)
			rc.answer(w, rel, op, nil, nil, nil)
		}
	case xta.OpGetTransportReport:
		s := rc.got[strings.ToLower(*env.Body.MessageID)]
		if s == nil {
			rc.answer(w, rel, op, nil, nil, xta.NewFault(xta.InvalidMessageIDCode, "unknown"))
			return
		}
		rep := xta.TransportReport{MessageMetaData: s.meta, ReportTime: xta.FormatTime(time.Now()), XTAServerIdentity: "receiver", Status: rc.status}
		if rc.status == 3 {
			rep.Errors = []xta.Record{{Timestamp: rep.ReportTime, Code: xta.KeyCode{ListURI: "urn:r", ListVersionID: "1", Code: "failed"}, Reason: "reader unknown"}}
		}
		rc.answer(w, rel, op, nil, rep.Write, nil)
	default:
		rc.answer(w, rel, op, nil, nil, xta.NewFault(xta.InvalidParameters, "unexpected %s", env.Action))
	}
}

func (rc *receiver) answer(w http.ResponseWriter, relatesTo string, op xta.Operation, h, b func(w *xta.Writer), f *xta.Fault) {
	m := &xta.Message{Action: op.Action, MessageID: "urn:uuid:r", RelatesTo: relatesTo, Headers: h, Body: b, Fault: f}
	if m.Action == "" {
		m.Action = "urn:fault"
	}
	var buf bytes.Buffer
	if err := xta.Encode(&buf, m, "rb"); err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", m.ContentType("rb"))
	if f != nil && rc.wait != "" {
		w.Header().Set("Retry-After", rc.wait)
	}
	switch {
	case f != nil && f.Code.Sender:
		w.WriteHeader(http.StatusBadRequest)
	case f != nil:
		w.WriteHeader(http.StatusInternalServerError)
	}
	_, _ = w.Write(buf.Bytes())
}

// Received lists what arrived, as the suite compares it.
func (rc *receiver) Received(t *testing.T) []adaptertest.ReceivedMessage {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []adaptertest.ReceivedMessage
	for _, key := range rc.order {
		s := rc.got[key]
		m := s.meta
		var attempt int
		fmt.Sscan(m.Property(xta.PropertyListURI, "attempt"), &attempt)
		r := adaptertest.ReceivedMessage{
			SubmissionID: m.Property(xta.PropertyListURI, "submission-id"), Attempt: attempt,
			MessageType: m.Qualifier.MessageType.Code, Namespace: m.Qualifier.MessageType.PayloadSchema,
			Reader: m.Destinations.Reader.ID(), Author: m.Originators.Author.ID(), Test: m.Test(), Message: s.msg.Data,
		}
		for _, a := range s.atts {
			r.Attachments = append(r.Attachments, adaptertest.ReceivedAttachment{Name: a.Filename, ContentType: a.ContentType, Content: a.Data})
		}
		out = append(out, r)
	}
	return out
}

// pushEnv is a receiver on 127.0.0.1 with TLS client certificates and a
// push adapter with a certificate of the receiver's CA.
type pushEnv struct {
	rc  *receiver
	url string
	pki *xtatest.PKI
	dir string
}

func newPushEnv(t *testing.T) *pushEnv {
	dir := t.TempDir()
	pki := xtatest.NewPKI(t, dir)
	rc := &receiver{got: map[string]*sent{}, status: 1}
	srv := httptest.NewUnstartedServer(rc)
	cert, err := tls.LoadX509KeyPair(pki.CertFile, pki.KeyFile)
	require.NoError(t, err)
	pem, err := os.ReadFile(pki.CAFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &pushEnv{rc: rc, url: srv.URL + "/xta", pki: pki, dir: dir}
}

func (e *pushEnv) adapter(t *testing.T, extra string) delivery.Adapter {
	cf, kf := e.pki.Client(t, "gateway")
	f, ok := delivery.Lookup(xta.PushType)
	require.True(t, ok, "xta-push registers itself")
	a, err := f("remote", adaptertest.DecodeYAML(fmt.Sprintf("url: %s\ntls: {cert_file: %s, key_file: %s, ca_file: %s}\nreport_interval: 10ms\n%s",
		e.url, cf, kf, e.pki.CAFile, extra)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func TestPushConformance(t *testing.T) {
	adaptertest.Run(t, adaptertest.Suite{
		// Every attempt sends under the same message id; the remote keeps one copy.
		Features: adaptertest.Features{ExactlyOnce: true},
		New: func(t *testing.T) adaptertest.Harness {
			e := newPushEnv(t)
			cf, kf := e.pki.Client(t, "gateway")
			a, err := xta.NewPush("remote", xta.PushOptions{URL: e.url, TLS: xta.ClientTLS{CertFile: cf, KeyFile: kf, CAFile: e.pki.CAFile}, ReportInterval: 10 * time.Millisecond})
			require.NoError(t, err)
			return adaptertest.Harness{Adapter: a, Received: e.rc.Received}
		},
	})
}

func TestPushMetaDataAndMTOM(t *testing.T) {
	e := newPushEnv(t)
	v := xtatest.New(t)
	a := e.adapter(t, "instance_id: gw-a")
	sample := adaptertest.SampleMessage("x")
	d := adaptertest.NewDelivery("0195f3a9-4c1d-7e20-8a3b-5c6d7e8f9a0b", sample,
		adaptertest.BytesAttachment("plan.pdf", "application/pdf", []byte("%PDF\x00\xff")))
	require.NoError(t, a.Deliver(t.Context(), d))
	s := e.rc.got["urn:de:xta:messageid:gw-a:0195f3a9-4c1d-7e20-8a3b-5c6d7e8f9a0b"]
	require.NotNil(t, s, "stable id from instance_id and submission id")
	assert.Equal(t, []string{"sendMessage", "getTransportReport"}, e.rc.requests)
	m := s.meta
	assert.Equal(t, "xoev", m.Originators.Author.Identifier.Type)
	assert.Equal(t, "bauantrag", m.Qualifier.Service)
	assert.Equal(t, "XBau", m.Qualifier.BusinessScenario.Undefined)
	assert.Equal(t, xta.MessageTypeListURI, m.Qualifier.MessageType.ListURI)
	assert.Equal(t, fmt.Sprint(len(sample)+6), m.MsgSize)
	assert.NotEmpty(t, m.DeliveryAttributes.Origin)
	assert.Equal(t, "baugenehmigung.antrag.0200.xml", s.msg.Filename)
	assert.Equal(t, "application/xml", s.msg.ContentType)
	assert.Equal(t, fmt.Sprint(len(sample)), s.msg.Size)

	// What the adapter writes is MTOM and valid against the XTA schemas.
	var buf bytes.Buffer
	msg := xta.Content{ContentType: "application/xml", Data: sample}
	require.NoError(t, xta.Encode(&buf, &xta.Message{Action: xta.OpSendMessage.Action, Headers: m.Write,
		Body: func(w *xta.Writer) { xta.WriteContainer(w, &msg, nil) }}, "b"))
	v.Check(t, (&xta.Message{Action: xta.OpSendMessage.Action}).ContentType("b"), buf.Bytes())
}

// A message that came by XTA goes on with its own id, metadata and content attributes.
func TestPushKeepsWhatCameByXTA(t *testing.T) {
	e := newPushEnv(t)
	a := e.adapter(t, "")
	d := adaptertest.NewDelivery("sub-xta", adaptertest.SampleMessage("x"), adaptertest.BytesAttachment("a.bin", "application/octet-stream", []byte("a")))
	d.XTA = []byte(`{"meta":{"delivery_attributes":{"origin":"2026-03-02T08:00:00.000Z","delivery":"2026-03-02T08:00:01.000Z","initial_fetch":"2026-03-02T08:00:02.000Z"},
		"originators":{"author":{"identifier":{"value":"efa:portal","type":"xoev","name":"Portal"}}},
		"destinations":{"reader":{"identifier":{"value":"ags:1","type":"xoev"}}},
		"msg_identification":{"message_id":"urn:de:xta:messageid:portal:42"},
		"qualifier":{"service":"urn:s","business_scenario":{"defined":{"list_uri":"urn:bs","list_version_id":"2","code":"B1"}},
		"message_type":{"list_uri":"urn:mt","list_version_id":"3","code":"M1","payload_schema":"urn:p"}}},
		"message":{"content_type":"text/xml","encoding":"ISO-8859-15","filename":"antrag.xml","id":"m1"},
		"attachments":[{"content_type":"image/png","filename":"bild.png","id":"a1"}]}`)
	require.NoError(t, a.Deliver(t.Context(), d))
	s := e.rc.got["urn:de:xta:messageid:portal:42"]
	require.NotNil(t, s, "the XTA message id travels on")
	assert.Equal(t, "Portal", s.meta.Originators.Author.Identifier.Name)
	assert.Equal(t, "B1", s.meta.Qualifier.BusinessScenario.Defined.Code)
	assert.Equal(t, "urn:mt", s.meta.Qualifier.MessageType.ListURI)
	assert.Equal(t, "2026-03-02T08:00:00.000Z", s.meta.DeliveryAttributes.Origin)
	assert.Empty(t, s.meta.DeliveryAttributes.InitialFetch, "the previous hop's delivery times stay behind")
	assert.Equal(t, "ISO-8859-15", s.msg.Encoding)
	assert.Equal(t, "bild.png", s.atts[0].Filename)
	assert.Equal(t, "image/png", s.atts[0].ContentType)
	assert.Equal(t, "sub-xta", s.meta.Property(xta.PropertyListURI, "submission-id"))
}

// Encrypted content goes on as the xenc:EncryptedData it came as.
func TestPushEncrypted(t *testing.T) {
	e := newPushEnv(t)
	enc := []byte(`<e:EncryptedData xmlns:e="http://www.w3.org/2001/04/xmlenc#"><e:CipherData><e:CipherValue>AAEC</e:CipherValue></e:CipherData></e:EncryptedData>`)
	d := adaptertest.NewDelivery("sub-enc", enc)
	d.XTA = []byte(`{"meta":{"originators":{"author":{"identifier":{"value":"efa:portal","type":"xoev"}}},
		"destinations":{"reader":{"identifier":{"value":"ags:1","type":"xoev"}}},"msg_identification":{"message_id":"enc-42"},
		"qualifier":{"service":"urn:s","business_scenario":{"undefined":"x"},"message_type":{"list_uri":"urn:mt","list_version_id":"1","code":"M1","payload_schema":"urn:p"}}},
		"message":{"content_type":""},"encrypted":true}`)
	require.NoError(t, e.adapter(t, "").Deliver(t.Context(), d))
	s := e.rc.got["enc-42"]
	require.NotNil(t, s)
	assert.Equal(t, string(enc), string(s.enc))
}

func TestPushOutcomes(t *testing.T) {
	d := func(id string) *delivery.Delivery { return adaptertest.NewDelivery(id, adaptertest.SampleMessage("x")) }
	t.Run("remote refuses the message: permanent", func(t *testing.T) {
		e := newPushEnv(t)
		e.rc.fault = xta.NewFault(xta.SchemaViolation, "not valid")
		err := e.adapter(t, "").Deliver(t.Context(), d("s1"))
		require.Error(t, err)
		assert.True(t, delivery.IsPermanent(err), "%v", err)
		assert.Contains(t, err.Error(), "9050")
	})
	t.Run("remote has a technical problem: transient", func(t *testing.T) {
		e := newPushEnv(t)
		e.rc.fault = xta.NewFault(xta.Internal, "jetstream down")
		err := e.adapter(t, "").Deliver(t.Context(), d("s2"))
		require.Error(t, err)
		assert.False(t, delivery.IsPermanent(err), "%v", err)
	})
	t.Run("remote rate-limits (9030 with Retry-After): transient, asking for the wait", func(t *testing.T) {
		e := newPushEnv(t)
		e.rc.fault, e.rc.wait = xta.NewFault(xta.Internal, "rate limit"), "3"
		err := e.adapter(t, "").Deliver(t.Context(), d("s2a"))
		require.Error(t, err)
		assert.False(t, delivery.IsPermanent(err), "%v", err)
		wait, ok := delivery.RetryAfterOf(err)
		assert.True(t, ok, "%v", err)
		assert.Equal(t, 3*time.Second, wait)
		assert.Contains(t, err.Error(), "Retry-After 3s")
	})
	t.Run("Retry-After on a permanent fault asks for nothing", func(t *testing.T) {
		e := newPushEnv(t)
		e.rc.fault, e.rc.wait = xta.NewFault(xta.SchemaViolation, "not valid"), "3"
		err := e.adapter(t, "").Deliver(t.Context(), d("s2b"))
		assert.True(t, delivery.IsPermanent(err), "%v", err)
		_, ok := delivery.RetryAfterOf(err)
		assert.False(t, ok)
	})
	t.Run("remote reports red: permanent", func(t *testing.T) {
		e := newPushEnv(t)
		e.rc.status = 3
		err := e.adapter(t, "").Deliver(t.Context(), d("s3"))
		require.Error(t, err)
		assert.True(t, delivery.IsPermanent(err))
		assert.Contains(t, err.Error(), "reader unknown")
	})
	t.Run("remote reports open until the report timeout: transient, then resent under the same id", func(t *testing.T) {
		e := newPushEnv(t)
		e.rc.status = 0
		a := e.adapter(t, "report_timeout: 50ms")
		err := a.Deliver(t.Context(), d("s4"))
		require.Error(t, err)
		assert.False(t, delivery.IsPermanent(err))
		assert.Contains(t, err.Error(), "open (0)")
		e.rc.status = 1
		require.NoError(t, a.Deliver(t.Context(), d("s4")))
		assert.Len(t, e.rc.got, 1)
		assert.Equal(t, 1, count(e.rc.requests, "sendMessage"), "the retry asked for the report only: %v", e.rc.requests)
		assert.Equal(t, "getTransportReport", e.rc.requests[len(e.rc.requests)-1])
	})
	t.Run("another process retries: the remote has the id (9024), the report follows", func(t *testing.T) {
		e := newPushEnv(t)
		e.rc.status = 0
		require.Error(t, e.adapter(t, "report_timeout: 50ms").Deliver(t.Context(), d("s4a")))
		e.rc.status = 1
		require.NoError(t, e.adapter(t, "").Deliver(t.Context(), d("s4a")), "a fresh adapter (a restart) sends again")
		assert.Len(t, e.rc.got, 1, "the remote keeps one copy")
		assert.Equal(t, 2, count(e.rc.requests, "sendMessage"))
	})
	t.Run("the remote lost the message it accepted (9070): the retry sends it again", func(t *testing.T) {
		e := newPushEnv(t)
		e.rc.status = 0
		a := e.adapter(t, "report_timeout: 50ms")
		require.Error(t, a.Deliver(t.Context(), d("s4b")))
		e.rc.mu.Lock()
		e.rc.got, e.rc.status = map[string]*sent{}, 1
		e.rc.mu.Unlock()
		require.NoError(t, a.Deliver(t.Context(), d("s4b")))
		assert.Len(t, e.rc.got, 1, "it arrived again")
		assert.Equal(t, 2, count(e.rc.requests, "sendMessage"))
	})
	t.Run("accept_open", func(t *testing.T) {
		e := newPushEnv(t)
		e.rc.status = 0
		require.NoError(t, e.adapter(t, "report_timeout: 20ms\naccept_open: true").Deliver(t.Context(), d("s5")))
	})
	t.Run("message_id create asks the remote once per submission", func(t *testing.T) {
		e := newPushEnv(t)
		e.rc.status = 0
		a := e.adapter(t, "message_id: create\nreport_timeout: 20ms")
		require.Error(t, a.Deliver(t.Context(), d("s6")))
		e.rc.status = 1
		require.NoError(t, a.Deliver(t.Context(), d("s6")))
		assert.Equal(t, 1, e.rc.created)
		assert.NotNil(t, e.rc.got["urn:de:xta:messageid:receiver:1"])
		assert.Equal(t, "createMessageId", e.rc.requests[0])
		assert.NotContains(t, e.rc.requests[1:], "createMessageId", "the retry reuses the created id")
	})
	t.Run("unreachable: transient", func(t *testing.T) {
		e := newPushEnv(t)
		cf, kf := e.pki.Client(t, "gateway")
		a, err := xta.NewPush("x", xta.PushOptions{URL: "https://127.0.0.1:1/xta", TLS: xta.ClientTLS{CertFile: cf, KeyFile: kf}})
		require.NoError(t, err)
		err = a.Deliver(t.Context(), d("s7"))
		require.Error(t, err)
		assert.False(t, delivery.IsPermanent(err))
	})
	t.Run("no author: permanent", func(t *testing.T) {
		e := newPushEnv(t)
		x := d("s8")
		x.Author = ""
		err := e.adapter(t, "").Deliver(t.Context(), x)
		assert.True(t, delivery.IsPermanent(err), "%v", err)
	})
}

func TestPushNeedsItsClientCertificate(t *testing.T) {
	e := newPushEnv(t)
	a, err := xta.NewPush("x", xta.PushOptions{URL: strings.Replace(e.url, "https", "http", 1)})
	require.NoError(t, err, "http to loopback needs no certificate")
	err = a.Deliver(t.Context(), adaptertest.NewDelivery("s", adaptertest.SampleMessage("x")))
	require.Error(t, err, "but the receiver speaks TLS with client certificates only")
	assert.Empty(t, e.rc.got)
}

func TestPushOptions(t *testing.T) {
	f, _ := delivery.Lookup(xta.PushType)
	for yaml, want := range map[string]string{
		"":                                            "url: required",
		"url: http://xta.example.de/":                 "url: http to xta.example.de",
		"url: https://xta.example.de/":                "tls.cert_file: required",
		"url: https://u:p@xta.example.de/":            "url: must not contain credentials",
		"url: http://127.0.0.1/\nmessage_id: x":       `message_id: "x"`,
		"url: http://127.0.0.1/\ninstance_id: a:b":    "instance_id",
		"url: http://127.0.0.1/\nreport_timeout: -1s": "report_timeout",
		"url: http://127.0.0.1/\nunknown: 1":          "unknown",
	} {
		_, err := f("t", adaptertest.DecodeYAML(yaml))
		require.Error(t, err, yaml)
		assert.Contains(t, err.Error(), want, yaml)
	}
	_, err := f("t", adaptertest.DecodeYAML("url: http://localhost:8443/xta"))
	assert.NoError(t, err)
}

// count is how often op occurs in ops.
func count(ops []string, op string) int {
	n := 0
	for _, o := range ops {
		if o == op {
			n++
		}
	}
	return n
}
