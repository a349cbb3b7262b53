package xtaserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/gateway/config"
)

// readerKey is the REST reader of B's box (ags:07777000), restReaderC of C's.
const (
	readerKey   = "xta-test-reader-b-key-0123456789"
	restReaderC = "xta-test-reader-c-key-0123456789"
)

func readersYAML() string {
	return `readers:
  - {name: fv-b, identifiers: ["ags:07777000"], api_key_sha256: ` + config.HashAPIKey(readerKey) + `}
  - {name: fv-c, identifiers: ["ags:06666000"], api_key_sha256: ` + config.HashAPIKey(restReaderC) + `}
`
}

// rest calls the REST API of the gateway with key.
func (e *env) rest(method, path, key string, body io.Reader) (int, []byte, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, "http://"+e.g.Addr()+path, body)
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/xml")
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return res.StatusCode, b, res.Header
}

// inbox lists the REST inbox of key.
func (e *env) inbox(key string) []map[string]any {
	e.t.Helper()
	code, b, _ := e.rest(http.MethodGet, "/v1/inbox", key, nil)
	require.Equal(e.t, http.StatusOK, code, string(b))
	var l struct {
		Messages []map[string]any `json:"messages"`
	}
	require.NoError(e.t, json.Unmarshal(b, &l))
	return l.Messages
}

// TestBoxesSharedWithREST checks that the XTA message boxes and the REST
// inbox are one: a message sent over XTA is listed and fetched byte for
// byte over REST under its XTA message id, the REST fetch shows in the XTA
// status list, and an XTA close empties the REST inbox; a message
// submitted over REST is fetched over XTA and closed over REST.
func TestBoxesSharedWithREST(t *testing.T) {
	e := start(t, readersYAML())
	msg := e.demoFor("ags:07777000")
	pdf := xta.Content{ContentType: "application/pdf", Filename: "plan.pdf", ID: "anlage1", Data: []byte("%PDF-1.4\x00\xff shared")}
	require.NoError(t, e.send("shared-1", readerB, msg, pdf))
	var ms []map[string]any
	require.Eventually(t, func() bool { ms = e.inbox(readerKey); return len(ms) == 1 }, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, "shared-1", ms[0]["message_id"], "the XTA message id")
	assert.Empty(t, e.inbox(restReaderC), "C's reader sees nothing of B's box")
	id := ms[0]["submission_id"].(string)
	code, got, _ := e.rest(http.MethodGet, "/v1/inbox/"+id+"/message", readerKey, nil)
	require.Equal(t, http.StatusOK, code, string(got))
	assert.Equal(t, msg, got)
	code, got, _ = e.rest(http.MethodGet, "/v1/inbox/"+id+"/attachments/1", readerKey, nil)
	require.Equal(t, http.StatusOK, code, string(got))
	assert.Equal(t, pdf.Data, got)

	// XTA sees the REST fetch, and closes the message for both.
	b := xta.AuthorHeader(readerB)
	env, err := e.call("fachverfahren-b", xta.OpGetStatusList, b, statusList(0, "MessageMetaData", nil))
	require.NoError(t, err)
	require.Len(t, env.Body.MsgStatusList.MetaData, 1)
	assert.NotEmpty(t, env.Body.MsgStatusList.MetaData[0].DeliveryAttributes.InitialFetch, "fetched over REST")
	_, err = e.call("fachverfahren-b", xta.OpClose, b, closeReq("1", "shared-1"))
	require.NoError(t, err)
	assert.Empty(t, e.inbox(readerKey))
	code, _, _ = e.rest(http.MethodGet, "/v1/inbox/"+id, readerKey, nil)
	assert.Equal(t, http.StatusNotFound, code)

	// Submitted over REST into C's box: fetched over XTA, closed over REST.
	code, body, _ := e.rest(http.MethodPost, "/v1/submissions", restKey, strings.NewReader(string(e.demoFor("ags:06666000"))))
	require.Equal(t, http.StatusAccepted, code, string(body))
	var sub struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &sub))
	require.Eventually(t, func() bool { ms = e.inbox(restReaderC); return len(ms) == 1 }, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, sub.ID, ms[0]["submission_id"])
	mid := ms[0]["message_id"].(string)
	assert.Equal(t, "urn:de:xta:messageid:drehscheibe-test:"+sub.ID, mid)
	env, err = e.call("fachverfahren-c", xta.OpGetMessage, xta.AuthorHeader(readerC), fetchByID(mid))
	require.NoError(t, err)
	assert.Equal(t, e.demoFor("ags:06666000"), env.Body.Container.ContentContainer.Message.Data)
	assert.NotNil(t, e.inbox(restReaderC)[0]["fetched_at"], "fetched over XTA")
	code, _, _ = e.rest(http.MethodPost, "/v1/inbox/"+sub.ID+"/close", readerKey, nil)
	assert.Equal(t, http.StatusNotFound, code, "B's reader cannot close C's message")
	code, _, _ = e.rest(http.MethodPost, "/v1/inbox/"+sub.ID+"/close", restReaderC, nil)
	require.Equal(t, http.StatusNoContent, code)
	_, err = e.call("fachverfahren-c", xta.OpClose, xta.AuthorHeader(readerC), closeReq("1", mid))
	fault(t, err, "9070") // closed already
	code, body, _ = e.rest(http.MethodGet, "/v1/submissions/"+sub.ID, restKey, nil)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(body), `"status": "closed"`)
}
