package xtaserver_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// TestXTAIsAudited checks that every call that hands in, reads or changes a
// message writes one audit line naming the action, the party, the
// submission and the address — sendMessage, getStatusList (one line per
// list, with the ids it showed), getMessage, getTransportReport, close and
// cancelMessage — and that refused calls write none.
func TestXTAIsAudited(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.log")
	e := start(t, fmt.Sprintf("log: {audit_file: %q}\n", file))
	readerHold := xta.PartyIdentifier{Value: "ags:05555000", Type: "xoev"}
	require.NoError(t, e.send("audit-1", readerB, e.demoFor("ags:07777000")))
	fault(t, e.send("audit-2", readerA, e.demoFor("ags:12345678")), "9032")
	b := xta.AuthorHeader(readerB)
	require.Eventually(t, func() bool {
		_, err := e.call("fachverfahren-b", xta.OpGetMessage, b, fetchByID("audit-1"))
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "the message reaches B's box")
	_, err := e.call("fachverfahren-c", xta.OpGetMessage, xta.AuthorHeader(readerC), fetchByID("audit-1"))
	fault(t, err, "9070")
	_, err = e.call("fachverfahren-b", xta.OpGetStatusList, b, statusList(0, "MessageMetaData", nil))
	require.NoError(t, err)
	_, err = e.call("fachverfahren-c", xta.OpGetStatusList, xta.AuthorHeader(readerC), statusList(0, "MessageMetaData", nil))
	require.NoError(t, err, "an empty list is a list too")
	report := func(w *xta.Writer) { w.Elem("wsa:MessageID", "audit-1") }
	_, err = e.call("portal", xta.OpGetTransportReport, xta.AuthorHeader(portal), report)
	require.NoError(t, err)
	_, err = e.call("fachverfahren-c", xta.OpGetTransportReport, xta.AuthorHeader(readerC), report)
	fault(t, err, "9070")
	_, err = e.call("fachverfahren-c", xta.OpClose, xta.AuthorHeader(readerC), closeReq("1", "audit-1"))
	fault(t, err, "9070")
	_, err = e.call("fachverfahren-b", xta.OpClose, b, closeReq("1", "audit-1"))
	require.NoError(t, err)
	require.NoError(t, e.send("audit-3", readerHold, e.demoFor("ags:05555000")))
	_, err = e.call("portal", xta.OpCancelMessage, xta.AuthorHeader(portal), func(w *xta.Writer) { w.Elem("wsa:MessageID", "audit-3") })
	require.NoError(t, err)

	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "Mustermann", "no message content")
	lines := testenv.JSONLines(t, raw)
	want := []struct{ action, principal string }{
		{"submitted", "efa:demo-portal"}, {"fetched", "ags:07777000"}, {"listed", "ags:07777000"}, {"listed", "ags:06666000"},
		{"viewed", "efa:demo-portal"}, {"closed", "ags:07777000"}, {"submitted", "efa:demo-portal"}, {"cancelled", "efa:demo-portal"},
	}
	require.Len(t, lines, len(want), "one line per accepted call, none for refused ones: %s", raw)
	sub := lines[0]["submission_id"]
	assert.NotEmpty(t, sub)
	for i, w := range want {
		l := lines[i]
		assert.Equal(t, w.action, l["action"], "line %d", i+1)
		assert.Equal(t, w.principal, l["principal"], "line %d", i+1)
		assert.Equal(t, "xta-party", l["role"])
		assert.True(t, strings.HasPrefix(l["remote_addr"].(string), "127.0.0.1:"), "remote_addr %v", l["remote_addr"])
		switch {
		case w.action == "listed":
			assert.Nil(t, l["submission_id"], "a list names its submissions in submission_ids")
		case i < 6:
			assert.Equal(t, sub, l["submission_id"], "line %d is about audit-1", i+1)
		default:
			assert.Equal(t, lines[6]["submission_id"], l["submission_id"], "line %d is about audit-3", i+1)
		}
	}
	assert.Equal(t, []any{sub}, lines[2]["submission_ids"])
	assert.Equal(t, float64(1), lines[2]["count"])
	assert.Equal(t, []any{}, lines[3]["submission_ids"])
	assert.Equal(t, float64(0), lines[3]["count"])
}
