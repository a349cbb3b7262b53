package xtaserver_test

import (
	"bytes"
	"fmt"
	"github.com/drehscheibe/drehscheibe/test/testenv"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/adapters/xta/xtatest"
	"github.com/drehscheibe/drehscheibe/test/gatewaytest"
)

// headerTransport sets the client identity header, as a TLS-terminating
// proxy does after it verified the client certificate.
type headerTransport struct {
	name, value string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if h.value != "" {
		r.Header.Set(h.name, h.value)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// Behind a TLS-terminating proxy the XTA listener speaks plain HTTP and
// takes the client identity from the configured header, and only from it.
func TestPlainHTTPBehindAProxy(t *testing.T) {
	v := xtatest.New(t)
	root, tmp := testenv.RepoRoot(t), t.TempDir()
	g := gatewaytest.Start(t, fmt.Sprintf(`
server: {listen: 127.0.0.1:0}
nats: {data_dir: %q}
schemas: {dirs: [%q]}
targets: [{name: box, type: xta-box}]
routes: [{name: box, match: {reader: "ags:07777000"}, target: box}]
xta:
  enabled: true
  listen: 127.0.0.1:0
  allow_plain_http: true
  client_header: X-Verified-Client
  parties:
    - {identifier: "efa:demo-portal", client: portal}
    - {identifier: "ags:07777000", client: fachverfahren-b}
`, filepath.Join(tmp, "nats"), filepath.Join(root, "schemas", "demo")), nil)
	url := "http://" + g.XTAAddr() + "/xta"
	as := func(header, identity string) *xta.Client {
		return &xta.Client{URL: url, HTTP: &http.Client{Transport: headerTransport{header, identity}},
			Inspect: func(_ int, ct string, body []byte) { v.Check(t, ct, body) }}
	}
	ctx := t.Context()

	_, err := as("X-Verified-Client", "portal").Call(ctx, xta.OpCheckAccountActive, xta.AuthorHeader(portal), nil)
	require.NoError(t, err, "the identity comes from the configured header")
	_, err = as("X-Verified-Client", "fachverfahren-b").Call(ctx, xta.OpCheckAccountActive, xta.AuthorHeader(portal), nil)
	fault(t, err, "9014")
	_, err = as("X-Verified-Client", "").Call(ctx, xta.OpCheckAccountActive, xta.AuthorHeader(portal), nil)
	f := fault(t, err, "9012")
	assert.Contains(t, f.Reason, "no client identity")
	_, err = as("X-Client-Identity", "portal").Call(ctx, xta.OpCheckAccountActive, xta.AuthorHeader(portal), nil)
	fault(t, err, "9012")

	// The whole way works: send as the portal, fetch and close as the reader.
	demo := testenv.Example(t, "antrag-valid.xml")
	msg := bytes.ReplaceAll(demo, []byte("ags:09999000"), []byte("ags:07777000"))
	m := meta("plain-1", portal, readerB)
	c := xta.Content{ContentType: "application/xml", Data: msg}
	require.NoError(t, as("X-Verified-Client", "portal").SendMessage(ctx, m, func(w *xta.Writer) { xta.WriteContainer(w, &c, nil) }))
	b := as("X-Verified-Client", "fachverfahren-b")
	var env *xta.Envelope
	require.Eventually(t, func() bool {
		env, err = b.Fetch(ctx, readerB, "plain-1")
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "%v", err)
	assert.Equal(t, msg, env.Body.Container.ContentContainer.Message.Data)
	require.NoError(t, b.Close(ctx, readerB, "1", "plain-1"))
}

// On a TLS listener the header means nothing: only the certificate counts.
func TestClientHeaderIgnoredOverTLS(t *testing.T) {
	e := start(t, "")
	req, err := http.NewRequest(http.MethodPost, e.url, nil)
	require.NoError(t, err)
	var buf bytes.Buffer
	m := &xta.Message{Action: xta.OpCheckAccountActive.Action, MessageID: "urn:uuid:h", Headers: xta.AuthorHeader(portal)}
	require.NoError(t, xta.Encode(&buf, m, "b"))
	req.Body = io.NopCloser(&buf)
	req.Header.Set("Content-Type", m.ContentType("b"))
	req.Header.Set("X-Client-Identity", "portal")
	res, err := e.pki.HTTPClient(t, "unknown-client").Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	env := e.v.Check(t, res.Header.Get("Content-Type"), body)
	require.NotNil(t, env.Fault())
	assert.Equal(t, "9014", env.Fault().Code, "the certificate, not the header, names the client")
}
