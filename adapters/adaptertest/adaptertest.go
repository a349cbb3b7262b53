// Package adaptertest is the conformance suite every delivery adapter must
// pass, in the spirit of Watermill's universal Pub/Sub tests: an adapter is done
// when Run passes against it with its real receiving side (a temp directory, an
// HTTP server, …), not when it has a happy-path test of its own.
//
// An adapter's package calls Run from a test and gives it a Suite: a
// constructor for a fresh adapter with its receiving side, and the Features the
// adapter declares. Cases whose outcome depends on a feature read it from there.
package adaptertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/drehscheibe/drehscheibe/gateway/delivery"
)

// Features declares how an adapter behaves where adapters legitimately differ.
type Features struct {
	// ExactlyOnce declares that the receiving side holds exactly one copy of a
	// submission however often it is delivered (filedrop). Without it, a
	// redelivery must reach the receiver again, under the same submission id,
	// so that the receiver can deduplicate (webhook).
	ExactlyOnce bool
}

// Harness is one fresh adapter together with the receiving side it delivers to.
type Harness struct {
	// Adapter is the adapter under test. The suite closes it at the end of the case.
	Adapter delivery.Adapter
	// Received returns every complete message the receiving side holds so far,
	// in any order. It must not return a message the receiver got only in part;
	// it should fail t if the receiving side holds something malformed.
	Received func(t *testing.T) []ReceivedMessage
}

// Suite describes an adapter to the conformance suite.
type Suite struct {
	// New builds a fresh adapter and receiving side for one case. It registers
	// its own cleanups with t.Cleanup. Cases run in parallel, so New must not
	// share receiving state between calls.
	New func(t *testing.T) Harness
	// Features are the behaviours the adapter declares.
	Features Features
}

// ReceivedMessage is what the receiving side got for one delivery.
type ReceivedMessage struct {
	SubmissionID string
	MessageType  string
	Namespace    string
	Reader       string
	Author       string
	Test         bool
	Attempt      int
	// Message is the message as the receiver got it.
	Message []byte
	// Attachments in the order of the delivery.
	Attachments []ReceivedAttachment
}

// ReceivedAttachment is one attachment as the receiver got it.
type ReceivedAttachment struct {
	Name        string
	ContentType string
	Content     []byte
}

// Run runs every conformance case against the adapter s describes.
func Run(t *testing.T, s Suite) {
	t.Helper()
	if s.New == nil {
		t.Fatal("adaptertest: Suite.New is nil")
	}
	cases := []struct {
		name string
		fn   func(*testing.T, Suite)
	}{
		{"DeliversMessageByteIdentical", testDeliversMessage},
		{"DeliversAttachmentsByteIdentical", testDeliversAttachments},
		{"RedeliverySameSubmissionID", testRedelivery},
		{"ConcurrentDeliveries", testConcurrent},
		{"ContextCancelledBeforeDeliver", testCancelledBefore},
		{"ContextCancelledDuringDeliver", testCancelledDuring},
		{"LargeMessage", testLargeMessage},
		{"MessageNotAsStored", testMessageNotAsStored},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, s)
		})
	}
}

func newHarness(t *testing.T, s Suite) Harness {
	t.Helper()
	h := s.New(t)
	if h.Adapter == nil || h.Received == nil {
		t.Fatal("adaptertest: Suite.New returned a Harness without Adapter or Received")
	}
	t.Cleanup(func() {
		if err := h.Adapter.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

func testDeliversMessage(t *testing.T, s Suite) {
	h := newHarness(t, s)
	d := NewDelivery("sub-message-1", SampleMessage("Antrag"))
	d.Attempt = 3
	d.Test = true
	if err := h.Adapter.Deliver(t.Context(), d); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	got := only(t, h.Received(t), d.SubmissionID)
	AssertDelivered(t, d, got)
	if got.Attempt != d.Attempt {
		t.Errorf("attempt = %d, want %d", got.Attempt, d.Attempt)
	}
	if len(got.Attachments) != 0 {
		t.Errorf("receiver got %d attachments, want none", len(got.Attachments))
	}
}

func testDeliversAttachments(t *testing.T, s Suite) {
	h := newHarness(t, s)
	binary := make([]byte, 64<<10)
	_, _ = rand.Read(binary)
	d := NewDelivery("sub-attachments-1", SampleMessage("Antrag mit Anlagen"),
		BytesAttachment("Lageplan.pdf", "application/pdf", binary),
		BytesAttachment("Bauantrag Übersicht (Entwurf).txt", "text/plain; charset=utf-8", []byte("Grundstück Flur 3\r\n")),
		BytesAttachment("Lageplan.pdf", "application/pdf", []byte("second file with the same name")),
		BytesAttachment("leer.bin", "application/octet-stream", nil),
	)
	if err := h.Adapter.Deliver(t.Context(), d); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	AssertDelivered(t, d, only(t, h.Received(t), d.SubmissionID))
}

func testRedelivery(t *testing.T, s Suite) {
	h := newHarness(t, s)
	d := NewDelivery("sub-redelivery-1", SampleMessage("Wiederholung"),
		BytesAttachment("anlage.txt", "text/plain", []byte("Anlage")))
	if err := h.Adapter.Deliver(t.Context(), d); err != nil {
		t.Fatalf("first Deliver: %v", err)
	}
	again := *d
	again.Attempt = 2
	if err := h.Adapter.Deliver(t.Context(), &again); err != nil {
		t.Fatalf("redelivery of the same submission id: %v", err)
	}
	got := h.Received(t)
	for _, m := range got {
		if m.SubmissionID != d.SubmissionID {
			t.Errorf("receiver holds unexpected submission %q", m.SubmissionID)
			continue
		}
		AssertDelivered(t, d, m)
	}
	if s.Features.ExactlyOnce {
		if len(got) != 1 {
			t.Fatalf("receiver holds %d copies of a redelivered submission, want exactly 1", len(got))
		}
		return
	}
	if len(got) != 2 {
		t.Fatalf("receiver got %d deliveries of a redelivered submission, want 2 under the same id", len(got))
	}
}

func testConcurrent(t *testing.T, s Suite) {
	h := newHarness(t, s)
	const n = 8
	deliveries := make([]*delivery.Delivery, n)
	for i := range deliveries {
		deliveries[i] = NewDelivery(fmt.Sprintf("sub-concurrent-%02d", i), SampleMessage(fmt.Sprintf("Antrag %d", i)),
			BytesAttachment(fmt.Sprintf("anlage-%d.txt", i), "text/plain", bytes.Repeat([]byte{byte('a' + i)}, 10_000+i)))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, d := range deliveries {
		wg.Go(func() { errs[i] = h.Adapter.Deliver(t.Context(), d) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Deliver %s: %v", deliveries[i].SubmissionID, err)
		}
	}
	got := h.Received(t)
	if len(got) != n {
		t.Fatalf("receiver holds %d messages, want %d", len(got), n)
	}
	for _, d := range deliveries {
		AssertDelivered(t, d, only(t, got, d.SubmissionID))
	}
}

func testCancelledBefore(t *testing.T, s Suite) {
	h := newHarness(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	d := NewDelivery("sub-cancelled-before", SampleMessage("abgebrochen"))
	if err := h.Adapter.Deliver(ctx, d); err == nil {
		t.Fatal("Deliver with a cancelled context returned nil, want an error")
	}
	if got := h.Received(t); len(got) != 0 {
		t.Fatalf("receiver holds %d messages after a cancelled delivery, want none", len(got))
	}
}

// testCancelledDuring cancels the context while the adapter reads an
// attachment, then checks that the receiver holds nothing and that a later
// delivery of the same submission succeeds completely.
func testCancelledDuring(t *testing.T, s Suite) {
	h := newHarness(t, s)
	content := bytes.Repeat([]byte("Anlageninhalt "), 20_000)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	reading := make(chan struct{})
	var once sync.Once
	blocking := delivery.Attachment{
		Name:        "gross.txt",
		ContentType: "text/plain",
		Size:        int64(len(content)),
		Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(&stallingReader{
				first: content[:len(content)/2],
				stall: func() {
					once.Do(func() { close(reading) })
					<-ctx.Done()
				},
				err: ctx.Err,
			}), nil
		},
	}
	msg := SampleMessage("abgebrochen")
	d := NewDelivery("sub-cancelled-during", msg, blocking)

	errc := make(chan error, 1)
	go func() { errc <- h.Adapter.Deliver(ctx, d) }()
	select {
	case <-reading:
	case err := <-errc:
		t.Fatalf("Deliver returned %v before reading the attachment", err)
	case <-time.After(10 * time.Second):
		t.Fatal("adapter never read the attachment")
	}
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Deliver returned nil after its context was cancelled mid-way, want an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Deliver did not return within 10s of its context being cancelled")
	}
	if got := h.Received(t); len(got) != 0 {
		t.Fatalf("receiver holds %d messages after a cancelled delivery, want none", len(got))
	}

	retry := NewDelivery(d.SubmissionID, msg, BytesAttachment("gross.txt", "text/plain", content))
	retry.Attempt = 2
	if err := h.Adapter.Deliver(t.Context(), retry); err != nil {
		t.Fatalf("Deliver after a cancelled attempt: %v", err)
	}
	AssertDelivered(t, retry, only(t, h.Received(t), d.SubmissionID))
}

func testLargeMessage(t *testing.T, s Suite) {
	h := newHarness(t, s)
	msg := LargeMessage(5 << 20)
	d := NewDelivery("sub-large-1", msg)
	if err := h.Adapter.Deliver(t.Context(), d); err != nil {
		t.Fatalf("Deliver of a %d byte message: %v", len(msg), err)
	}
	AssertDelivered(t, d, only(t, h.Received(t), d.SubmissionID))
}

// testMessageNotAsStored hands the adapter a message whose bytes do not
// match its declared size and digest, as a damaged store would: the adapter
// must fail, and the receiver must hold nothing, with and without attachments.
func testMessageNotAsStored(t *testing.T, s Suite) {
	h := newHarness(t, s)
	for i, atts := range [][]delivery.Attachment{nil, {BytesAttachment("a.txt", "text/plain", []byte("Anlage"))}} {
		msg := SampleMessage("beschaedigt")
		good := delivery.BytesContent(msg)
		d := NewDelivery(fmt.Sprintf("sub-damaged-%d", i), msg, atts...)
		damaged := bytes.Replace(msg, []byte("beschaedigt"), []byte("beschaedigT"), 1)
		d.Message = delivery.NewContent(good.Size, good.SHA256, func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(damaged)), nil
		})
		if err := h.Adapter.Deliver(t.Context(), d); err == nil {
			t.Errorf("Deliver of a damaged message (%d attachments) returned nil, want an error", len(atts))
		} else if delivery.IsPermanent(err) {
			t.Errorf("Deliver of a damaged message: %v is permanent; a retry may read it intact", err)
		}
	}
	if got := h.Received(t); len(got) != 0 {
		t.Fatalf("receiver holds %d messages after damaged deliveries, want none", len(got))
	}
}

// stallingReader returns first, then calls stall and fails with err().
type stallingReader struct {
	first []byte
	stall func()
	err   func() error
}

func (r *stallingReader) Read(p []byte) (int, error) {
	if len(r.first) > 0 {
		n := copy(p, r.first)
		r.first = r.first[n:]
		return n, nil
	}
	r.stall()
	return 0, r.err()
}

func only(t *testing.T, got []ReceivedMessage, id string) ReceivedMessage {
	t.Helper()
	var match []ReceivedMessage
	for _, m := range got {
		if m.SubmissionID == id {
			match = append(match, m)
		}
	}
	if len(match) != 1 {
		t.Fatalf("receiver holds %d messages with submission id %q, want 1 (it holds %d in all)", len(match), id, len(got))
	}
	return match[0]
}

// AssertDelivered fails t unless got is d as the receiver should see it: the
// same message and attachments byte for byte, with their names and content
// types, and the same routing facts.
func AssertDelivered(t *testing.T, d *delivery.Delivery, got ReceivedMessage) {
	t.Helper()
	if got.SubmissionID != d.SubmissionID {
		t.Errorf("submission id = %q, want %q", got.SubmissionID, d.SubmissionID)
	}
	msg, err := d.Message.ReadAll(t.Context())
	if err != nil {
		t.Fatalf("read the delivery's message: %v", err)
	}
	if !bytes.Equal(got.Message, msg) {
		t.Errorf("message differs: got %d bytes, want %d bytes (first difference at byte %d)",
			len(got.Message), len(msg), firstDiff(got.Message, msg))
	}
	for _, f := range []struct{ name, got, want string }{
		{"message type", got.MessageType, d.MessageType},
		{"namespace", got.Namespace, d.Namespace},
		{"reader", got.Reader, d.Reader},
		{"author", got.Author, d.Author},
	} {
		if f.got != f.want {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if got.Test != d.Test {
		t.Errorf("test flag = %v, want %v", got.Test, d.Test)
	}
	if len(got.Attachments) != len(d.Attachments) {
		t.Errorf("receiver got %d attachments, want %d", len(got.Attachments), len(d.Attachments))
		return
	}
	for i, a := range d.Attachments {
		g := got.Attachments[i]
		want := readAll(t, a)
		if g.Name != a.Name {
			t.Errorf("attachment %d: name = %q, want %q", i, g.Name, a.Name)
		}
		if g.ContentType != a.ContentType {
			t.Errorf("attachment %d: content type = %q, want %q", i, g.ContentType, a.ContentType)
		}
		if !bytes.Equal(g.Content, want) {
			t.Errorf("attachment %d: content differs: got %d bytes, want %d bytes (first difference at byte %d)",
				i, len(g.Content), len(want), firstDiff(g.Content, want))
		}
	}
}

func readAll(t *testing.T, a delivery.Attachment) []byte {
	t.Helper()
	rc, err := a.Open(t.Context())
	if err != nil {
		t.Fatalf("open attachment %q: %v", a.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read attachment %q: %v", a.Name, err)
	}
	return b
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// NewDelivery returns a delivery of msg with plausible XBau facts, attempt 1.
func NewDelivery(id string, msg []byte, atts ...delivery.Attachment) *delivery.Delivery {
	return &delivery.Delivery{
		SubmissionID:    id,
		Attempt:         1,
		Target:          "conformance",
		Message:         delivery.BytesContent(slices.Clone(msg)),
		Standard:        "XBau",
		Version:         "2.6",
		Namespace:       "http://www.xleitstelle.de/xbau/2/6",
		MessageType:     "baugenehmigung.antrag.0200",
		Author:          "psw:01000000-EfA-Bau",
		Reader:          "psw:09162000-Bauamt",
		NachrichtenUUID: "0f9ad7c4-2d5e-4c8e-9a53-6c1f0c7b6f10",
		Service:         "bauantrag",
		Sender:          "efa-bau",
		ReceivedAt:      time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC),
		Attachments:     atts,
	}
}

// BytesAttachment returns an attachment holding content.
func BytesAttachment(name, contentType string, content []byte) delivery.Attachment {
	content = slices.Clone(content)
	return delivery.Attachment{
		Name:        name,
		ContentType: contentType,
		Size:        int64(len(content)),
		Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(content)), nil
		},
	}
}

// FailingAttachment returns an attachment that declares size bytes and whose
// Open fails with err.
func FailingAttachment(name string, size int64, err error) delivery.Attachment {
	return delivery.Attachment{
		Name:        name,
		ContentType: "application/octet-stream",
		Size:        size,
		Open:        func(context.Context) (io.ReadCloser, error) { return nil, err },
	}
}

// SampleMessage returns a small XBau-shaped message whose body carries text.
// It includes a byte order mark, CRLF line ends and non-ASCII text so that any
// re-encoding on the way shows up as a difference.
func SampleMessage(text string) []byte {
	return []byte("\uFEFF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n" +
		"<xbau:baugenehmigung.antrag.0200 xmlns:xbau=\"http://www.xleitstelle.de/xbau/2/6\" produkthersteller=\"drehscheibe\">\r\n" +
		"  <nachrichtenkopf.g2g><identifikation.nachricht><nachrichtenUUID>0f9ad7c4-2d5e-4c8e-9a53-6c1f0c7b6f10</nachrichtenUUID></identifikation.nachricht></nachrichtenkopf.g2g>\r\n" +
		"  <bemerkung>" + text + " – Straße, Größe, Übergabe</bemerkung>\r\n" +
		"</xbau:baugenehmigung.antrag.0200>\r\n")
}

// LargeMessage returns a well-formed message of exactly size bytes (at least 512).
func LargeMessage(size int) []byte {
	head := SampleMessage("gross")
	const open, closing = "<!--", "-->\r\n"
	fill := size - len(head) - len(open) - len(closing)
	if fill < 0 {
		fill = 0
	}
	var b bytes.Buffer
	b.Grow(size)
	b.Write(head)
	b.WriteString(open)
	pattern := "Fülltext für eine große Nachricht 0123456789 "
	for b.Len() < len(head)+len(open)+fill {
		rest := len(head) + len(open) + fill - b.Len()
		if rest < len(pattern) {
			b.WriteString(strings.Repeat("x", rest))
			break
		}
		b.WriteString(pattern)
	}
	b.WriteString(closing)
	return b.Bytes()
}

// DecodeYAML returns a decode function for a Factory that decodes src the way
// the gateway's configuration does: strictly, so that an unknown key fails.
func DecodeYAML(src string) func(v any) error {
	return func(v any) error {
		dec := yaml.NewDecoder(strings.NewReader(src))
		dec.KnownFields(true)
		if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		return nil
	}
}
