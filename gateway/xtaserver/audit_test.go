package xtaserver_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
)

// TestXTAIsAudited checks that an accepted sendMessage, a getMessage and
// a close each write one audit line naming the party and its address, and
// that refused calls write none.
func TestXTAIsAudited(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.log")
	e := start(t, fmt.Sprintf("log: {audit_file: %q}\n", file))
	require.NoError(t, e.send("audit-1", readerB, e.demoFor("ags:07777000")))
	fault(t, e.send("audit-2", readerA, e.demoFor("ags:12345678")), "9032")
	b := xta.AuthorHeader(readerB)
	require.Eventually(t, func() bool {
		_, err := e.call("fachverfahren-b", xta.OpGetMessage, b, fetchByID("audit-1"))
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "the message reaches B's box")
	_, err := e.call("fachverfahren-c", xta.OpGetMessage, xta.AuthorHeader(readerC), fetchByID("audit-1"))
	fault(t, err, "9070")
	_, err = e.call("fachverfahren-c", xta.OpClose, xta.AuthorHeader(readerC), closeReq("1", "audit-1"))
	fault(t, err, "9070")
	_, err = e.call("fachverfahren-b", xta.OpClose, b, closeReq("1", "audit-1"))
	require.NoError(t, err)

	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "Mustermann", "no message content")
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	require.Len(t, lines, 3, "one line per accepted call, none for refused ones: %s", raw)
	var sent, fetched, closed map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &sent))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &fetched))
	require.NoError(t, json.Unmarshal([]byte(lines[2]), &closed))
	assert.Equal(t, "submitted", sent["action"])
	assert.Equal(t, "xta-party", sent["role"])
	assert.Equal(t, "efa:demo-portal", sent["principal"])
	assert.NotEmpty(t, sent["submission_id"])
	assert.Equal(t, "fetched", fetched["action"])
	assert.Equal(t, "ags:07777000", fetched["principal"])
	assert.Equal(t, sent["submission_id"], fetched["submission_id"])
	assert.Equal(t, "closed", closed["action"])
	assert.Equal(t, "ags:07777000", closed["principal"])
	assert.Equal(t, sent["submission_id"], closed["submission_id"])
	for _, l := range []map[string]any{sent, fetched, closed} {
		assert.True(t, strings.HasPrefix(l["remote_addr"].(string), "127.0.0.1:"), "remote_addr %v", l["remote_addr"])
	}
}
