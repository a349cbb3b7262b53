package webhook_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drehscheibe/drehscheibe/adapters/adaptertest"
	"github.com/drehscheibe/drehscheibe/adapters/webhook"
	"github.com/drehscheibe/drehscheibe/gateway/delivery"
)

const (
	secretEnv = "DREHSCHEIBE_TEST_WEBHOOK_SECRET"
	secret    = "4f1c0d2b9e8a7c6b5a4938271605f4e3d2c1b0a9"
)

func TestMain(m *testing.M) {
	// Set once for the process: the conformance cases run in parallel,
	// where t.Setenv is not allowed.
	os.Setenv(secretEnv, secret)
	os.Exit(m.Run())
}

// receiver is a Fachverfahren endpoint that accepts only requests whose
// signature webhook.Verify accepts, and records what it took.
type receiver struct {
	mu       sync.Mutex
	got      []adaptertest.ReceivedMessage
	rejected []string
	requests []*http.Request
	// status, if set, is answered instead of 204 after recording nothing.
	status atomic.Int32
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the sender gave up mid-request: nothing was received
	}
	if s := rc.status.Load(); s != 0 {
		w.WriteHeader(int(s))
		return
	}
	if err := webhook.Verify([]byte(secret), r.Header.Get(webhook.HeaderTimestamp), body, r.Header.Get(webhook.HeaderSignature), time.Minute); err != nil {
		rc.reject(fmt.Sprintf("signature: %v", err))
		http.Error(w, "signature rejected", http.StatusUnauthorized)
		return
	}
	m, err := parseRequest(r.Header, body)
	if err != nil {
		rc.reject(err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, m)
	rc.requests = append(rc.requests, r.Clone(context.Background()))
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) reject(why string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.rejected = append(rc.rejected, why)
}

func (rc *receiver) Received(t *testing.T) []adaptertest.ReceivedMessage {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, why := range rc.rejected {
		t.Errorf("receiver rejected a request: %s", why)
	}
	return append([]adaptertest.ReceivedMessage(nil), rc.got...)
}

func parseRequest(h http.Header, body []byte) (adaptertest.ReceivedMessage, error) {
	attempt, _ := strconv.Atoi(h.Get(webhook.HeaderAttempt))
	m := adaptertest.ReceivedMessage{
		SubmissionID: h.Get(webhook.HeaderSubmissionID),
		MessageType:  h.Get(webhook.HeaderMessageType),
		Namespace:    h.Get(webhook.HeaderNamespace),
		Reader:       h.Get(webhook.HeaderReader),
		Author:       h.Get(webhook.HeaderAuthor),
		Test:         h.Get(webhook.HeaderTest) == "true",
		Attempt:      attempt,
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return m, err
	}
	switch mt {
	case "application/xml":
		m.Message = body
		return m, nil
	case "multipart/mixed":
	default:
		return m, fmt.Errorf("unexpected content type %q", mt)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for i := 0; ; i++ {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, err
		}
		content, err := io.ReadAll(p)
		if err != nil {
			return m, err
		}
		if i == 0 {
			if ct := p.Header.Get("Content-Type"); ct != "application/xml" {
				return m, fmt.Errorf("first part has content type %q, want application/xml", ct)
			}
			m.Message = content
			continue
		}
		_, dp, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		if err != nil {
			return m, fmt.Errorf("part %d: %w", i, err)
		}
		m.Attachments = append(m.Attachments, adaptertest.ReceivedAttachment{
			Name: dp["filename"], ContentType: p.Header.Get("Content-Type"), Content: content,
		})
	}
	if m.Message == nil {
		return m, errors.New("multipart body without parts")
	}
	return m, nil
}

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	t.Helper()
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func newAdapter(t *testing.T, o webhook.Options) *webhook.Adapter {
	t.Helper()
	if o.SecretEnv == "" {
		o.SecretEnv = secretEnv
	}
	a, err := webhook.New("hook", o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestConformance(t *testing.T) {
	adaptertest.Run(t, adaptertest.Suite{
		Features: adaptertest.Features{ExactlyOnce: false},
		New: func(t *testing.T) adaptertest.Harness {
			rc, srv := newReceiver(t)
			a, err := webhook.New("conformance", webhook.Options{URL: srv.URL + "/inbox", SecretEnv: secretEnv})
			if err != nil {
				t.Fatal(err)
			}
			return adaptertest.Harness{Adapter: a, Received: rc.Received}
		},
	})
}

func TestRequestHeaders(t *testing.T) {
	rc, srv := newReceiver(t)
	a := newAdapter(t, webhook.Options{URL: srv.URL, Headers: map[string]string{"x-api-key": "k1", "User-Agent": "custom"}})
	d := adaptertest.NewDelivery("sub-h", []byte("<a/>"))
	d.Attempt, d.Test = 4, true
	d.Reader = " psw:09162000\n"
	before := time.Now().Unix()
	if err := a.Deliver(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	r := rc.requests[0]
	ts, _ := strconv.ParseInt(r.Header.Get(webhook.HeaderTimestamp), 10, 64)
	if ts < before || ts > time.Now().Unix() {
		t.Errorf("timestamp %d not within the delivery", ts)
	}
	for k, want := range map[string]string{
		"Content-Type":                 "application/xml",
		"X-Api-Key":                    "k1",
		"User-Agent":                   "custom",
		"Drehscheibe-Submission-Id":    "sub-h",
		"Drehscheibe-Message-Type":     d.MessageType,
		"Drehscheibe-Namespace":        d.Namespace,
		"Drehscheibe-Reader":           "psw:09162000",
		"Drehscheibe-Author":           d.Author,
		"Drehscheibe-Test":             "true",
		"Drehscheibe-Attempt":          "4",
		"Drehscheibe-Standard":         "XBau",
		"Drehscheibe-Standard-Version": "2.6",
		"Drehscheibe-Nachrichten-Uuid": d.NachrichtenUUID,
		"Content-Length":               "",
	} {
		if k == "Content-Length" {
			if r.ContentLength != 4 {
				t.Errorf("content length = %d, want 4", r.ContentLength)
			}
			continue
		}
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if sig := r.Header.Get(webhook.HeaderSignature); sig != webhook.Sign([]byte(secret), ts, []byte("<a/>")) {
		t.Errorf("signature %q is not Sign(secret, timestamp, body)", sig)
	}
}

func TestMultipartBody(t *testing.T) {
	var raw []byte
	var header http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ = io.ReadAll(r.Body)
		header = r.Header.Clone()
	}))
	defer srv.Close()
	a := newAdapter(t, webhook.Options{URL: srv.URL})
	d := adaptertest.NewDelivery("sub-mp", []byte("<a/>"),
		adaptertest.BytesAttachment("Übersicht \"final\".pdf", "application/pdf", []byte("%PDF")),
		adaptertest.BytesAttachment("plain.txt", "", []byte("x")))
	if err := a.Deliver(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	mt, params, _ := mime.ParseMediaType(header.Get("Content-Type"))
	if mt != "multipart/mixed" || params["boundary"] == "" {
		t.Fatalf("content type %q, want multipart/mixed with a boundary", header.Get("Content-Type"))
	}
	b := params["boundary"]
	for _, want := range []string{
		"--" + b + "\r\nContent-Disposition: inline; filename=\"message.xml\"\r\nContent-Type: application/xml\r\n\r\n<a/>\r\n",
		"Content-Disposition: attachment; filename=\"_bersicht _final_.pdf\"; filename*=UTF-8''%C3%9Cbersicht%20%22final%22.pdf\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n",
		"Content-Disposition: attachment; filename=\"plain.txt\"\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n--" + b + "--",
	} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("body lacks %q:\n%s", want, raw)
		}
	}
}

func TestStatusClassification(t *testing.T) {
	rc, srv := newReceiver(t)
	a := newAdapter(t, webhook.Options{URL: srv.URL})
	for status, want := range map[int]string{
		200: "ok", 201: "ok", 202: "ok", 204: "ok",
		408: "transient", 429: "transient", 500: "transient", 502: "transient", 503: "transient", 504: "transient",
		301: "permanent", 302: "permanent", 307: "permanent",
		400: "permanent", 401: "permanent", 403: "permanent", 404: "permanent", 409: "permanent", 410: "permanent", 413: "permanent", 422: "permanent",
	} {
		rc.status.Store(int32(status))
		err := a.Deliver(t.Context(), adaptertest.NewDelivery("sub-status", []byte("<a/>")))
		var got string
		var se *webhook.StatusError
		switch {
		case err == nil:
			got = "ok"
		case !errors.As(err, &se) || se.StatusCode != status:
			t.Errorf("%d: error %v carries no StatusError with the status", status, err)
			continue
		case delivery.IsPermanent(err):
			got = "permanent"
		default:
			got = "transient"
		}
		if got != want {
			t.Errorf("status %d: %s (%v), want %s", status, got, err, want)
		}
	}
}

// A 429 or 503 with Retry-After, in seconds or as an HTTP date, asks the
// gateway for that wait; other statuses and unreadable values ask for none.
func TestRetryAfterIsPassedOn(t *testing.T) {
	for _, c := range []struct {
		status int
		header string
		want   time.Duration
	}{
		{503, "2", 2 * time.Second},
		{429, "120", 2 * time.Minute},
		{503, time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat), 89 * time.Second},
		{503, "", 0},
		{429, "later", 0},
		{500, "2", 0},
		{502, "2", 0},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c.header != "" {
				w.Header().Set("Retry-After", c.header)
			}
			w.WriteHeader(c.status)
		}))
		a := newAdapter(t, webhook.Options{URL: srv.URL})
		err := a.Deliver(t.Context(), adaptertest.NewDelivery("sub-retry-after", []byte("<a/>")))
		srv.Close()
		if err == nil || delivery.IsPermanent(err) {
			t.Errorf("%d %q: %v, want a transient error", c.status, c.header, err)
			continue
		}
		got, ok := delivery.RetryAfterOf(err)
		// An HTTP date has whole seconds: allow the second it was cut to.
		if ok != (c.want > 0) || got < c.want || got > c.want+time.Second {
			t.Errorf("%d %q: Retry-After %v (%v), want %v", c.status, c.header, got, ok, c.want)
		}
		if c.want > 0 && !strings.Contains(err.Error(), "with Retry-After") {
			t.Errorf("%d %q: the error does not say the receiver asked for a wait: %v", c.status, c.header, err)
		}
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer target.Close()
	srv := httptest.NewServer(http.RedirectHandler(target.URL+"/new?token=x", http.StatusTemporaryRedirect))
	defer srv.Close()
	a := newAdapter(t, webhook.Options{URL: srv.URL})
	err := a.Deliver(t.Context(), adaptertest.NewDelivery("sub-r", []byte("<a/>")))
	if !delivery.IsPermanent(err) || !strings.Contains(err.Error(), target.URL+"/new") || strings.Contains(err.Error(), "token") {
		t.Fatalf("Deliver = %v, want a permanent error naming the redirect target without its query", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

func TestTimeoutIsTransient(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	a := newAdapter(t, webhook.Options{URL: srv.URL, Timeout: webhook.Duration(150 * time.Millisecond)})
	start := time.Now()
	err := a.Deliver(t.Context(), adaptertest.NewDelivery("sub-t", []byte("<a/>")))
	if err == nil || delivery.IsPermanent(err) {
		t.Fatalf("Deliver to a hanging receiver = %v, want a transient error", err)
	}
	if !strings.Contains(err.Error(), "timeout of 150ms") {
		t.Errorf("error %q does not say it timed out", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Deliver took %s despite a 150ms timeout", d)
	}
}

func TestConnectionRefusedIsTransient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	a := newAdapter(t, webhook.Options{URL: "http://" + addr + "/"})
	err = a.Deliver(t.Context(), adaptertest.NewDelivery("sub-c", []byte("<a/>")))
	if err == nil || delivery.IsPermanent(err) {
		t.Fatalf("Deliver to a closed port = %v, want a transient error", err)
	}
}

func TestContextCancelWhileReceiverIsSlow(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	defer srv.Close()
	defer close(release)
	a := newAdapter(t, webhook.Options{URL: srv.URL})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- a.Deliver(ctx, adaptertest.NewDelivery("sub-x", []byte("<a/>"))) }()
	<-entered
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || delivery.IsPermanent(err) {
			t.Fatalf("Deliver = %v, want a transient context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Deliver ignored the cancelled context")
	}
}

// TestCancelWhileStreamingBody cancels the context while the request body is
// on the wire: the receiver must see an incomplete request, never a message.
func TestCancelWhileStreamingBody(t *testing.T) {
	rc, srv := newReceiver(t)
	a := newAdapter(t, webhook.Options{URL: srv.URL})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	content := bytes.Repeat([]byte("x"), 1<<20)
	streaming := make(chan struct{})
	var opens atomic.Int32
	att := delivery.Attachment{Name: "a.bin", Size: int64(len(content)), Open: func(context.Context) (io.ReadCloser, error) {
		if opens.Add(1) == 1 {
			return io.NopCloser(bytes.NewReader(content)), nil
		}
		// Second read, onto the wire: send half, then wait for the cancel.
		return io.NopCloser(io.MultiReader(bytes.NewReader(content[:len(content)/2]), readerFunc(func([]byte) (int, error) {
			close(streaming)
			<-ctx.Done()
			return 0, ctx.Err()
		}))), nil
	}}
	errc := make(chan error, 1)
	go func() { errc <- a.Deliver(ctx, adaptertest.NewDelivery("sub-stream", []byte("<a/>"), att)) }()
	select {
	case <-streaming:
	case err := <-errc:
		t.Fatalf("Deliver returned %v before streaming", err)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || delivery.IsPermanent(err) {
		t.Fatalf("Deliver = %v, want a transient context.Canceled", err)
	}
	time.Sleep(50 * time.Millisecond) // let the handler finish reading the broken body
	if got := rc.Received(t); len(got) != 0 {
		t.Fatalf("receiver took %d messages from an aborted request", len(got))
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestErrorsCarryNoContentOrToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusInternalServerError)
		w.Write(body)
	}))
	defer srv.Close()
	a := newAdapter(t, webhook.Options{URL: srv.URL + "/in?token=topsecret"})
	d := adaptertest.NewDelivery("sub-e", []byte("<name>Erika Mustermann</name>"),
		adaptertest.FailingAttachment("Personalausweis Erika.pdf", 3, errors.New("store down")))
	d2 := adaptertest.NewDelivery("sub-e", []byte("<name>Erika Mustermann</name>"))
	for _, d := range []*delivery.Delivery{d, d2} {
		err := a.Deliver(t.Context(), d)
		if err == nil {
			t.Fatal("want an error")
		}
		for _, leak := range []string{"Erika", "topsecret", secret} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("error %q contains %q", err, leak)
			}
		}
	}
}

// TestAttachmentChangedBetweenReads checks that a body that would not match
// its signature is never sent complete.
func TestAttachmentChangedBetweenReads(t *testing.T) {
	rc, srv := newReceiver(t)
	a := newAdapter(t, webhook.Options{URL: srv.URL})
	var opens atomic.Int32
	att := delivery.Attachment{Name: "a.bin", Size: 4, Open: func(context.Context) (io.ReadCloser, error) {
		if opens.Add(1) == 1 {
			return io.NopCloser(strings.NewReader("aaaa")), nil
		}
		return io.NopCloser(strings.NewReader("bbbb")), nil
	}}
	err := a.Deliver(t.Context(), adaptertest.NewDelivery("sub-chg", []byte("<a/>"), att))
	if !errors.Is(err, webhook.ErrContentChanged) || delivery.IsPermanent(err) {
		t.Fatalf("Deliver = %v, want transient ErrContentChanged", err)
	}
	if got := rc.Received(t); len(got) != 0 {
		t.Fatalf("receiver took %d messages", len(got))
	}
}

func TestAttachmentSizeMismatch(t *testing.T) {
	rc, srv := newReceiver(t)
	a := newAdapter(t, webhook.Options{URL: srv.URL})
	att := adaptertest.BytesAttachment("a.bin", "", []byte("abc"))
	att.Size = 10
	err := a.Deliver(t.Context(), adaptertest.NewDelivery("sub-size", []byte("<a/>"), att))
	if !errors.Is(err, webhook.ErrSizeMismatch) || delivery.IsPermanent(err) {
		t.Fatalf("Deliver = %v, want transient ErrSizeMismatch", err)
	}
	if got := rc.Received(t); len(got) != 0 {
		t.Fatalf("receiver took %d messages", len(got))
	}
}

func TestVerify(t *testing.T) {
	key := []byte(secret)
	body := []byte("<a>Antrag</a>")
	now := time.Now().Unix()
	ts := strconv.FormatInt(now, 10)
	sig := webhook.Sign(key, now, body)
	old := now - 600
	tests := []struct {
		name                 string
		secret               []byte
		timestamp, sigHeader string
		body                 []byte
		maxSkew              time.Duration
		want                 error
	}{
		{"valid", key, ts, sig, body, time.Minute, nil},
		{"valid with default skew", key, ts, sig, body, 0, nil},
		{"tampered body", key, ts, sig, []byte("<a>Antrag!</a>"), time.Minute, webhook.ErrSignatureMismatch},
		{"tampered timestamp", key, strconv.FormatInt(now-1, 10), sig, body, time.Minute, webhook.ErrSignatureMismatch},
		{"wrong secret", []byte("another secret of some length"), ts, sig, body, time.Minute, webhook.ErrSignatureMismatch},
		{"old timestamp correctly signed", key, strconv.FormatInt(old, 10), webhook.Sign(key, old, body), body, 5 * time.Minute, webhook.ErrTimestampSkew},
		{"future timestamp", key, strconv.FormatInt(now+600, 10), webhook.Sign(key, now+600, body), body, 5 * time.Minute, webhook.ErrTimestampSkew},
		{"timestamp not a number", key, "yesterday", sig, body, time.Minute, webhook.ErrBadTimestamp},
		{"no signature", key, ts, "", body, time.Minute, webhook.ErrNoSignature},
		{"unknown version only", key, ts, "v2=abcdef", body, time.Minute, webhook.ErrNoSignature},
		{"not hex", key, ts, "v1=zz", body, time.Minute, webhook.ErrNoSignature},
		{"rotation: second entry matches", key, ts, "v1=" + strings.Repeat("0", 64) + ", " + sig, body, time.Minute, nil},
		{"unknown version beside v1", key, ts, "v2=xyz," + sig, body, time.Minute, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify(tc.secret, tc.timestamp, tc.body, tc.sigHeader, tc.maxSkew)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignIsHMACOverTimestampDotBody(t *testing.T) {
	// Fixed vector for receivers in other languages:
	// printf '1767225600.<a/>' | openssl dgst -sha256 -hmac 'correct horse battery staple'
	got := webhook.Sign([]byte("correct horse battery staple"), 1767225600, []byte("<a/>"))
	const want = "v1=" + signVector
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestOptions(t *testing.T) {
	t.Setenv("WEBHOOK_SHORT_SECRET", "short")
	t.Setenv("WEBHOOK_EMPTY_SECRET", "")
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	ok := "secret_env: " + secretEnv + "\n"
	tests := []struct{ name, yaml, wantErr string }{
		{"minimal https", "url: https://fv.example/inbox\n" + ok, ""},
		{"http loopback", "url: http://127.0.0.1:8080/\n" + ok, ""},
		{"http localhost", "url: http://localhost/\n" + ok, ""},
		{"http ipv6 loopback", "url: http://[::1]:9/\n" + ok, ""},
		{"http allowed", "url: http://fv.intern/\nallow_insecure_http: true\n" + ok, ""},
		{"all options", "url: https://fv.example/\ntimeout: 1m30s\nheaders:\n  X-Mandant: '09162000'\ntls:\n  insecure_skip_verify: true\n" + ok, ""},
		{"unknown key", "url: https://fv.example/\nsecret: abc\n" + ok, "secret"},
		{"unknown tls key", "url: https://fv.example/\ntls:\n  ca: x\n" + ok, "ca"},
		{"url missing", ok, "option url is required"},
		{"url scheme", "url: ftp://fv.example/\n" + ok, "scheme must be https or http"},
		{"url without host", "url: https:///x\n" + ok, "no host"},
		{"http not loopback", "url: http://fv.intern/\n" + ok, "allow_insecure_http"},
		{"http name resembling loopback", "url: http://127.0.0.1.nip.io/\n" + ok, "allow_insecure_http"},
		{"url with credentials", "url: https://user:pw@fv.example/\n" + ok, "must not contain credentials"},
		{"secret_env missing", "url: https://fv.example/\n", "option secret_env is required"},
		{"secret_env unset", "url: https://fv.example/\nsecret_env: WEBHOOK_NOT_SET_ANYWHERE\n", "WEBHOOK_NOT_SET_ANYWHERE is unset or empty"},
		{"secret_env empty", "url: https://fv.example/\nsecret_env: WEBHOOK_EMPTY_SECRET\n", "is unset or empty"},
		{"secret too short", "url: https://fv.example/\nsecret_env: WEBHOOK_SHORT_SECRET\n", "at least 16"},
		{"timeout without unit", "url: https://fv.example/\ntimeout: 30\n" + ok, "invalid duration"},
		{"timeout negative", "url: https://fv.example/\ntimeout: -1s\n" + ok, "must be positive"},
		{"reserved header", "url: https://fv.example/\nheaders:\n  content-type: text/plain\n" + ok, "Content-Type is set by the adapter"},
		{"drehscheibe header", "url: https://fv.example/\nheaders:\n  Drehscheibe-Test: 'false'\n" + ok, "Drehscheibe-Test is set by the adapter"},
		{"bad header name", "url: https://fv.example/\nheaders:\n  'X Bad': v\n" + ok, "not a valid header name"},
		{"tls with http", "url: http://127.0.0.1/\ntls:\n  insecure_skip_verify: true\n" + ok, "url is not https"},
		{"cert without key", "url: https://fv.example/\ntls:\n  cert_file: /x.pem\n" + ok, "must be given together"},
		{"ca_file missing", "url: https://fv.example/\ntls:\n  ca_file: " + dir + "/none.pem\n" + ok, "ca_file"},
		{"ca_file not PEM", "url: https://fv.example/\ntls:\n  ca_file: " + notPEM + "\n" + ok, "no PEM certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, found := delivery.Lookup(webhook.Type)
			if !found {
				t.Fatal("webhook is not registered")
			}
			a, err := f("fv", adaptertest.DecodeYAML(tc.yaml))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				a.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), `webhook "fv"`) {
				t.Errorf("error %q does not name the target", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestTLSWithCAFile(t *testing.T) {
	srv := httptest.NewUnstartedServer(&receiver{})
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // expected handshake failures
	srv.StartTLS()
	defer srv.Close()
	ca := writePEM(t, "CERTIFICATE", srv.Certificate().Raw)

	a := newAdapter(t, webhook.Options{URL: srv.URL, TLS: &webhook.TLSOptions{CAFile: ca}})
	if err := a.Deliver(t.Context(), adaptertest.NewDelivery("sub-tls", []byte("<a/>"))); err != nil {
		t.Fatalf("Deliver with the server's CA: %v", err)
	}

	untrusting := newAdapter(t, webhook.Options{URL: srv.URL})
	err := untrusting.Deliver(t.Context(), adaptertest.NewDelivery("sub-tls", []byte("<a/>")))
	if err == nil || delivery.IsPermanent(err) {
		t.Fatalf("Deliver to an untrusted certificate = %v, want a transient error", err)
	}
}

func TestMutualTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "drehscheibe"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	client, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	pool := x509.NewCertPool()
	pool.AddCert(client)

	var peer atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // expected handshake failures
	srv.StartTLS()
	defer srv.Close()
	ca := writePEM(t, "CERTIFICATE", srv.Certificate().Raw)

	a := newAdapter(t, webhook.Options{URL: srv.URL, TLS: &webhook.TLSOptions{
		CAFile: ca, CertFile: writePEM(t, "CERTIFICATE", der), KeyFile: writePEM(t, "EC PRIVATE KEY", keyDER),
	}})
	if err := a.Deliver(t.Context(), adaptertest.NewDelivery("sub-mtls", []byte("<a/>"))); err != nil {
		t.Fatalf("Deliver with a client certificate: %v", err)
	}
	if peer.Load() != "drehscheibe" {
		t.Fatalf("server saw client certificate %v", peer.Load())
	}

	without := newAdapter(t, webhook.Options{URL: srv.URL, TLS: &webhook.TLSOptions{CAFile: ca}})
	if err := without.Deliver(t.Context(), adaptertest.NewDelivery("sub-mtls", []byte("<a/>"))); err == nil {
		t.Fatal("Deliver without a client certificate succeeded")
	}
}

func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "*.pem")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pem.Encode(f, &pem.Block{Type: typ, Bytes: der}); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// signVector was computed with openssl, independently of this package.
const signVector = "98ee06799477b43af95a13ae03d64af06dc847e0391797f5b0ba330c8f6d3e2e"
