package hostile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// hcase is one crafted request and the answer it must get.
type hcase struct {
	name, about string
	// want is the status code, or 0 when the gateway must close the
	// connection without an answer.
	want int
	// typ is the slug of the problem type, or "-" when the answer is no
	// problem document (a success, or net/http's own plain answer).
	typ string
	// limitKey is the limit_key the problem must name, if any.
	limitKey string

	// An HTTP request: path (default /v1/submissions), content type
	// (default application/xml), extra headers and body.
	path, ctype string
	header      map[string]string
	body        []byte
	// Or an exchange on a raw TCP connection, for what an HTTP client
	// does not send.
	raw func(addr string) answer
	// slow marks cases that take seconds of wall time by design.
	slow bool
}

// answer is what the gateway answered.
type answer struct {
	status   int
	typ      string
	limitKey string
	limit    int64
	detail   string
	ctype    string
	body     []byte
	retry    string // the Retry-After header
	closed   bool   // the connection closed without an answer
	err      error
}

const problemBase = "https://github.com/drehscheibe/drehscheibe/blob/main/docs/problems.md#"

// loadCases reads test/hostile/cases/*.case. A case file is a header of
// "key: value" lines (about, want, and optionally path, content-type, encode,
// limit), an empty line, and the body as sent. In the body {{CANARY}} is the
// address of the canary listener and {{SECRET_FILE}} the path of the secret
// file; encode (utf-16le, utf-16be, utf-16le-bom, utf-16be-bom) transcodes
// the body, written in UTF-8, after that substitution.
func loadCases(t *testing.T, e *env) []hcase {
	files, err := filepath.Glob(filepath.Join("cases", "*.case"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no case files: %v", err)
	}
	var out []hcase
	for _, f := range files {
		out = append(out, parseCase(t, f, e))
	}
	return out
}

func parseCase(t *testing.T, file string, e *env) hcase {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	head, body, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		t.Fatalf("%s: no empty line after the header", file)
	}
	c := hcase{name: strings.TrimSuffix(filepath.Base(file), ".case")}
	encode := ""
	for _, line := range strings.Split(string(head), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("%s: header line %q is not key: value", file, line)
		}
		switch k {
		case "about":
			c.about = v
		case "want":
			code, typ, _ := strings.Cut(v, " ")
			c.want, err = strconv.Atoi(code)
			if err != nil || typ == "" {
				t.Fatalf("%s: want %q is not \"<status> <type>\"", file, v)
			}
			c.typ = typ
		case "path":
			c.path = v
		case "content-type":
			c.ctype = v
		case "encode":
			encode = v
		case "limit":
			c.limitKey = v
		default:
			t.Fatalf("%s: unknown header %q", file, k)
		}
	}
	if c.about == "" || c.want == 0 {
		t.Fatalf("%s: about and want are required", file)
	}
	body = bytes.ReplaceAll(body, []byte("{{CANARY}}"), []byte(e.canary.ln.Addr().String()))
	body = bytes.ReplaceAll(body, []byte("{{SECRET_FILE}}"), []byte(e.secret))
	switch encode {
	case "":
	case "utf-16le", "utf-16be", "utf-16le-bom", "utf-16be-bom":
		body = toUTF16(string(body), strings.HasPrefix(encode, "utf-16be"), strings.HasSuffix(encode, "-bom"))
	default:
		t.Fatalf("%s: unknown encode %q", file, encode)
	}
	c.body = body
	return c
}

func toUTF16(s string, bigEndian, bom bool) []byte {
	var b bytes.Buffer
	var order binary.ByteOrder = binary.LittleEndian
	if bigEndian {
		order = binary.BigEndian
	}
	if bom {
		_ = binary.Write(&b, order, uint16(0xFEFF))
	}
	for _, u := range utf16.Encode([]rune(s)) {
		_ = binary.Write(&b, order, u)
	}
	return b.Bytes()
}

const demoRoot = `<demo:antrag.einreichen.0100 xmlns:demo="urn:xoev-de:drehscheibe:standard:demo:1.0" standard="Demo" version="1.0"`

// multipartBody is a submission with the demo message and n parts named
// name, each of size bytes.
func multipartBody(n int, name string, size int) []byte {
	var b bytes.Buffer
	b.WriteString("--x\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\n" + demoRoot + "/>\r\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "--x\r\nContent-Disposition: form-data; name=%q; filename=\"f%d.pdf\"\r\n\r\n", name, i)
		b.Write(bytes.Repeat([]byte("P"), size))
		b.WriteString("\r\n")
	}
	b.WriteString("--x--\r\n")
	return b.Bytes()
}

// generated returns the cases too large for a file, and those that need a
// raw connection.
func generated() []hcase {
	var attrs, nsRoot, part bytes.Buffer
	for i := 0; i < 1000000; i++ {
		fmt.Fprintf(&attrs, ` a%d=""`, i)
	}
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&nsRoot, ` xmlns:p%d="urn:p:%d"`, i, i)
	}
	part.WriteString("--x\r\nContent-Disposition: form-data; name=\"message\"\r\n")
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&part, "X-H%d: v\r\n", i)
	}
	part.WriteString("\r\n" + demoRoot + "/>\r\n--x--\r\n")
	mp := "multipart/form-data; boundary=x"
	valid := []byte(demoRoot + "><demo:bemerkung>PERSONENDATEN</demo:bemerkung></demo:antrag.einreichen.0100>")

	return []hcase{
		{name: "deep-nesting-10000", about: "elements nested 10,000 levels deep", want: 400, typ: "forbidden-xml", limitKey: "limits.max_xml_depth",
			body: []byte(demoRoot + ">" + strings.Repeat("<demo:x>", 10000) + strings.Repeat("</demo:x>", 10000) + "</demo:antrag.einreichen.0100>")},
		{name: "attribute-10mb", about: "one attribute value of 10 MB", want: 400, typ: "forbidden-xml", limitKey: "limits.max_xml_attribute_bytes",
			body: []byte(demoRoot + ` x="` + strings.Repeat("PERSONENDATEN", 10<<20/13) + `"/>`)},
		{name: "attributes-1m", about: "a million attributes on the root (libxml2 compares each with each)", want: 400, typ: "forbidden-xml", limitKey: "limits.max_xml_attributes",
			body: []byte(demoRoot + attrs.String() + "/>")},
		{name: "namespaces-10000-on-root", about: "10,000 namespace declarations on the root", want: 400, typ: "forbidden-xml", limitKey: "limits.max_xml_attributes",
			body: []byte(demoRoot + nsRoot.String() + "/>")},
		{name: "namespaces-100000-nested", about: "100,000 nested elements declaring one namespace each", want: 400, typ: "forbidden-xml", limitKey: "limits.max_xml_namespaces",
			body: []byte(demoRoot + ">" + strings.Repeat(`<p:x xmlns:p="urn:p">`, 100000))},
		{name: "multipart-10000-attachments", about: "a multipart body with 10,000 attachment parts", want: 413, typ: "payload-too-large", limitKey: "server.max_attachments",
			ctype: mp, body: multipartBody(10000, "attachment", 10)},
		{name: "multipart-10000-unnamed-parts", about: "a multipart body with 10,000 parts without a known name", want: 400, typ: "bad-request",
			ctype: mp, body: multipartBody(10000, "", 10)},
		{name: "multipart-attachment-too-large", about: "one attachment beyond server.max_attachment_bytes", want: 413, typ: "payload-too-large", limitKey: "server.max_attachment_bytes",
			ctype: mp, body: multipartBody(1, "attachment", maxAttachmentBytes+1)},
		{name: "multipart-header-bomb", about: "a part with 20,000 header lines", want: 400, typ: "bad-request",
			ctype: mp, body: part.Bytes()},
		{name: "idempotency-key-huge", about: "an Idempotency-Key of 60 KB", want: 400, typ: "bad-request",
			header: map[string]string{"Idempotency-Key": strings.Repeat("k", 60000)}, body: valid},
		{name: "body-oversize-content-length", about: "a Content-Length of 17 MiB, refused before the body is read", want: 413, typ: "payload-too-large", limitKey: "server.max_body_bytes",
			raw: func(addr string) answer {
				return exchange(addr, requestHead("POST", "/v1/submissions", "application/xml", fmt.Sprintf("Content-Length: %d", 17<<20)), nil)
			}},
		{name: "body-oversize-chunked", about: "an 18 MiB chunked body without Content-Length", want: 413, typ: "payload-too-large", limitKey: "server.max_body_bytes",
			raw: func(addr string) answer {
				return exchange(addr, requestHead("POST", "/v1/submissions", "application/xml", "Transfer-Encoding: chunked"), func(w io.Writer) {
					chunk := bytes.Repeat([]byte("<a>PERSONENDATEN</a>"), 3200)
					for sent := 0; sent < 18<<20; sent += len(chunk) {
						if _, err := fmt.Fprintf(w, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
							return
						}
					}
					_, _ = io.WriteString(w, "0\r\n\r\n")
				})
			}},
		{name: "content-length-short", about: "a Content-Length shorter than the body: the document is cut", want: 400, typ: "malformed-xml",
			raw: func(addr string) answer {
				return exchange(addr, requestHead("POST", "/v1/submissions", "application/xml", fmt.Sprintf("Content-Length: %d", len(valid)-20)), func(w io.Writer) {
					_, _ = w.Write(valid)
				})
			}},
		{name: "content-length-long", about: "a Content-Length longer than the body, the connection held open", want: 408, typ: "request-timeout", slow: true,
			raw: func(addr string) answer {
				return exchange(addr, requestHead("POST", "/v1/submissions", "application/xml", fmt.Sprintf("Content-Length: %d", len(valid)+1000)), func(w io.Writer) {
					_, _ = w.Write(valid)
				})
			}},
		{name: "content-length-and-chunked", about: "both Content-Length and Transfer-Encoding: chunked (smuggling): chunked wins (RFC 9112), its empty body is refused", want: 400, typ: "bad-request",
			raw: func(addr string) answer {
				return exchange(addr, requestHead("POST", "/v1/submissions", "application/xml", "Content-Length: 4", "Transfer-Encoding: chunked"), func(w io.Writer) {
					_, _ = io.WriteString(w, "0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
				})
			}},
		{name: "content-length-twice", about: "two different Content-Length headers", want: 400, typ: "-",
			raw: func(addr string) answer {
				return exchange(addr, requestHead("POST", "/v1/submissions", "application/xml", "Content-Length: 10", "Content-Length: 20"), nil)
			}},
		{name: "content-length-negative", about: "a negative Content-Length", want: 400, typ: "-",
			raw: func(addr string) answer {
				return exchange(addr, requestHead("POST", "/v1/submissions", "application/xml", "Content-Length: -1"), nil)
			}},
		{name: "header-too-large", about: "a request header of 200 kB", want: 431, typ: "-",
			raw: func(addr string) answer {
				return exchange(addr, requestHead("POST", "/v1/submissions", "application/xml", "X-Big: "+strings.Repeat("b", 200<<10)), nil)
			}},
		{name: "slowloris-headers", about: "headers sent one line every 300 ms: cut off after server.read_header_timeout", want: 0, typ: "-", slow: true,
			raw: func(addr string) answer {
				return exchange(addr, "POST /v1/submissions HTTP/1.1\r\nHost: hostile\r\n", func(w io.Writer) {
					for i := 0; i < 30; i++ {
						if _, err := fmt.Fprintf(w, "X-Slow-%d: x\r\n", i); err != nil {
							return
						}
						time.Sleep(300 * time.Millisecond)
					}
				})
			}},
		{name: "slow-body", about: "a body sent 10 bytes every 300 ms: cut off after server.read_timeout", want: 408, typ: "request-timeout", slow: true,
			raw: func(addr string) answer {
				return exchange(addr, requestHead("POST", "/v1/submissions", "application/xml", fmt.Sprintf("Content-Length: %d", len(valid))), func(w io.Writer) {
					for i := 0; i < len(valid); i += 10 {
						if _, err := w.Write(valid[i:min(i+10, len(valid))]); err != nil {
							return
						}
						time.Sleep(300 * time.Millisecond)
					}
				})
			}},
	}
}

// requestHead is the start of a request with the API key, up to and with
// the empty line.
func requestHead(method, path, ctype string, extra ...string) string {
	h := method + " " + path + " HTTP/1.1\r\nHost: hostile\r\nAuthorization: Bearer " + apiKey + "\r\nContent-Type: " + ctype + "\r\n"
	for _, x := range extra {
		h += x + "\r\n"
	}
	return h + "\r\n"
}

// exchange writes head on a new connection, then body (in the background,
// so that the gateway may answer before it has read everything), and reads
// one answer (readAnswer). It gives up after 10 s.
func exchange(addr, head string, body func(io.Writer)) answer {
	return exchangeRead(addr, head, body, readAnswer)
}

// exchangeRead is exchange with read turning the response into an answer.
func exchangeRead(addr, head string, body func(io.Writer), read func(*http.Response) answer) answer {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return answer{err: err}
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		return answer{err: err}
	}
	if body != nil {
		go body(conn)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		var ne net.Error
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "connection reset") {
			return answer{closed: true}
		}
		if errors.As(err, &ne) && ne.Timeout() {
			return answer{err: fmt.Errorf("no answer and no close within 10 s")}
		}
		return answer{err: err}
	}
	defer res.Body.Close()
	return read(res)
}

// send posts an HTTP request case on a new connection. The body is written
// in the background, as exchange does: the gateway may answer (413, 400)
// before it has read all of it, and an HTTP client that insists on
// writing the whole body first would see a reset connection instead of the
// answer.
func send(addr string, c hcase) answer {
	path := c.path
	if path == "" {
		path = "/v1/submissions"
	}
	ctype := c.ctype
	if ctype == "" {
		ctype = "application/xml"
	}
	extra := []string{fmt.Sprintf("Content-Length: %d", len(c.body)), "Connection: close"}
	for k, v := range c.header {
		extra = append(extra, k+": "+v)
	}
	return exchange(addr, requestHead(http.MethodPost, path, ctype, extra...), func(w io.Writer) {
		_, _ = w.Write(c.body)
	})
}

func readAnswer(res *http.Response) answer {
	a := answer{status: res.StatusCode, ctype: res.Header.Get("Content-Type"), typ: "-", retry: res.Header.Get("Retry-After")}
	a.body, a.err = io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if strings.HasPrefix(a.ctype, "application/problem+json") {
		var p struct {
			Type     string `json:"type"`
			Detail   string `json:"detail"`
			Limit    int64  `json:"limit"`
			LimitKey string `json:"limit_key"`
		}
		if err := json.Unmarshal(a.body, &p); err != nil {
			a.err = fmt.Errorf("problem document: %v", err)
		}
		a.typ, a.detail, a.limit, a.limitKey = strings.TrimPrefix(p.Type, problemBase), p.Detail, p.Limit, p.LimitKey
	}
	return a
}

// String describes the answer for the table.
func (a answer) String() string {
	switch {
	case a.err != nil:
		return "error: " + a.err.Error()
	case a.closed:
		return "closed"
	}
	s := strconv.Itoa(a.status) + " " + a.typ
	if a.limitKey != "" {
		s += " (" + a.limitKey + ")"
	}
	return s
}

// sortCases orders file cases by name, then generated ones.
func sortCases(cs []hcase) {
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
}
