package hostile

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeFirst sends head and body the way many HTTP clients do (Java's
// HttpURLConnection with a fixed length, scripts that stream a file): the
// whole request first, the answer only after the last byte. A write that
// fails is the client's error, as it would be for such a client.
func writeFirst(addr, head string, body []byte, read func(*http.Response) answer) answer {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return answer{err: err}
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write(append([]byte(head), body...)); err != nil {
		return answer{err: fmt.Errorf("writing the request: %w", err)}
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return answer{err: fmt.Errorf("reading the answer: %w", err)}
	}
	defer res.Body.Close()
	return read(res)
}

// TestRefusalReachesWriteFirstClient sends requests that are refused after
// the first part of their body — far more body than the sockets buffer
// (12 MB) still behind the refusal, but within the size limits — from a
// client that writes everything before it reads. The gateway reads the rest
// before it answers, so the client gets the problem document or the SOAP
// fault instead of a reset connection.
func TestRefusalReachesWriteFirstClient(t *testing.T) {
	t.Run("REST multipart with 10,000 attachments", func(t *testing.T) {
		e := start(t)
		body := multipartBody(10000, "attachment", 1200)
		require.Greater(t, len(body), 12<<20)
		head := requestHead(http.MethodPost, "/v1/submissions", "multipart/form-data; boundary=x", fmt.Sprintf("Content-Length: %d", len(body)))
		begin := time.Now()
		a := writeFirst(e.addr, head, body, readAnswer)
		t.Logf("answered in %v", time.Since(begin))
		require.NoError(t, a.err)
		assert.Equal(t, http.StatusRequestEntityTooLarge, a.status, "%s", a.body)
		assert.Equal(t, "payload-too-large", a.typ)
		assert.Equal(t, "server.max_attachments", a.limitKey)
	})
	t.Run("XTA MTOM with 10,000 parts", func(t *testing.T) {
		e, _ := startXTA(t, "16MiB")
		padding := []byte(strings.Repeat("A", 1200))
		body := rootPart(sendMessage(include)) + strings.Repeat(binaryPart("antrag@client", padding), 10000) + "--b--\r\n"
		require.Greater(t, len(body), 12<<20)
		begin := time.Now()
		a := writeFirst(e.addr, xtaHead(mtomType, len(body)), []byte(body), readFault)
		t.Logf("answered in %v", time.Since(begin))
		require.NoError(t, a.err)
		assert.Equal(t, http.StatusBadRequest, a.status)
		assert.Equal(t, "fault 9022", a.typ)
		assert.Contains(t, a.detail, "more than 1000 parts")
	})
}
