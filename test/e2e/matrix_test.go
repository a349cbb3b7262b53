package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAccessMatrix walks every REST endpoint with every kind of caller and
// asserts the status: no credentials, an unknown key, another sender,
// another reader, an admin, and the right principal (the sender of the
// submission, the reader of the message, or the admin).
func TestAccessMatrix(t *testing.T) {
	rcv := newReceiver(t, http.StatusBadRequest) // deliveries fail for good: dead letters to act on
	e := startDLQ(t, rcv, dlqOptions{})
	id := e.submit(portalKey)
	waitDL := func() {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
			if e.do(http.MethodGet, "/v1/admin/deadletters/"+id, adminKey, "", nil, nil).Code == http.StatusOK {
				return
			}
		}
		t.Fatalf("no dead letter %s", id)
	}
	waitDL()
	msg := demoMessage(t)
	// A message in the box of readerKey, with an attachment.
	body, ctype := multipartSubmission(msg, map[string][]byte{"lageplan.pdf": []byte("%PDF-1.4 matrix")})
	sub := e.do(http.MethodPost, "/v1/submissions", boxSenderKey, ctype, body, nil)
	require.Equal(t, http.StatusAccepted, sub.Code, string(sub.Body))
	bid := sub.JSON["id"].(string)
	e.waitInbox(readerKey, 1)

	const (
		none  = ""
		wrong = "not-a-configured-key-0123456789"
	)
	callers := []struct{ name, key string }{
		{"no credentials", none}, {"unknown key", wrong}, {"other sender", extSenderKey}, {"other reader", otherReaderKey},
		{"admin", adminKey}, {"right principal", ""},
	}
	type row struct {
		method, path string
		body         []byte
		// right is the principal the endpoint is for: portalKey, readerKey
		// or adminKey; for adminKey the last column is portalKey.
		right string
		// want per caller, in the order of callers.
		want [6]int
		// before runs before the right principal's call (e.g. wait for a dead letter).
		before func()
	}
	const (
		u    = http.StatusUnauthorized
		f    = http.StatusForbidden
		nf   = http.StatusNotFound
		ok   = http.StatusOK
		acc  = http.StatusAccepted
		gone = http.StatusNoContent
	)
	dl := "/v1/admin/deadletters/" + id
	in := "/v1/inbox/" + bid
	rows := []row{
		// Any sender may submit and validate its own messages; "other sender" here is a sender too.
		{method: http.MethodPost, path: "/v1/submissions", body: msg, right: portalKey, want: [6]int{u, u, acc, f, f, acc}},
		{method: http.MethodPost, path: "/v1/validate", body: msg, right: portalKey, want: [6]int{u, u, ok, f, f, ok}},
		// Another sender's submission is as absent as a missing one.
		{method: http.MethodGet, path: "/v1/submissions/" + id, right: portalKey, want: [6]int{u, u, nf, f, f, ok}},
		// Any reader may list its inbox; another reader's lists none of readerKey's messages
		// (TestInboxOverREST), and another reader's message is as absent as a missing one.
		{method: http.MethodGet, path: "/v1/inbox", right: readerKey, want: [6]int{u, u, f, ok, f, ok}},
		{method: http.MethodGet, path: in, right: readerKey, want: [6]int{u, u, f, nf, f, ok}},
		{method: http.MethodGet, path: in + "/message", right: readerKey, want: [6]int{u, u, f, nf, f, ok}},
		{method: http.MethodGet, path: in + "/attachments/1", right: readerKey, want: [6]int{u, u, f, nf, f, ok}},
		{method: http.MethodPost, path: in + "/close", right: readerKey, want: [6]int{u, u, f, nf, f, gone}},
		{method: http.MethodGet, path: "/v1/admin/deadletters", right: adminKey, want: [6]int{u, u, f, f, ok, f}},
		{method: http.MethodGet, path: dl, right: adminKey, want: [6]int{u, u, f, f, ok, f}},
		{method: http.MethodPost, path: dl + "/replay", right: adminKey, want: [6]int{u, u, f, f, acc, f}},
		{method: http.MethodDelete, path: dl, right: adminKey, want: [6]int{u, u, f, f, gone, f}, before: waitDL},
		// Public endpoints.
		{method: http.MethodGet, path: "/healthz", want: [6]int{ok, ok, ok, ok, ok, ok}},
		{method: http.MethodGet, path: "/readyz", want: [6]int{ok, ok, ok, ok, ok, ok}},
		{method: http.MethodGet, path: "/openapi.json", want: [6]int{ok, ok, ok, ok, ok, ok}},
		{method: http.MethodGet, path: "/metrics", want: [6]int{ok, ok, ok, ok, ok, ok}},
	}
	for _, r := range rows {
		// The right principal goes last: its call may change the state (a replay, a discard, a close).
		order := []int{0, 1, 2, 3, 4, 5}
		if r.right == adminKey {
			order = []int{0, 1, 2, 3, 5, 4}
		}
		for _, i := range order {
			c := callers[i]
			if i == 5 {
				c.key = portalKey
				if r.right == readerKey {
					c.key = readerKey
				}
			}
			if c.key == r.right && r.before != nil {
				r.before()
			}
			ctype := ""
			if r.body != nil {
				ctype = "application/xml"
			}
			res := e.do(r.method, r.path, c.key, ctype, r.body, nil)
			assert.Equal(t, r.want[i], res.Code, "%s %s as %s: %s", r.method, r.path, c.name, res.Body)
			if res.Code == u {
				assert.NotEmpty(t, res.Header.Get("WWW-Authenticate"), "%s %s as %s", r.method, r.path, c.name)
			}
		}
	}

	// The 404 for another sender's submission is the 404 of one that does not exist.
	other := e.do(http.MethodGet, "/v1/submissions/"+id, extSenderKey, "", nil, nil)
	missing := "01900000-0000-7000-8000-000000000000"
	absent := e.do(http.MethodGet, "/v1/submissions/"+missing, extSenderKey, "", nil, nil)
	require.Equal(t, nf, other.Code)
	require.Equal(t, nf, absent.Code)
	assert.Equal(t, strings.ReplaceAll(string(absent.Body), missing, id),
		strings.ReplaceAll(string(other.Body), other.JSON["request_id"].(string), absent.JSON["request_id"].(string)))
}
