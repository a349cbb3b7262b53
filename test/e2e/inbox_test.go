package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// multipartSubmission is the demo message with attachments as a
// multipart/form-data body; it returns the body and its content type.
func multipartSubmission(msg []byte, atts map[string][]byte) ([]byte, string) {
	parts := []testenv.Part{{Name: "message", Filename: "antrag.xml", ContentType: "application/xml", Data: msg}}
	for _, name := range []string{"lageplan.pdf", "foto.bin"} {
		if b, ok := atts[name]; ok {
			ctype := map[string]string{"lageplan.pdf": "application/pdf", "foto.bin": "application/octet-stream"}[name]
			parts = append(parts, testenv.Part{Name: "attachment", Filename: name, ContentType: ctype, Data: b})
		}
	}
	return testenv.Multipart(parts...)
}

// inbox lists the reader's inbox with query q and returns the answer.
func (e *env) inbox(key, q string) ([]map[string]any, string) {
	e.t.Helper()
	r := e.do(http.MethodGet, "/v1/inbox"+q, key, "", nil, nil)
	require.Equal(e.t, http.StatusOK, r.Code, string(r.Body))
	var out struct {
		Messages []map[string]any `json:"messages"`
		Next     string           `json:"next"`
	}
	require.NoError(e.t, json.Unmarshal(r.Body, &out))
	require.NotNil(e.t, out.Messages, "messages is a list, never null")
	return out.Messages, out.Next
}

// waitInbox polls the reader's inbox until it holds n messages.
func (e *env) waitInbox(key string, n int) []map[string]any {
	e.t.Helper()
	var ms []map[string]any
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
		if ms, _ = e.inbox(key, "?limit=1000"); len(ms) == n {
			return ms
		}
	}
	e.t.Fatalf("inbox holds %d messages after 20s, want %d", len(ms), n)
	return nil
}

// TestInboxOverREST walks a message from a sender to a reader over REST
// alone: submitted with attachments, routed to a box target (no XTA
// configured), listed, shown and fetched byte-identically by its reader,
// closed; the sender's status follows each step, another reader sees
// nothing, and the audit log names the reader.
func TestInboxOverREST(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.log")
	e := startDLQ(t, newReceiver(t, http.StatusOK), dlqOptions{auditFile: file})
	msg := demoMessage(t)
	pdf := []byte("%PDF-1.4 fictitious Lageplan\x00\x01\x02")
	big := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 300_000) // 1.2 MB: in the object store
	body, ctype := multipartSubmission(msg, map[string][]byte{"lageplan.pdf": pdf, "foto.bin": big})
	r := e.do(http.MethodPost, "/v1/submissions", boxSenderKey, ctype, body, nil)
	require.Equal(t, http.StatusAccepted, r.Code, string(r.Body))
	id := r.JSON["id"].(string)
	e.waitStatus(boxSenderKey, id, "delivered") // delivered into the box

	ms := e.waitInbox(readerKey, 1)
	m := ms[0]
	assert.Equal(t, id, m["submission_id"])
	assert.Equal(t, "ags:09999000", m["reader"])
	assert.Equal(t, "efa:demo-portal", m["author"])
	assert.Equal(t, "antrag.einreichen.0100", m["message_type"])
	assert.Equal(t, float64(len(msg)), m["size"])
	assert.Equal(t, "urn:de:xta:messageid:drehscheibe:"+id, m["message_id"])
	assert.Nil(t, m["fetched_at"], "not fetched yet")
	require.Len(t, m["attachments"], 2)
	fresh, _ := e.inbox(readerKey, "?fetched=false")
	assert.Len(t, fresh, 1)
	old, _ := e.inbox(readerKey, "?fetched=true")
	assert.Empty(t, old)

	show := e.do(http.MethodGet, "/v1/inbox/"+id, readerKey, "", nil, nil)
	require.Equal(t, http.StatusOK, show.Code, string(show.Body))
	assert.Equal(t, e.base+"/v1/inbox/"+id+"/message", show.JSON["message_url"])
	e.waitStatus(boxSenderKey, id, "delivered") // showing the metadata is no fetch

	got := e.do(http.MethodGet, "/v1/inbox/"+id+"/message", readerKey, "", nil, nil)
	require.Equal(t, http.StatusOK, got.Code, string(got.Body))
	assert.Equal(t, msg, got.Body, "the message byte for byte")
	assert.Equal(t, "application/xml", got.Header.Get("Content-Type"))
	assert.Equal(t, show.JSON["sha256"], got.Header.Get("X-Content-SHA256"))
	atts := show.JSON["attachments"].([]any)
	for i, want := range [][]byte{pdf, big} {
		a := atts[i].(map[string]any)
		path := strings.TrimPrefix(a["url"].(string), e.base)
		assert.Equal(t, fmt.Sprintf("/v1/inbox/%s/attachments/%d", id, i+1), path)
		res := e.do(http.MethodGet, path, readerKey, "", nil, nil)
		require.Equal(t, http.StatusOK, res.Code, string(res.Body))
		assert.Equal(t, want, res.Body, "attachment %d byte for byte", i+1)
		assert.Equal(t, a["content_type"], res.Header.Get("Content-Type"))
		assert.Contains(t, res.Header.Get("Content-Disposition"), a["name"].(string))
	}
	assert.Equal(t, http.StatusNotFound, e.do(http.MethodGet, "/v1/inbox/"+id+"/attachments/3", readerKey, "", nil, nil).Code)
	e.waitStatus(boxSenderKey, id, "fetched")
	old, _ = e.inbox(readerKey, "?fetched=true")
	require.Len(t, old, 1)
	assert.NotNil(t, old[0]["fetched_at"])

	// Another reader sees nothing, and the message is as absent for it as one that does not exist.
	other, _ := e.inbox(otherReaderKey, "")
	assert.Empty(t, other)
	missing := "01900000-0000-7000-8000-000000000000"
	for _, suffix := range []string{"", "/message", "/attachments/1"} {
		o := e.do(http.MethodGet, "/v1/inbox/"+id+suffix, otherReaderKey, "", nil, nil)
		a := e.do(http.MethodGet, "/v1/inbox/"+missing+suffix, otherReaderKey, "", nil, nil)
		require.Equal(t, http.StatusNotFound, o.Code, suffix)
		require.Equal(t, http.StatusNotFound, a.Code, suffix)
		assert.Equal(t, strings.ReplaceAll(string(a.Body), missing, id),
			strings.ReplaceAll(string(o.Body), o.JSON["request_id"].(string), a.JSON["request_id"].(string)), suffix)
	}
	assert.Equal(t, http.StatusNotFound, e.do(http.MethodPost, "/v1/inbox/"+id+"/close", otherReaderKey, "", nil, nil).Code)

	// Closing takes it out of the box; the sender's status says closed.
	require.Equal(t, http.StatusNoContent, e.do(http.MethodPost, "/v1/inbox/"+id+"/close", readerKey, "", nil, nil).Code)
	assert.Equal(t, http.StatusNotFound, e.do(http.MethodPost, "/v1/inbox/"+id+"/close", readerKey, "", nil, nil).Code, "closed once")
	assert.Equal(t, http.StatusNotFound, e.do(http.MethodGet, "/v1/inbox/"+id+"/message", readerKey, "", nil, nil).Code)
	left, _ := e.inbox(readerKey, "")
	assert.Empty(t, left)
	st := e.waitStatus(boxSenderKey, id, "closed")
	evs := eventTypes(st)
	assert.Contains(t, evs, "fetched")
	assert.Contains(t, evs, "closed")

	// The audit log: one line per list, show and fetch, and the close, each naming the reader.
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	count := map[string]int{}
	for _, l := range testenv.JSONLines(t, b) {
		if l["role"] != "reader" {
			continue
		}
		assert.Contains(t, l["remote_addr"], "127.0.0.1:")
		if l["principal"] == "fv-other" {
			assert.Equal(t, "listed", l["action"], "the other reader's 404s are not audited")
			assert.Empty(t, l["submission_ids"], "the other reader's list is empty")
			continue
		}
		assert.Equal(t, "fv-musterstadt", l["principal"])
		count[l["action"].(string)]++
		if l["action"] == "listed" {
			assert.Contains(t, []any{[]any{}, []any{id}}, l["submission_ids"], "a list names what it showed")
			continue
		}
		assert.Equal(t, id, l["submission_id"])
	}
	assert.Equal(t, 1, count["viewed"], "the show")
	assert.Equal(t, 3, count["fetched"], "the message and two attachments")
	assert.Equal(t, 1, count["closed"])
	assert.Positive(t, count["listed"], "inbox lists")
}

// TestInboxPaging checks the order (oldest first), the pages and their
// next value, and the answers to bad paging parameters.
func TestInboxPaging(t *testing.T) {
	e := startDLQ(t, newReceiver(t, http.StatusOK), dlqOptions{})
	var ids []string
	for range 3 {
		id := e.submit(boxSenderKey)
		e.waitStatus(boxSenderKey, id, "delivered") // one after the other: a known order
		ids = append(ids, id)
	}
	page1, next := e.inbox(readerKey, "?limit=2")
	require.Len(t, page1, 2)
	require.NotEmpty(t, next)
	page2, last := e.inbox(readerKey, "?limit=2&after="+next)
	require.Len(t, page2, 1)
	assert.Empty(t, last, "no page after the last")
	var got []string
	for _, m := range append(page1, page2...) {
		got = append(got, m["submission_id"].(string))
	}
	assert.Equal(t, ids, got, "oldest first, each once")

	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?after=not-a-cursor", "?fetched=maybe"} {
		r := e.do(http.MethodGet, "/v1/inbox"+q, readerKey, "", nil, nil)
		assert.Equal(t, http.StatusBadRequest, r.Code, q)
		assert.Equal(t, "application/problem+json", r.Header.Get("Content-Type"), q)
	}
}

// TestInboxRateLimit checks that a reader over its rate limit gets 429 with Retry-After.
func TestInboxRateLimit(t *testing.T) {
	e := startDLQ(t, newReceiver(t, http.StatusOK), dlqOptions{})
	var codes []int
	var retry string
	for range 4 {
		r := e.do(http.MethodGet, "/v1/inbox", slowReaderKey, "", nil, nil)
		codes = append(codes, r.Code)
		if r.Code == http.StatusTooManyRequests {
			retry = r.Header.Get("Retry-After")
		}
	}
	assert.Contains(t, codes, http.StatusTooManyRequests, "%v", codes)
	assert.Equal(t, http.StatusOK, codes[0])
	assert.NotEmpty(t, retry)
}
