package xtaserver_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"github.com/drehscheibe/drehscheibe/test/testenv"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	_ "github.com/drehscheibe/drehscheibe/adapters/filedrop"
	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/adapters/xta/xtatest"
	"github.com/drehscheibe/drehscheibe/gateway"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/test/gatewaytest"
)

// Parties of the test configuration.
var (
	portal   = xta.PartyIdentifier{Value: "efa:demo-portal", Type: "xoev"}
	readerA  = xta.PartyIdentifier{Value: "ags:09999000", Type: "xoev"} // delivered to a filedrop
	readerB  = xta.PartyIdentifier{Value: "ags:07777000", Type: "xoev"} // fetches from the box
	readerC  = xta.PartyIdentifier{Value: "ags:06666000", Type: "xoev"} // another box reader
	stranger = xta.PartyIdentifier{Value: "ags:00000001", Type: "xoev"}
)

// env is a running gateway with XTA over HTTPS on 127.0.0.1.
type env struct {
	t      *testing.T
	g      *gateway.Gateway
	pki    *xtatest.PKI
	v      *xtatest.Validator
	url    string
	outbox string
	demo   []byte
}

// restKey is the API key of the REST sender "portal-rest".
const restKey = "xta-test-rest-key-0123456789"

func start(t *testing.T, extra string) *env {
	return startWith(t, extra, "nats: {data_dir: %q}", "256KiB")
}

// startWith starts a gateway whose nats section is natsYAML (with %q for a data dir).
func startWith(t *testing.T, extra, natsYAML, maxContainer string) *env {
	return startOpts(t, opts{extra: extra, nats: natsYAML, maxContainer: maxContainer})
}

// opts are the parts of the test configuration a test may change: extra
// top-level YAML, the nats section, xta.max_container_bytes, and keys
// added to the server section (", key: value") and to the xta section
// (lines indented by two spaces), and parties appended to xta.parties.
type opts struct{ extra, nats, maxContainer, server, xta, parties string }

func startOpts(t *testing.T, o opts) *env {
	if o.nats == "" {
		o.nats, o.maxContainer = "nats: {data_dir: %q}", "256KiB"
	}
	extra, natsYAML, maxContainer := o.extra, o.nats, o.maxContainer
	v := xtatest.New(t)
	root := testenv.RepoRoot(t)
	tmp := t.TempDir()
	e := &env{t: t, v: v, pki: xtatest.NewPKI(t, tmp), outbox: filepath.Join(tmp, "outbox")}
	e.demo = testenv.Example(t, "antrag-valid.xml")
	yaml := fmt.Sprintf(`
server: {listen: 127.0.0.1:0`+o.server+`}
`+natsYAML+`
schemas: {dirs: [%q]}
senders:
  - {name: portal-rest, api_key_sha256: %s}
  - {name: xta-portal, api_key_sha256: %s, allow: {services: ["urn:xoev-de:drehscheibe:service:*", "urn:demo"]}}
targets:
  - {name: fv, type: filedrop, options: {dir: %q}}
  - {name: box, type: xta-box}
  - {name: later, type: external}
routes:
  - {name: a, match: {reader: "ags:09999000"}, target: fv}
  - {name: b, match: {reader: "ags:07777000"}, target: box}
  - {name: c, match: {reader: "ags:06666000"}, target: box}
  - {name: hold, match: {reader: "ags:05555000"}, target: later}
  - {name: sync-fv, match: {reader: "ags:04444000"}, target: fv, sync: true}
  - {name: sync-box, match: {reader: "ags:03333000"}, target: box, sync: true}
  - {name: sync-hold, match: {reader: "ags:02222000"}, target: later, sync: true}
xta:
  enabled: true
  listen: 127.0.0.1:0
  instance_id: drehscheibe-test
  sync_timeout: 3s
  max_container_bytes: `+maxContainer+`
`+o.xta+`  tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
  parties:
    - {identifier: "efa:demo-portal", client: portal, name: Demo-Portal, category: Onlinedienst}
    - {identifier: "ags:09999000", client: fachverfahren-a, name: Stadt Musterstadt}
    - {identifier: "ags:07777000", client: fachverfahren-b}
    - {identifier: "ags:06666000", client: fachverfahren-c}
`+o.parties+`%s`, filepath.Join(tmp, "nats"), filepath.Join(root, "schemas", "demo"), config.HashAPIKey(restKey), config.HashAPIKey("xta-portal-key-0123456789"), e.outbox,
		e.pki.CertFile, e.pki.KeyFile, e.pki.CAFile, extra)
	e.g = gatewaytest.Start(t, yaml, nil)
	e.url = "https://" + e.g.XTAAddr() + "/xta"
	return e
}

// client is an XTA client with the certificate of cn whose every response
// is checked: MTOM, schema-valid, answering the request's action.
func (e *env) client(cn string) *xta.Client {
	return &xta.Client{URL: e.url, HTTP: e.pki.HTTPClient(e.t, cn), Inspect: func(status int, ct string, body []byte) {
		e.v.Check(e.t, ct, body)
	}}
}

func (e *env) call(cn string, op xta.Operation, headers, body func(w *xta.Writer)) (*xta.Envelope, error) {
	e.t.Helper()
	env, err := e.client(cn).Call(context.Background(), op, headers, body)
	if env != nil {
		require.Equal(e.t, op.Action, env.Action, "the response carries the operation's action")
	}
	return env, err
}

// fault asserts that err is an XTA fault with code.
func fault(t *testing.T, err error, code string) *xta.ReceivedFault {
	t.Helper()
	f, ok := err.(*xta.ReceivedFault)
	require.True(t, ok, "want fault %s, got %v", code, err)
	require.Equal(t, code, f.Code, "%v", f)
	return f
}

// meta is MessageMetaData as a real client sends it for the demo message.
func meta(id string, author, reader xta.PartyIdentifier) *xta.MessageMetaData {
	m := &xta.MessageMetaData{}
	m.Originators.Author.Identifier = author
	m.Destinations.Reader.Identifier = reader
	m.MsgIdentification.MessageID = id
	m.Qualifier.Service = "urn:xoev-de:drehscheibe:service:bewohnerparken"
	m.Qualifier.BusinessScenario.Undefined = "Demo"
	m.Qualifier.MessageType.KeyCode = xta.KeyCode{ListURI: "urn:xoev-de:drehscheibe:codeliste:demo-nachrichten", ListVersionID: "1.0", Code: "0100"}
	m.Qualifier.MessageType.PayloadSchema = "urn:xoev-de:drehscheibe:standard:demo:1.0"
	return m
}

// send sends msg by sendMessage (MTOM) from the portal.
func (e *env) send(id string, reader xta.PartyIdentifier, msg []byte, atts ...xta.Content) error {
	m := meta(id, portal, reader)
	content := xta.Content{ContentType: "application/xml", Encoding: "UTF-8", Filename: "antrag.xml", ID: "antrag", Data: msg}
	_, err := e.call("portal", xta.OpSendMessage, m.Write, func(w *xta.Writer) { xta.WriteContainer(w, &content, atts) })
	return err
}

// demoFor is the demo message addressed to reader.
func (e *env) demoFor(reader string) []byte {
	return bytes.ReplaceAll(e.demo, []byte("ags:09999000"), []byte(reader))
}

// raw posts a request body as given, with the client certificate of cn.
func (e *env) raw(cn, ctype, soapAction, body string) (int, *xta.Envelope) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url, strings.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", ctype)
	if soapAction != "" {
		req.Header.Set("SOAPAction", soapAction)
	}
	res, err := e.pki.HTTPClient(e.t, cn).Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return res.StatusCode, e.v.Check(e.t, res.Header.Get("Content-Type"), b)
}

// delivered waits for submission files in the filedrop and returns the first message found.
func (e *env) delivered() []byte {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		// Complete deliveries only: the filedrop writes into .tmp- directories first.
		ms, _ := filepath.Glob(filepath.Join(e.outbox, "[^.]*", "manifest.json"))
		if len(ms) > 0 {
			b, err := os.ReadFile(filepath.Join(filepath.Dir(ms[0]), "message.xml"))
			require.NoError(e.t, err)
			return b
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatal("nothing delivered to the filedrop within 20s")
	return nil
}

// base64Lines encodes b as base64 broken into lines of 76 characters.
func base64Lines(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	out.WriteString(s)
	return out.String()
}
