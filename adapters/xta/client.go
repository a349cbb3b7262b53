package xta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/drehscheibe/drehscheibe/gateway/delivery"
)

// Client calls an XTA 2 Version 3 server: each request is MTOM with
// WS-Addressing headers, each response is read with Read.
type Client struct {
	// URL is the endpoint of the server (one URL for all three ports).
	URL string
	// HTTP sends the requests; configure its TLS client certificate.
	HTTP *http.Client
	// MaxResponse bounds the bytes read per response (0: 64 MiB).
	MaxResponse int64
	// Inspect, if set, sees every response's Content-Type and body, e.g.
	// for schema checks in tests and the conformance check.
	Inspect func(status int, ctype string, body []byte)
}

// Call sends one request and returns the response envelope. A SOAP fault
// is returned as a *ReceivedFault error together with the envelope.
//
// The request is encoded while it is sent, so content given by Open goes
// from its source to the connection; without Inspect the response is
// decoded while it arrives.
func (c *Client) Call(ctx context.Context, op Operation, headers, body func(w *Writer)) (*Envelope, error) {
	m := &Message{Action: op.Action, MessageID: "urn:uuid:" + uuid.NewString(), To: c.URL, Headers: headers, Body: body}
	boundary := "MIMEBoundary_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	enc := Prepare(m, boundary)
	pr, pw := io.Pipe()
	go func() {
		_, err := enc.WriteTo(pw)
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, pr)
	if err != nil {
		return nil, err
	}
	req.ContentLength = enc.Len()
	req.Header.Set("Content-Type", m.ContentType(boundary))
	req.Header.Set("SOAPAction", `"`+op.Action+`"`)
	res, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	limit := c.MaxResponse
	if limit <= 0 {
		limit = 64 << 20
	}
	ct := res.Header.Get("Content-Type")
	var rd io.Reader = res.Body
	if c.Inspect != nil {
		data, err := io.ReadAll(&limitReader{r: res.Body, n: limit})
		if err != nil {
			return nil, fmt.Errorf("read response: %w", err)
		}
		c.Inspect(res.StatusCode, ct, data)
		rd = bytes.NewReader(data)
	}
	wait, _ := delivery.ParseRetryAfter(res.Header.Get("Retry-After"), time.Now())
	env, err := Read(ct, "", rd, limit)
	if err != nil {
		return nil, &HTTPError{StatusCode: res.StatusCode, Err: err, RetryAfter: wait}
	}
	if f := env.Fault(); f != nil {
		f.RetryAfter = wait
		return env, f
	}
	if res.StatusCode != http.StatusOK {
		return env, &HTTPError{StatusCode: res.StatusCode, Err: errors.New("no SOAP fault"), RetryAfter: wait}
	}
	if env.Header.RelatesTo != m.MessageID {
		return env, fmt.Errorf("wsa:RelatesTo is %q, want the request's wsa:MessageID %q", env.Header.RelatesTo, m.MessageID)
	}
	return env, nil
}

// AuthorHeader writes the oscimeta:Author header of management and box requests.
func AuthorHeader(p PartyIdentifier) func(w *Writer) {
	return func(w *Writer) { (&Party{Identifier: p}).Write(w, "oscimeta:Author") }
}

// HTTPError is a response that is not a readable SOAP envelope, or an
// envelope without fault under a status other than 200.
type HTTPError struct {
	StatusCode int
	Err        error
	// RetryAfter is the wait the response's Retry-After header asked for.
	RetryAfter time.Duration
}

// Error names the status and what was wrong with the response.
func (e *HTTPError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("HTTP %d with Retry-After %s: %v", e.StatusCode, e.RetryAfter, e.Err)
	}
	return fmt.Sprintf("HTTP %d: %v", e.StatusCode, e.Err)
}

// Unwrap returns the underlying error.
func (e *HTTPError) Unwrap() error { return e.Err }

// Temporary reports whether a call that failed with err may succeed when
// tried again later: the server could not be reached or did not answer in
// time, it answered with a SOAP Receiver fault (its own problem, such as
// 9030), or with HTTP 408, 429 or 5xx. A Sender fault or another HTTP
// status means the request itself has to change.
func Temporary(err error) bool {
	var f *ReceivedFault
	if errors.As(err, &f) {
		return !strings.HasSuffix(f.SOAPCode, "Sender")
	}
	var h *HTTPError
	if errors.As(err, &h) {
		s := h.StatusCode
		return s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500
	}
	return err != nil
}

// WaitRequested is how long the server asked the client to wait before it
// calls again, or 0: the Retry-After of a 9030 fault (drehscheibe answers a
// client over its rate limit, or while busy, with one), or of an HTTP 429
// or 503 without a fault. Retry-After on other answers is ignored.
func WaitRequested(err error) time.Duration {
	var f *ReceivedFault
	if errors.As(err, &f) {
		if f.Code == Internal.Code {
			return f.RetryAfter
		}
		return 0
	}
	var h *HTTPError
	if errors.As(err, &h) && (h.StatusCode == http.StatusTooManyRequests || h.StatusCode == http.StatusServiceUnavailable) {
		return h.RetryAfter
	}
	return 0
}

// IsFault reports whether err is a received XTA fault with code (e.g. "9024").
func IsFault(err error, code string) bool {
	var f *ReceivedFault
	return errors.As(err, &f) && f.Code == code
}
