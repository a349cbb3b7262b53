package api

import (
	"bytes"
	"mime/multipart"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/gateway/problem"
)

func body(t *testing.T, attachments ...string) ([]byte, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	require.NoError(t, w.WriteField("message", `<a xmlns="urn:x"/>`))
	for i, a := range attachments {
		fw, err := w.CreateFormFile("attachment", strings.Repeat("../", i)+"f.pdf")
		require.NoError(t, err)
		_, _ = fw.Write([]byte(a))
	}
	require.NoError(t, w.Close())
	return b.Bytes(), w.Boundary()
}

func TestMultipartLimits(t *testing.T) {
	lim := Limits{MaxBodyBytes: 1 << 20, MaxAttachments: 2, MaxAttachmentBytes: 4}
	b, bd := body(t, "1234", "abcd")
	req, p := readMultipart(bytes.NewReader(b), bd, lim, int64(len(b)))
	require.Nil(t, p)
	require.Len(t, req.Attachments, 2)
	assert.Equal(t, "f.pdf", req.Attachments[1].Name, "path elements are dropped")

	for _, tc := range []struct {
		name  string
		lim   Limits
		atts  []string
		key   string
		limit any
	}{
		{"one attachment too many", lim, []string{"1", "2", "3"}, "server.max_attachments", 2},
		{"no attachment allowed", Limits{MaxBodyBytes: 1 << 20, MaxAttachments: 0, MaxAttachmentBytes: 4}, []string{"1"}, "server.max_attachments", 0},
		{"one byte too many", lim, []string{"12345"}, "server.max_attachment_bytes", int64(4)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, bd := body(t, tc.atts...)
			req, p := readMultipart(bytes.NewReader(b), bd, tc.lim, int64(len(b)))
			require.Nil(t, req)
			require.NotNil(t, p)
			assert.Equal(t, problem.TooLarge, p.Type)
			assert.Equal(t, tc.key, p.Ext["limit_key"])
			assert.Equal(t, tc.limit, p.Ext["limit"])
		})
	}
}
