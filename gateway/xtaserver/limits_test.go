package xtaserver_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
)

// post sends an empty POST with the certificate of cn and returns status,
// Retry-After and body; every XTA answer, a refusal included, is a SOAP fault.
func (e *env) post(cn string) (int, string, string) {
	e.t.Helper()
	res, err := e.pki.HTTPClient(e.t, cn).Post(e.url, "application/soap+xml", nil)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return res.StatusCode, res.Header.Get("Retry-After"), string(b)
}

// metrics returns the gateway's /metrics page.
func (e *env) metrics() string {
	e.t.Helper()
	res, err := http.Get("http://" + e.g.Addr() + "/metrics")
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return string(b)
}

// A client over its rate limit gets fault 9030 with Retry-After before its
// request is read; the bucket is the client's, so another client goes on,
// and a party's own rate_limit replaces xta.rate_limit for its client.
func TestRateLimitPerClient(t *testing.T) {
	e := startOpts(t, opts{xta: "  rate_limit: {per_second: 1, burst: 2}\n"})
	check := func(cn string, p xta.PartyIdentifier) error {
		_, err := e.call(cn, xta.OpCheckAccountActive, xta.AuthorHeader(p), nil)
		return err
	}
	require.NoError(t, check("portal", portal))
	require.NoError(t, check("portal", portal))
	f := fault(t, check("portal", portal), xta.Internal.Code)
	assert.Equal(t, string(xta.TechnicalProblem), f.Exception)
	assert.Contains(t, f.SOAPCode, "Receiver", "a fault the client retries")
	assert.Contains(t, f.Reason, `the client "portal" exceeded its limit of 1 requests per second (burst 2`)
	status, retry, body := e.post("portal")
	assert.Equal(t, http.StatusInternalServerError, status, "a SOAP Receiver fault, as the SOAP 1.2 HTTP binding carries it")
	assert.Equal(t, "1", retry)
	assert.Contains(t, body, "<code>9030</code>")

	require.NoError(t, check("fachverfahren-b", readerB), "another client has a bucket of its own")
	require.Eventually(t, func() bool { return check("portal", portal) == nil }, 5*time.Second, 200*time.Millisecond,
		"the bucket refills")

	m := e.metrics()
	assert.Regexp(t, `drehscheibe_xta_requests_total\{operation="checkAccountActive",outcome="rate-limited"\} [1-9]`, m)
	assert.Contains(t, m, `drehscheibe_xta_requests_total{operation="unknown",outcome="rate-limited"} 1`+"\n", "the empty POST names no operation")
	assert.Regexp(t, `drehscheibe_xta_requests_total\{operation="checkAccountActive",outcome="ok"\} [4-9]`, m)
}

func TestPartyRateLimitOverride(t *testing.T) {
	e := startOpts(t, opts{xta: "  rate_limit: {per_second: 1, burst: 1}\n",
		parties: `    - {identifier: "ags:05555000", client: fachverfahren-d, rate_limit: {per_second: 100, burst: 20}}` + "\n"})
	readerD := xta.PartyIdentifier{Value: "ags:05555000", Type: "xoev"}
	_, err := e.call("fachverfahren-c", xta.OpCheckAccountActive, xta.AuthorHeader(readerC), nil)
	require.NoError(t, err)
	_, err = e.call("fachverfahren-c", xta.OpCheckAccountActive, xta.AuthorHeader(readerC), nil)
	fault(t, err, xta.Internal.Code)
	for i := range 10 {
		_, err := e.call("fachverfahren-d", xta.OpCheckAccountActive, xta.AuthorHeader(readerD), nil)
		require.NoError(t, err, "call %d within the party's own limit", i+1)
	}
}

// Requests in flight beyond server.max_in_flight get fault 9030 with
// Retry-After, without their body being read; once the request in flight
// is gone, calls are answered again.
func TestInFlightBound(t *testing.T) {
	e := startOpts(t, opts{server: ", max_in_flight: 1"})
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, e.url, pr)
	require.NoError(t, err)
	req.ContentLength = 1 << 20
	req.Header.Set("Content-Type", "application/soap+xml")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if res, err := e.pki.HTTPClient(t, "portal").Do(req); err == nil {
			_ = res.Body.Close()
		}
	}()
	_, err = pw.Write([]byte(strings.Repeat(" ", 1000)))
	require.NoError(t, err, "the slow request is being read")
	// Until its handler has taken the slot, an empty POST is answered 400.
	require.Eventually(t, func() bool {
		status, retry, _ := e.post("fachverfahren-b")
		return status == http.StatusInternalServerError && retry == "2"
	}, 5*time.Second, 20*time.Millisecond, "refused with Retry-After while the slow request holds the slot")

	_, err = e.call("fachverfahren-b", xta.OpCheckAccountActive, xta.AuthorHeader(readerB), nil)
	f := fault(t, err, xta.Internal.Code)
	assert.Contains(t, f.Reason, "server.max_in_flight 1")

	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-done
	require.Eventually(t, func() bool {
		_, err := e.call("fachverfahren-b", xta.OpCheckAccountActive, xta.AuthorHeader(readerB), nil)
		return err == nil
	}, 5*time.Second, 50*time.Millisecond, "the slot is free again")
	assert.Regexp(t, `drehscheibe_xta_requests_total\{operation="checkAccountActive",outcome="busy"\} [1-9]`, e.metrics(),
		"counted as busy, not as a plain 9030")
}
