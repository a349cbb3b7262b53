package xtapull_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/drehscheibe/drehscheibe/adapters/filedrop"
	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/adapters/xta/xtatest"
	"github.com/drehscheibe/drehscheibe/gateway"
	"github.com/drehscheibe/drehscheibe/gateway/audit"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/gateway/intake"
	"github.com/drehscheibe/drehscheibe/gateway/routing"
	"github.com/drehscheibe/drehscheibe/gateway/store"
	"github.com/drehscheibe/drehscheibe/gateway/xtapull"
	"github.com/drehscheibe/drehscheibe/test/gatewaytest"
	"github.com/drehscheibe/drehscheibe/test/testenv"
)

const restKey = "xtapull-test-key-0123456789"

// Parties at the remote gateway B; gateway A acts for both with its client certificate.
var (
	portal = xta.PartyIdentifier{Value: "efa:demo-portal", Type: "xoev"}
	reader = xta.PartyIdentifier{Value: "ags:07777000", Type: "xoev"}
)

// startGateway starts a gateway from yaml (with the schemas and nats dir filled in).
func startGateway(t *testing.T, yaml string) (*gateway.Gateway, *config.Config) {
	root, tmp := testenv.RepoRoot(t), t.TempDir()
	yaml = fmt.Sprintf("server: {listen: 127.0.0.1:0}\nnats: {data_dir: %q}\nschemas: {dirs: [%q]}\n",
		filepath.Join(tmp, "nats"), filepath.Join(root, "schemas", "demo")) + yaml
	cfg, err := config.Parse([]byte(yaml), nil)
	require.NoError(t, err)
	return gatewaytest.StartConfig(t, cfg, nil), cfg
}

// remote is gateway B: an XTA server over HTTPS with client certificates
// on 127.0.0.1, whose box for ags:07777000 gateway A fills and empties.
type remote struct {
	g   *gateway.Gateway
	url string
	pki *xtatest.PKI
	c   *xta.Client // with gateway A's certificate
}

func startRemote(t *testing.T) *remote { return startRemoteWith(t, "") }

// startRemoteWith starts gateway B with extra settings under xta (indented
// as members of the section).
func startRemoteWith(t *testing.T, xtaExtra string) *remote {
	pki := xtatest.NewPKI(t, t.TempDir())
	g, _ := startGateway(t, fmt.Sprintf(`
targets:
  - {name: box, type: xta-box}
routes:
  - {name: box, match: {reader: "ags:07777000"}, target: box}
xta:
  enabled: true
  listen: 127.0.0.1:0
  instance_id: gateway-b
  tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
%s
  parties:
    - {identifier: "efa:demo-portal", client: gateway-a, name: Demo-Portal}
    - {identifier: "ags:07777000", client: gateway-a, name: Musterstadt}
`, pki.CertFile, pki.KeyFile, pki.CAFile, xtaExtra))
	r := &remote{g: g, url: "https://" + g.XTAAddr() + "/xta", pki: pki}
	r.c = &xta.Client{URL: r.url, HTTP: pki.HTTPClient(t, "gateway-a")}
	return r
}

func (r *remote) box(t *testing.T) []string {
	list, err := r.c.StatusList(t.Context(), reader, 100)
	require.NoError(t, err)
	var ids []string
	for _, m := range list {
		ids = append(ids, m.MsgIdentification.MessageID)
	}
	return ids
}

func demo(t *testing.T) []byte {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "examples", "demo", "antrag-valid.xml"))
	require.NoError(t, err)
	return bytes.ReplaceAll(b, []byte("ags:09999000"), []byte("ags:07777000"))
}

// drop lists the complete deliveries in a filedrop directory.
func drop(t *testing.T, dir string) []filedrop.Manifest {
	ms, _ := filepath.Glob(filepath.Join(dir, "[^.]*", "manifest.json"))
	var out []filedrop.Manifest
	for _, p := range ms {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		var m filedrop.Manifest
		require.NoError(t, json.Unmarshal(b, &m))
		out = append(out, m)
	}
	return out
}

// submit posts msg to g's REST API with the test's key and returns the
// submission's id once it is accepted.
func submit(t *testing.T, g *gateway.Gateway, msg []byte) struct{ ID string } {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+g.Addr()+"/v1/submissions", bytes.NewReader(msg))
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("Authorization", "Bearer "+restKey)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var sub struct{ ID string }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&sub))
	res.Body.Close()
	require.Equal(t, http.StatusAccepted, res.StatusCode)
	return sub
}

// status is the status of submission id as its event log tells it.
func status(t *testing.T, g *gateway.Gateway, id string) string {
	e, err := g.Store.Get(t.Context(), id)
	require.NoError(t, err)
	evs, err := g.Store.Events(t.Context(), e)
	require.NoError(t, err)
	return store.Status(evs)
}

// A message posted to gateway A goes by xta-push into gateway B's box; A's
// pull intake fetches it from there into its own intake and filedrop. Both
// hops run over HTTPS with client certificates; the bytes arrive unchanged
// and every status ends final.
func TestPushIntoARemoteBoxAndPullItBack(t *testing.T) {
	b := startRemote(t)
	cf, kf := b.pki.Client(t, "gateway-a")
	outbox := filepath.Join(t.TempDir(), "outbox")
	a, _ := startGateway(t, fmt.Sprintf(`
senders:
  - {name: portal, api_key_sha256: %s}
targets:
  - {name: fv, type: filedrop, options: {dir: %q}}
  - name: gateway-b
    type: xta-push
    options:
      url: %s
      tls: {cert_file: %q, key_file: %q, ca_file: %q}
      instance_id: gateway-a
      report_interval: 100ms
      report_timeout: 30s
routes:
  - {name: pulled, match: {sender: xta-pull-b}, target: fv}
  - {name: to-b, match: {reader: "ags:07777000"}, target: gateway-b}
xta:
  pull:
    - name: b
      url: %s
      tls: {cert_file: %q, key_file: %q, ca_file: %q}
      reader: "ags:07777000"
      interval: 1s
`, config.HashAPIKey(restKey), outbox, b.url, cf, kf, b.pki.CAFile, b.url, cf, kf, b.pki.CAFile))

	msg := demo(t)
	sub := submit(t, a, msg)

	// A's push is delivered once B reports the message green: after A's pull closed it in B's box.
	require.Eventually(t, func() bool { return status(t, a, sub.ID) == "delivered" }, 30*time.Second, 100*time.Millisecond)
	var got []filedrop.Manifest
	require.Eventually(t, func() bool { got = drop(t, outbox); return len(got) == 1 }, 10*time.Second, 50*time.Millisecond)
	pulled, err := os.ReadFile(filepath.Join(outbox, got[0].SubmissionID, "message.xml"))
	require.NoError(t, err)
	assert.Equal(t, msg, pulled, "byte-identical after push, box and pull")
	assert.Equal(t, "xta-pull-b", got[0].Sender)
	assert.NotEqual(t, sub.ID, got[0].SubmissionID, "the pulled message is a submission of its own")

	id := "urn:de:xta:messageid:gateway-a:" + sub.ID
	rep, err := b.c.TransportReport(t.Context(), portal, id)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Status, "B reports the message green")
	var codes []string
	for _, r := range rep.Infos {
		codes = append(codes, r.Code.Code)
	}
	assert.Equal(t, []string{"received", "validated", "routed", "queued", "delivered", "fetched", "closed"}, codes)
	assert.Equal(t, "Demo-Portal", rep.MessageMetaData.Originators.Author.Identifier.Name)
	assert.Empty(t, b.box(t), "the message left B's box")
	assert.Equal(t, "delivered", status(t, a, got[0].SubmissionID))
}

// pullEnv is gateway A without polling of its own: the test drives a
// Puller over A's real intake pipeline.
func pullEnv(t *testing.T, b *remote, routes string) (*xtapull.Puller, string, *gateway.Gateway) {
	cf, kf := b.pki.Client(t, "gateway-a")
	outbox := filepath.Join(t.TempDir(), "outbox")
	yaml := fmt.Sprintf(`
targets:
  - {name: fv, type: filedrop, options: {dir: %q}}
routes:
%s
xta:
  pull:
    - {name: b, url: %s, reader: "ags:07777000", tls: {cert_file: %q, key_file: %q, ca_file: %q}}
`, outbox, routes, b.url, cf, kf, b.pki.CAFile)
	i := strings.Index(yaml, "\nxta:")
	a, cfg := startGateway(t, yaml[:i+1])
	full, err := config.Parse([]byte(fmt.Sprintf("schemas: {dirs: [%q]}\n", filepath.Join(testenv.RepoRoot(t), "schemas", "demo"))+yaml), nil)
	require.NoError(t, err)
	router, err := routing.New(cfg.Routes, cfg.Targets)
	require.NoError(t, err)
	p, err := xtapull.New(full.XTA.Pull, &intake.Pipeline{Catalog: a.Catalog, Router: router, Store: a.Store}, a.Metrics, zap.NewNop())
	require.NoError(t, err)
	return p, outbox, a
}

func (b *remote) send(t *testing.T, id string, msg []byte) {
	c := xta.Content{ContentType: "application/xml", Filename: "antrag.xml", Data: msg}
	b.sendBody(t, id, func(w *xta.Writer) { xta.WriteContainer(w, &c, nil) })
}

func (b *remote) sendBody(t *testing.T, id string, body func(w *xta.Writer)) {
	m := &xta.MessageMetaData{}
	m.Originators.Author.Identifier = portal
	m.Destinations.Reader.Identifier = reader
	m.MsgIdentification.MessageID = id
	m.Qualifier.Service = "urn:xoev-de:drehscheibe:service:bewohnerparken"
	m.Qualifier.BusinessScenario.Undefined = "Demo"
	m.Qualifier.MessageType.KeyCode = xta.KeyCode{ListURI: "urn:l", ListVersionID: "1", Code: "0100"}
	m.Qualifier.MessageType.PayloadSchema = "urn:xoev-de:drehscheibe:standard:demo:1.0"
	require.NoError(t, b.c.SendMessage(t.Context(), m, body))
	require.Eventually(t, func() bool { return len(b.box(t)) > 0 }, 10*time.Second, 50*time.Millisecond)
}

// A gateway that dies after storing a fetched message and before closing
// it fetches the message again and stores it only once. Both stores are
// audited, the second as a duplicate.
func TestPullIsIdempotentBetweenStoreAndClose(t *testing.T) {
	b := startRemote(t)
	p, outbox, _ := pullEnv(t, b, `  - {name: pulled, match: {sender: xta-pull-b}, target: fv}`)
	var auditLog testenv.LogBuffer
	p.Audit = audit.New(zapcore.AddSync(&auditLog))
	b.send(t, "crash-1", demo(t))

	xtapull.FailAfterStore(p, errors.New("killed"))
	xtapull.PollOnce(t.Context(), p)
	require.Eventually(t, func() bool { return len(drop(t, outbox)) == 1 }, 10*time.Second, 50*time.Millisecond, "stored and delivered")
	assert.Equal(t, []string{"crash-1"}, b.box(t), "not closed: still in B's box")

	xtapull.FailAfterStore(p, nil)
	xtapull.PollOnce(t.Context(), p)
	assert.Empty(t, b.box(t), "closed by the next poll")
	time.Sleep(300 * time.Millisecond)
	assert.Len(t, drop(t, outbox), 1, "stored once: the message id is the idempotency key")
	rep, err := b.c.TransportReport(t.Context(), portal, "crash-1")
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Status)

	lines := strings.Split(strings.TrimSpace(auditLog.String()), "\n")
	require.Len(t, lines, 2, auditLog.String())
	for i, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		assert.Equal(t, "submitted", m["action"])
		assert.Equal(t, "xta-pull", m["role"])
		assert.Equal(t, "b", m["principal"])
		assert.Equal(t, b.url, m["remote_addr"])
		assert.Equal(t, drop(t, outbox)[0].SubmissionID, m["submission_id"])
		assert.Equal(t, i == 1, m["duplicate"] == true, "the second store is the first one again")
	}
}

// A message the intake refuses (here: no route) stays in the remote box.
func TestPullLeavesRefusedMessagesInTheBox(t *testing.T) {
	b := startRemote(t)
	p, outbox, a := pullEnv(t, b, `  - {name: elsewhere, match: {reader: "ags:00000000"}, target: fv}`)
	b.send(t, "no-route-here", demo(t))
	xtapull.PollOnce(t.Context(), p)
	assert.Equal(t, []string{"no-route-here"}, b.box(t))
	assert.Empty(t, drop(t, outbox))
	xtapull.PollOnce(t.Context(), p)
	res, err := http.Get("http://" + a.Addr() + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	assert.Contains(t, string(body), `drehscheibe_xta_pulled_total{outcome="refused",source="b"} 1`+"\n", "refused once, then left alone for a while")
}

// Encrypted content is pulled as it sits in the remote box: unread, routed
// by its MessageMetaData, delivered as the xenc:EncryptedData element.
func TestPullEncrypted(t *testing.T) {
	b := startRemote(t)
	p, outbox, _ := pullEnv(t, b, `  - {name: pulled, match: {sender: xta-pull-b, message_type: "0100"}, target: fv}`)
	enc := []byte(`<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"><xenc:CipherData><xenc:CipherValue>AAECAw==</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>`)
	b.sendBody(t, "enc-1", func(w *xta.Writer) { xta.WriteEncrypted(w, enc) })
	xtapull.PollOnce(t.Context(), p)
	assert.Empty(t, b.box(t))
	var got []filedrop.Manifest
	require.Eventually(t, func() bool { got = drop(t, outbox); return len(got) == 1 }, 10*time.Second, 50*time.Millisecond)
	data, err := os.ReadFile(filepath.Join(outbox, got[0].SubmissionID, "message.xml"))
	require.NoError(t, err)
	assert.Equal(t, string(enc), string(data))
	assert.Equal(t, "0100", got[0].MessageType)
}
