// Package webhook delivers submissions to a Fachverfahren by HTTP POST.
//
// Each delivery is one signed request. Without attachments the body is the
// message itself (Content-Type application/xml); with attachments it is
// multipart/mixed with the message as the first part and one part per
// attachment. The Drehscheibe-Signature header carries an HMAC-SHA256 over
// "<timestamp>.<body>" that receivers check with Verify or the recipe in
// docs/adapters-http-filedrop.md.
//
// A 2xx answer means the receiver has taken the submission. 408, 429, 5xx,
// timeouts and connection errors are transient: the gateway retries, with the
// same Drehscheibe-Submission-Id, so receivers deduplicate on it. A 429 or
// 503 with Retry-After (seconds or an HTTP date) makes the gateway wait at
// least that long, up to the target's retry.max. Any other answer is
// permanent.
package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drehscheibe/drehscheibe/gateway/delivery"
)

// Type is the adapter type under which webhook registers.
const Type = "webhook"

// UserAgent is sent with every request unless the headers option sets one.
const UserAgent = "drehscheibe-webhook/1"

// Extra fact headers sent besides the documented core set.
const (
	HeaderStandard        = "Drehscheibe-Standard"
	HeaderStandardVersion = "Drehscheibe-Standard-Version"
	HeaderNachrichtenUUID = "Drehscheibe-Nachrichten-Uuid"
)

// maxDrain bounds how much of a response body is read so that the
// connection can be reused; the content itself is never used.
const maxDrain = 64 << 10

// ErrSizeMismatch is returned when an attachment's content is not as long as
// its declared size, or differs between the two reads the adapter makes; the
// gateway retries.
var ErrSizeMismatch = delivery.ErrSizeMismatch

// ErrContentChanged is returned when an attachment reads differently the
// second time: the signature would not match the body, so nothing is sent.
var ErrContentChanged = errors.New("attachment content changed between reads")

var (
	_ delivery.Adapter = (*Adapter)(nil)
	_ delivery.Factory = factory
)

func init() {
	delivery.Register(Type, factory)
}

// StatusError is the error for a response that is not 2xx. It is marked
// permanent unless the status is 408, 429 or 5xx.
type StatusError struct {
	StatusCode int
	// Location is the redirect target of a 3xx answer, without query.
	Location string
	// RetryAfter is the wait the Retry-After header of a 429 or 503 asked for.
	RetryAfter time.Duration
}

// Error describes the answer without its body, which may echo personal data.
func (e *StatusError) Error() string {
	s := fmt.Sprintf("receiver answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" with Retry-After %s", e.RetryAfter)
	}
	if e.Location != "" {
		s += "; redirects are not followed, configure url as " + e.Location
	}
	return s
}

// Adapter posts submissions to one URL. It is safe for concurrent use.
type Adapter struct {
	name      string
	url       string
	logURL    string
	secret    []byte
	timeout   time.Duration
	headers   http.Header
	client    *http.Client
	transport *http.Transport
	now       func() time.Time
}

func factory(name string, decode func(v any) error) (delivery.Adapter, error) {
	var o Options
	if err := decode(&o); err != nil {
		return nil, fmt.Errorf("webhook %q: options: %w", name, err)
	}
	return New(name, o)
}

// New returns a webhook adapter for the target called name. It reads the
// HMAC secret from the environment variable o.SecretEnv and loads the TLS
// files, so that a bad option fails at start rather than at the first
// delivery.
func New(name string, o Options) (*Adapter, error) {
	c, err := o.resolve(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("webhook %q: %w", name, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	if c.tls != nil {
		tr.TLSClientConfig = c.tls
	}
	return &Adapter{
		name:    name,
		url:     c.url.String(),
		logURL:  redact(c.url),
		secret:  c.secret,
		timeout: c.timeout,
		headers: c.headers,
		client: &http.Client{
			Transport: tr,
			Timeout:   c.timeout,
			// A redirect of a signed POST is a misconfiguration; following it
			// could hand personal data to another host.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		transport: tr,
		now:       time.Now,
	}, nil
}

// Close closes idle connections.
func (a *Adapter) Close() error {
	a.transport.CloseIdleConnections()
	return nil
}

// Deliver posts d and returns nil once the receiver answered 2xx.
func (a *Adapter) Deliver(ctx context.Context, d *delivery.Delivery) error {
	if err := ctx.Err(); err != nil {
		return a.errorf(d, "%w", err)
	}
	ts := strconv.FormatInt(a.now().Unix(), 10)
	mac := newMAC(a.secret, ts)
	b, err := newRequestBody(ctx, d, mac)
	if err != nil {
		return a.errorf(d, "%w", err)
	}
	defer b.finish()
	sig := SignatureVersion + "=" + hex.EncodeToString(mac.Sum(nil))

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, b.r)
	if err != nil {
		return a.errorf(d, "%w", err)
	}
	req.ContentLength = b.length
	req.Header = a.headers.Clone()
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", UserAgent)
	}
	for k, v := range map[string]string{
		"Content-Type":        b.contentType,
		HeaderSubmissionID:    d.SubmissionID,
		HeaderMessageType:     d.MessageType,
		HeaderNamespace:       d.Namespace,
		HeaderReader:          d.Reader,
		HeaderAuthor:          d.Author,
		HeaderTest:            strconv.FormatBool(d.Test),
		HeaderAttempt:         strconv.Itoa(d.Attempt),
		HeaderStandard:        d.Standard,
		HeaderStandardVersion: d.Version,
		HeaderNachrichtenUUID: d.NachrichtenUUID,
		HeaderTimestamp:       ts,
		HeaderSignature:       sig,
	} {
		req.Header.Set(k, headerValue(v))
	}

	resp, err := a.client.Do(req)
	if err != nil {
		if werr := b.finish(); werr != nil {
			// Reading an attachment failed mid-request; that is the cause.
			return a.errorf(d, "%w", werr)
		}
		return a.transportError(ctx, d, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()

	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case s == http.StatusTooManyRequests, s == http.StatusServiceUnavailable:
		se := &StatusError{StatusCode: s}
		se.RetryAfter, _ = delivery.ParseRetryAfter(resp.Header.Get("Retry-After"), a.now())
		return delivery.RetryAfter(a.errorf(d, "%w", se), se.RetryAfter)
	case s == http.StatusRequestTimeout, s >= 500:
		return a.errorf(d, "%w", &StatusError{StatusCode: s})
	case s >= 300 && s < 400:
		se := &StatusError{StatusCode: s}
		if loc, err := resp.Location(); err == nil {
			se.Location = redact(loc)
		}
		return delivery.Permanent(a.errorf(d, "%w", se))
	default:
		return delivery.Permanent(a.errorf(d, "%w", &StatusError{StatusCode: s}))
	}
}

// requestBody is the body of one request.
type requestBody struct {
	r           io.Reader
	length      int64
	contentType string
	// finish stops a streamed body's writer, waits for it and returns its
	// error, if it failed other than by the request closing the pipe. It may
	// be called more than once.
	finish func() error
}

// newRequestBody returns the body for d and feeds it into mac.
//
// Without attachments the body is the message. With attachments it is
// multipart/mixed, and since the signature header must precede a body that
// can be larger than we want to hold in memory, it is built twice from the
// same parts: once into mac here, once onto the wire as the request reads
// it. The second pass checks each attachment against the first and fails
// before the body's end if one differs, so a body that does not match its
// signature is never sent complete.
func newRequestBody(ctx context.Context, d *delivery.Delivery, mac io.Writer) (*requestBody, error) {
	if len(d.Attachments) == 0 {
		// The message is read twice, for the signature and onto the wire;
		// its reader fails before the end if the second read differs.
		if err := copyMessage(ctx, mac, d.Message); err != nil {
			return nil, err
		}
		rc, err := d.Message.Open(ctx)
		if err != nil {
			return nil, fmt.Errorf("open message: %w", err)
		}
		var once sync.Once
		return &requestBody{
			r:           ctxReader{ctx, rc},
			length:      d.Message.Size,
			contentType: "application/xml",
			finish:      func() error { once.Do(func() { _ = rc.Close() }); return nil },
		}, nil
	}
	mp := multipartBody{d: d, boundary: multipart.NewWriter(io.Discard).Boundary()}
	cw := &countingWriter{w: mac}
	digests, err := mp.write(ctx, cw, nil)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	var writeErr error
	go func() {
		defer close(done)
		_, writeErr = mp.write(ctx, pw, digests)
		pw.CloseWithError(writeErr)
	}()
	return &requestBody{
		r:           pr,
		length:      cw.n,
		contentType: mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mp.boundary}),
		finish: func() error {
			pr.Close()
			<-done
			if errors.Is(writeErr, io.ErrClosedPipe) {
				return nil
			}
			return writeErr
		},
	}, nil
}

// transportError describes a failed round trip without the URL's query,
// which may hold a token. All of them are transient.
func (a *Adapter) transportError(ctx context.Context, d *delivery.Delivery, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
		if ue.Timeout() && ctx.Err() == nil {
			return a.errorf(d, "no complete answer within the timeout of %s: %w", a.timeout, err)
		}
	}
	return a.errorf(d, "%w", err)
}

func (a *Adapter) errorf(d *delivery.Delivery, format string, args ...any) error {
	return fmt.Errorf("webhook %q: submission %s: POST %s: "+format,
		append([]any{a.name, d.SubmissionID, a.logURL}, args...)...)
}

// headerValue makes a fact safe as a header value: it trims surrounding
// space and replaces control characters, which cannot be sent, by spaces.
// The message itself stays authoritative for every fact.
func headerValue(s string) string {
	s = strings.TrimSpace(s)
	if strings.IndexFunc(s, isCTL) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isCTL(r) {
			return ' '
		}
		return r
	}, s)
}

func isCTL(r rune) bool { return r < 0x20 || r == 0x7f }

// multipartBody writes the multipart/mixed body of a delivery with attachments.
type multipartBody struct {
	d        *delivery.Delivery
	boundary string
}

// digest identifies one attachment's content as read in the first pass.
type digest struct {
	size int64
	sum  [sha256.Size]byte
}

// write writes the body to w. With want nil it reads each attachment fully,
// checks it against its declared size and returns the digests. With want set
// it copies exactly as many bytes as the first pass saw and fails before
// writing anything further if the content differs.
func (m multipartBody) write(ctx context.Context, w io.Writer, want []digest) ([]digest, error) {
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(m.boundary); err != nil {
		return nil, err
	}
	part, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":        {"application/xml"},
		"Content-Disposition": {`inline; filename="message.xml"`},
	})
	if err != nil {
		return nil, err
	}
	if err := copyMessage(ctx, part, m.d.Message); err != nil {
		return nil, err
	}
	got := make([]digest, len(m.d.Attachments))
	for i, att := range m.d.Attachments {
		ct := att.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		part, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":        {headerValue(ct)},
			"Content-Disposition": {contentDisposition(att.Name)},
		})
		if err != nil {
			return nil, err
		}
		var expect *digest
		if want != nil {
			expect = &want[i]
		}
		if got[i], err = copyAttachment(ctx, part, att, expect); err != nil {
			// The name stays out of the error: it may hold personal data.
			return nil, fmt.Errorf("attachment %d: %w", i+1, err)
		}
	}
	return got, mw.Close()
}

// copyMessage copies the message to w; its reader checks size and digest.
func copyMessage(ctx context.Context, w io.Writer, c delivery.Content) error {
	rc, err := c.Open(ctx)
	if err != nil {
		return fmt.Errorf("open message: %w", err)
	}
	defer rc.Close()
	if _, err := io.Copy(w, ctxReader{ctx, rc}); err != nil {
		return fmt.Errorf("message: %w", err)
	}
	return nil
}

func copyAttachment(ctx context.Context, w io.Writer, att delivery.Attachment, want *digest) (digest, error) {
	rc, err := att.Open(ctx)
	if err != nil {
		return digest{}, fmt.Errorf("open: %w", err)
	}
	defer rc.Close()
	r := ctxReader{ctx, rc}
	h := sha256.New()
	var got digest
	if want == nil {
		got.size, err = io.Copy(io.MultiWriter(w, h), r)
		if err != nil {
			return digest{}, err
		}
		if got.size != att.Size {
			return digest{}, fmt.Errorf("%w: read %d bytes, declared %d", ErrSizeMismatch, got.size, att.Size)
		}
	} else {
		got.size, err = io.CopyN(io.MultiWriter(w, h), r, want.size)
		if errors.Is(err, io.EOF) {
			return digest{}, fmt.Errorf("%w: shorter on the second read", ErrContentChanged)
		}
		if err != nil {
			return digest{}, err
		}
		var one [1]byte
		if n, _ := io.ReadFull(r, one[:]); n > 0 {
			return digest{}, fmt.Errorf("%w: longer on the second read", ErrContentChanged)
		}
		if err := ctx.Err(); err != nil {
			return digest{}, err
		}
	}
	copy(got.sum[:], h.Sum(nil))
	if want != nil && got.sum != want.sum {
		return digest{}, ErrContentChanged
	}
	return got, nil
}

// contentDisposition names an attachment part. Plain ASCII names are sent
// as a quoted filename; others as RFC 6266 filename* in UTF-8, preceded by
// an ASCII approximation for receivers that do not understand filename*.
func contentDisposition(name string) string {
	if name == "" {
		name = "attachment"
	}
	plain := true
	var fallback strings.Builder
	for _, r := range name {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' {
			plain = false
			fallback.WriteByte('_')
			continue
		}
		fallback.WriteRune(r)
	}
	if plain {
		return `attachment; filename="` + name + `"`
	}
	var enc strings.Builder
	for _, b := range []byte(name) {
		if isAttrChar(b) {
			enc.WriteByte(b)
		} else {
			fmt.Fprintf(&enc, "%%%02X", b)
		}
	}
	return `attachment; filename="` + fallback.String() + `"; filename*=UTF-8''` + enc.String()
}

// isAttrChar reports whether b may appear unencoded in an RFC 8187 value.
func isAttrChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", b) >= 0
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ctxReader stops a copy as soon as ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
