package xtaserver_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReloadTLS renews the XTA listener's certificate files and reloads
// them as SIGHUP does: a new handshake gets the new certificate, a
// keep-alive connection opened before goes on with the old one, and the
// listener still speaks only TLS 1.2 or newer and refuses clients without a
// certificate.
func TestReloadTLS(t *testing.T) {
	e := start(t, "")
	// serial sends one request on c and returns the serial of the server
	// certificate it saw and whether the connection was reused.
	serial := func(c *http.Client) (int64, bool) {
		t.Helper()
		var reused bool
		req, err := http.NewRequest(http.MethodGet, e.url, nil)
		require.NoError(t, err)
		req = req.WithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
		}))
		res, err := c.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		return res.TLS.PeerCertificates[0].SerialNumber.Int64(), reused
	}
	old := e.pki.HTTPClient(t, "fachverfahren-b")
	first, _ := serial(old)

	renewed := e.pki.RenewServer(t)
	require.NotEqual(t, first, renewed)
	require.NoError(t, e.g.ReloadTLS())

	got, _ := serial(e.pki.HTTPClient(t, "fachverfahren-b"))
	assert.Equal(t, renewed, got, "a new handshake gets the renewed certificate")
	got, reused := serial(old)
	assert.True(t, reused, "the keep-alive connection survives the reload")
	assert.Equal(t, first, got, "and keeps its certificate")

	// The reloaded configuration keeps the listener's rules.
	_, err := e.pki.HTTPClient(t, "").Get(e.url)
	require.Error(t, err, "a client without a certificate is refused in the handshake")
	c := e.pki.HTTPClient(t, "fachverfahren-b")
	c.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tls.VersionTLS11
	c.Transport.(*http.Transport).TLSClientConfig.MinVersion = tls.VersionTLS10
	_, err = c.Get(e.url)
	require.Error(t, err, "TLS 1.1 is refused")
	assert.True(t, strings.Contains(err.Error(), "protocol version") || strings.Contains(err.Error(), "tls"), "%v", err)
}
