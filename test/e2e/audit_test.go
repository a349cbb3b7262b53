package e2e

import (
	"bytes"
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

// TestAuditLog checks that submitting, reading the status, reading dead
// letters (details and lists), replaying and discarding each write exactly
// one audit line naming who, what, when and from where, that refused
// requests write none, and that no line carries message content.
func TestAuditLog(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.log")
	rcv := newReceiver(t, http.StatusBadRequest) // every delivery is refused for good: a dead letter at once
	e := startDLQ(t, rcv, dlqOptions{auditFile: file})
	const marker = "Auditmarkerfrau"
	msg := bytes.Replace(demoMessage(t), []byte("<demo:vorname>Erika</demo:vorname>"), []byte("<demo:vorname>"+marker+"</demo:vorname>"), 1)
	require.Contains(t, string(msg), marker)

	lines := func() []map[string]any {
		t.Helper()
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		assert.NotContains(t, string(b), marker, "no message content in the audit log")
		assert.NotContains(t, string(b), "Mustermann", "no message content in the audit log")
		return testenv.JSONLines(t, b)
	}
	// waitDeadLetter polls the admin view; only the answer 200 is audited.
	waitDeadLetter := func(id string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
			if e.do(http.MethodGet, "/v1/admin/deadletters/"+id, adminKey, "", nil, nil).Code == http.StatusOK {
				return
			}
		}
		t.Fatalf("no dead letter %s within 20s", id)
	}
	check := func(n int, action, role, who, id string) {
		t.Helper()
		ls := lines()
		require.Len(t, ls, n, "one line per action: %v", ls)
		l := ls[n-1]
		assert.Equal(t, "audit", l["log"])
		assert.Equal(t, action, l["action"])
		assert.Equal(t, role, l["role"])
		assert.Equal(t, who, l["principal"])
		if action == "listed" {
			assert.Equal(t, []any{id}, l["submission_ids"])
			assert.Equal(t, float64(1), l["count"])
		} else {
			assert.Equal(t, id, l["submission_id"])
		}
		assert.True(t, strings.HasPrefix(l["remote_addr"].(string), "127.0.0.1:"), "remote_addr %v", l["remote_addr"])
		assert.NotEmpty(t, l["request_id"])
		ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", l["ts"].(string))
		require.NoError(t, err)
		assert.WithinDuration(t, time.Now(), ts, time.Minute)
	}

	r := e.submitXML(msg, portalKey, nil)
	require.Equal(t, http.StatusAccepted, r.Code, string(r.Body))
	id := r.JSON["id"].(string)
	check(1, "submitted", "sender", "portal", id)

	// Refused requests are no actions.
	assert.Equal(t, http.StatusUnauthorized, e.submitXML(msg, "", nil).Code)
	assert.Equal(t, http.StatusNotFound, e.do(http.MethodGet, "/v1/submissions/"+id, dropKey, "", nil, nil).Code)
	assert.Len(t, lines(), 1)

	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/submissions/"+id, portalKey, "", nil, nil).Code)
	check(2, "viewed", "sender", "portal", id)

	waitDeadLetter(id)
	check(3, "viewed", "admin", "ops", id)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/v1/admin/deadletters", adminKey, "", nil, nil).Code)
	check(4, "listed", "admin", "ops", id)
	require.Equal(t, http.StatusAccepted, e.do(http.MethodPost, "/v1/admin/deadletters/"+id+"/replay", adminKey, "", nil, nil).Code)
	check(5, "replayed", "admin", "ops", id)
	assert.Equal(t, "fv", lines()[4]["target"])

	waitDeadLetter(id) // the receiver still refuses
	check(6, "viewed", "admin", "ops", id)
	require.Equal(t, http.StatusNoContent, e.do(http.MethodDelete, "/v1/admin/deadletters/"+id, adminKey, "", nil, nil).Code)
	check(7, "discarded", "admin", "ops", id)
}
