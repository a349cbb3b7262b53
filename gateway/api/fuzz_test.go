package api

import (
	"bytes"
	"io/fs"
	"mime"
	"mime/multipart"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drehscheibe/drehscheibe/gateway/problem"
)

// fuzzLimits are small so that the fuzzer reaches them.
var fuzzLimits = Limits{MaxBodyBytes: 1 << 20, MaxAttachments: 3, MaxAttachmentBytes: 64}

// multipartSeeds returns the multipart bodies of test/hostile/cases with
// their boundaries, and a few written here.
func multipartSeeds(t testing.TB) (bodies [][]byte, boundaries []string) {
	add := func(body []byte, boundary string) {
		bodies, boundaries = append(bodies, body), append(boundaries, boundary)
	}
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("message", `<a xmlns="urn:x"/>`)
	_ = w.WriteField("metadata", `{"service":"urn:s"}`)
	fw, _ := w.CreateFormFile("attachment", `..\..\x/lageplan.pdf`)
	_, _ = fw.Write([]byte("%PDF-1.4\x00"))
	_ = w.Close()
	add(b.Bytes(), w.Boundary())
	add([]byte("--x\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\n<a/>\r\n--x--\r\n"), "x")

	dir := filepath.Join("..", "..", "test", "hostile", "cases")
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".case") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		head, body, _ := bytes.Cut(data, []byte("\n\n"))
		for _, line := range strings.Split(string(head), "\n") {
			if ct, ok := strings.CutPrefix(line, "content-type: "); ok {
				if _, params, err := mime.ParseMediaType(ct); err == nil {
					add(body, params["boundary"])
				}
			}
		}
		return nil
	})
	return bodies, boundaries
}

// FuzzMultipart checks that the multipart reader never panics, answers
// either a request or a problem of its own kinds, and that a request it
// accepts keeps the limits and carries only safe attachment names.
func FuzzMultipart(f *testing.F) {
	bodies, boundaries := multipartSeeds(f)
	for i := range bodies {
		f.Add(bodies[i], boundaries[i])
	}
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		if boundary == "" {
			return // refused before the reader runs
		}
		req, p := readMultipart(bytes.NewReader(body), boundary, fuzzLimits, int64(len(body)))
		if (req == nil) == (p == nil) {
			t.Fatalf("request %v and problem %v", req, p)
		}
		if p != nil {
			if p.Type != problem.BadRequest && p.Type != problem.TooLarge {
				t.Fatalf("unexpected problem %s: %s", p.Type.Slug, p.Detail)
			}
			return
		}
		if len(req.Message) == 0 || req.RequestSHA256 == "" {
			t.Fatalf("accepted without a message: %+v", req)
		}
		if len(req.Attachments) > fuzzLimits.MaxAttachments {
			t.Fatalf("%d attachments", len(req.Attachments))
		}
		for i, a := range req.Attachments {
			if int64(len(a.Data)) > fuzzLimits.MaxAttachmentBytes {
				t.Fatalf("attachment %d has %d bytes", i, len(a.Data))
			}
			if a.Name == "" || a.Name == ".." || strings.ContainsAny(a.Name, "/\\") || strings.ContainsFunc(a.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("attachment name %q", a.Name)
			}
			if a.ContentType == "" {
				t.Fatalf("attachment %d without content type", i)
			}
		}
	})
}
