// Package e2e starts the real gateway (embedded NATS in a temp dir, the real
// schemas from ../shared/xoev, the real HTTP handler on loopback, the filedrop
// adapter) and drives it over HTTP the way an EfA provider would.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/drehscheibe/drehscheibe/test/testenv"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/drehscheibe/drehscheibe/adapters/filedrop"
	"github.com/drehscheibe/drehscheibe/gateway"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/test/gatewaytest"
)

const (
	portalKey = "e2e-portal-key-0123456789"
	otherKey  = "e2e-other-key-0123456789"
	// limitedKey is a sender allowed only readers that match nobody-*.
	limitedKey = "e2e-limited-key-0123456789"
	// slowKey is a sender limited to 1 request a second, 2 at once.
	slowKey = "e2e-slow-key-0123456789"
)

// env is one running gateway.
type env struct {
	t       *testing.T
	base    string
	outbox  string // production filedrop dir
	testbox string // test filedrop dir
	g       *gateway.Gateway
	logs    *testenv.LogBuffer
}

func start(t *testing.T) *env {
	root := testenv.RepoRoot(t)
	tmp := t.TempDir()
	e := &env{t: t, outbox: filepath.Join(tmp, "outbox"), testbox: filepath.Join(tmp, "testbox")}
	yaml := fmt.Sprintf(`
server:
  listen: 127.0.0.1:0
  max_body_bytes: 8MiB
nats:
  data_dir: %q
schemas:
  dirs: [%q, %q]
senders:
  - name: e2e-portal
    api_key_sha256: %s
    allow: {standards: ["*"], message_types: ["*"], readers: ["*"]}
  - name: other-portal
    api_key_sha256: %s
  - name: limited-portal
    api_key_sha256: %s
    allow: {message_types: ["antrag.*"], readers: ["nobody-*"]}
  - name: slow-portal
    api_key_sha256: %s
    rate_limit: {per_second: 1, burst: 2}
targets:
  - name: fachverfahren
    type: filedrop
    options: {dir: %q}
  - name: testsystem
    type: filedrop
    test: true
    options: {dir: %q}
routes:
  - name: from-e2e-portal
    match: {sender: e2e-portal}
    target: fachverfahren
    test_target: testsystem
`, filepath.Join(tmp, "nats"), filepath.Join(root, "schemas", "demo"), testenv.Shared(t, "xoev"),
		config.HashAPIKey(portalKey), config.HashAPIKey(otherKey), config.HashAPIKey(limitedKey), config.HashAPIKey(slowKey), e.outbox, e.testbox)
	e.logs = &testenv.LogBuffer{}
	e.g = gatewaytest.Start(t, yaml, e.logs)
	e.base = "http://" + e.g.Addr()
	return e
}

type response struct {
	Code   int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

func (e *env) do(method, path, key, ctype string, body []byte, hdr map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	require.NoError(e.t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	r := response{Code: res.StatusCode, Header: res.Header, Body: b}
	_ = json.Unmarshal(b, &r.JSON)
	assert.NotEmpty(e.t, res.Header.Get("X-Request-ID"), "every response carries X-Request-ID")
	return r
}

func (e *env) submitXML(doc []byte, key string, hdr map[string]string) response {
	return e.do(http.MethodPost, "/v1/submissions", key, "application/xml", doc, hdr)
}

// delivered waits until the filedrop of dir holds submission id and returns its message bytes.
func (e *env) delivered(dir, id string) []byte {
	e.t.Helper()
	p := filepath.Join(dir, id, "message.xml")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(p); err == nil {
			return b
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("submission %s not delivered to %s within 30s", id, dir)
	return nil
}

// realMessages lists every real message instance in ../shared/xoev.
func realMessages(t *testing.T) []string {
	root := testenv.Shared(t, "xoev")
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".xml") || d.Name() == "catalog.xml" {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		inMsgDir := false
		for _, s := range parts {
			switch s {
			case "codelists", "codelists-xdomea_toolkit", "crates":
				return nil
			case "tests", "examples":
				inMsgDir = true
			}
		}
		if inMsgDir {
			out = append(out, p)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

func TestRealMessagesEndToEnd(t *testing.T) {
	e := start(t)
	files := realMessages(t)
	require.GreaterOrEqual(t, len(files), 35, "the real corpus shrank")
	invalid := map[string]bool{"monitoring_plan_minimal.xml": true, "monitoring_plan_maximal.xml": true}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			doc, err := os.ReadFile(f)
			require.NoError(t, err)
			r := e.submitXML(doc, portalKey, nil)
			if invalid[name] {
				require.Equal(t, http.StatusUnprocessableEntity, r.Code, string(r.Body))
				assert.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
				assert.Contains(t, r.JSON["type"], "schema-violation")
				errs, _ := r.JSON["errors"].([]any)
				require.NotEmpty(t, errs)
				for _, x := range errs {
					assert.Greater(t, x.(map[string]any)["line"].(float64), 0.0, "every error has a line")
				}
				return
			}
			require.Equal(t, http.StatusAccepted, r.Code, string(r.Body))
			id := r.JSON["id"].(string)
			assert.Equal(t, e.base+"/v1/submissions/"+id, r.Header.Get("Location"))
			facts := r.JSON["facts"].(map[string]any)
			assert.NotEmpty(t, facts["standard"])
			assert.NotEmpty(t, facts["message_type"])
			dir := e.outbox
			if facts["test"] == true {
				dir = e.testbox
			}
			assert.Equal(t, doc, e.delivered(dir, id), "delivered byte-identical")
		})
	}
	// They were validated on the lower-priority workers (decision 0005).
	assert.Regexp(t, `"msg":"validation workers started","workers":[1-9][0-9]*,"nice":10`, e.logs.String())
}

func TestRefusals(t *testing.T) {
	e := start(t)
	root := testenv.RepoRoot(t)
	demo := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(root, "examples", "demo", name))
		require.NoError(t, err)
		return b
	}
	valid := demo("antrag-valid.xml")

	t.Run("malformed XML is 400 with line and column", func(t *testing.T) {
		r := e.submitXML([]byte("<?xml version=\"1.0\"?>\n<a>\n  <b>\n</a>\n"), portalKey, nil)
		require.Equal(t, http.StatusBadRequest, r.Code, string(r.Body))
		assert.Contains(t, r.JSON["type"], "malformed-xml")
		found := false
		for _, x := range r.JSON["errors"].([]any) {
			e := x.(map[string]any)
			if e["level"] == "fatal" {
				assert.Equal(t, 4.0, e["line"], "the mismatched end tag is on line 4")
				assert.Greater(t, e["column"].(float64), 0.0)
				found = true
				break
			}
		}
		assert.True(t, found, "a fatal error with its line: %s", r.Body)
	})
	t.Run("unknown namespace is 422 naming what was found and what is loaded", func(t *testing.T) {
		r := e.submitXML([]byte(`<x:nachricht.0001 xmlns:x="urn:example:unknown"/>`), portalKey, nil)
		require.Equal(t, http.StatusUnprocessableEntity, r.Code, string(r.Body))
		assert.Contains(t, r.JSON["type"], "unknown-message-type")
		assert.Equal(t, "urn:example:unknown", r.JSON["found"].(map[string]any)["namespace"])
		assert.Contains(t, r.JSON["loaded"], "http://www.xleitstelle.de/xbau/2/6")
	})
	t.Run("unroutable message is 422 naming reader and message type, nothing stored", func(t *testing.T) {
		r := e.submitXML(valid, otherKey, nil)
		require.Equal(t, http.StatusUnprocessableEntity, r.Code, string(r.Body))
		assert.Contains(t, r.JSON["type"], "no-route")
		assert.Contains(t, r.JSON["detail"], "antrag.einreichen.0100")
		assert.Nil(t, r.JSON["id"])
	})
	t.Run("schema violation lists every error with its line", func(t *testing.T) {
		r := e.submitXML(demo("antrag-invalid.xml"), portalKey, nil)
		require.Equal(t, http.StatusUnprocessableEntity, r.Code, string(r.Body))
		errs := r.JSON["errors"].([]any)
		assert.GreaterOrEqual(t, len(errs), 2)
	})
	t.Run("a submission outside the sender's permissions is 403 naming the permission, before routing", func(t *testing.T) {
		for _, path := range []string{"/v1/submissions", "/v1/validate"} {
			r := e.do(http.MethodPost, path, limitedKey, "application/xml", valid, nil)
			require.Equal(t, http.StatusForbidden, r.Code, "%s: %s", path, r.Body)
			assert.Contains(t, r.JSON["type"], "#forbidden")
			assert.Equal(t, "readers", r.JSON["permission"], path)
			assert.Equal(t, []any{"nobody-*"}, r.JSON["allowed"], path)
			assert.Contains(t, r.JSON["detail"], `sender "limited-portal"`)
			assert.Nil(t, r.JSON["id"])
		}
	})
	t.Run("no key is 401, wrong key is 401", func(t *testing.T) {
		assert.Equal(t, http.StatusUnauthorized, e.submitXML(valid, "", nil).Code)
		assert.Equal(t, http.StatusUnauthorized, e.submitXML(valid, "wrong-key-wrong-key", nil).Code)
	})
	t.Run("wrong content type is 415", func(t *testing.T) {
		r := e.do(http.MethodPost, "/v1/submissions", portalKey, "application/json", []byte(`{}`), nil)
		assert.Equal(t, http.StatusUnsupportedMediaType, r.Code)
	})
	t.Run("too large is 413", func(t *testing.T) {
		big := bytes.Repeat([]byte("a"), 9<<20)
		r := e.submitXML(big, portalKey, nil)
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.Code)
	})
	t.Run("DOCTYPE is refused", func(t *testing.T) {
		doc := []byte(`<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`)
		r := e.submitXML(doc, portalKey, nil)
		assert.Equal(t, http.StatusBadRequest, r.Code, string(r.Body))
	})
}

func TestIdempotencyStatusAndTestMessages(t *testing.T) {
	e := start(t)
	valid := testenv.Example(t, "antrag-valid.xml")
	testMsg := testenv.Example(t, "antrag-test.xml")

	key := map[string]string{"Idempotency-Key": "order-4711"}
	first := e.submitXML(valid, portalKey, key)
	require.Equal(t, http.StatusAccepted, first.Code, string(first.Body))
	again := e.submitXML(valid, portalKey, key)
	require.Equal(t, http.StatusAccepted, again.Code, string(again.Body))
	assert.Equal(t, first.JSON["id"], again.JSON["id"], "same Idempotency-Key, same submission")
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	other := e.submitXML(testMsg, portalKey, key)
	assert.Equal(t, http.StatusConflict, other.Code, "same key, other body")

	id := first.JSON["id"].(string)
	assert.Equal(t, valid, e.delivered(e.outbox, id))
	// The status ends as delivered, with the event log.
	var st response
	require.Eventually(t, func() bool {
		st = e.do(http.MethodGet, "/v1/submissions/"+id, portalKey, "", nil, nil)
		return st.Code == http.StatusOK && st.JSON["status"] == "delivered"
	}, 10*time.Second, 50*time.Millisecond)
	var types []string
	for _, ev := range st.JSON["events"].([]any) {
		types = append(types, ev.(map[string]any)["type"].(string))
	}
	assert.Equal(t, []string{"received", "validated", "routed", "queued", "delivered"}, types)
	assert.Equal(t, http.StatusNotFound, e.do(http.MethodGet, "/v1/submissions/"+id, otherKey, "", nil, nil).Code, "another sender sees nothing")
	assert.Equal(t, http.StatusUnauthorized, e.do(http.MethodGet, "/v1/submissions/"+id, "", "", nil, nil).Code)
	assert.Equal(t, http.StatusNotFound, e.do(http.MethodGet, "/v1/submissions/does-not-exist", portalKey, "", nil, nil).Code)

	// A test message reaches the test system and never the production target.
	tr := e.submitXML(testMsg, portalKey, nil)
	require.Equal(t, http.StatusAccepted, tr.Code, string(tr.Body))
	tid := tr.JSON["id"].(string)
	assert.Equal(t, testMsg, e.delivered(e.testbox, tid))
	_, err := os.Stat(filepath.Join(e.outbox, tid))
	assert.True(t, os.IsNotExist(err), "test message must not reach production")
}

func TestMultipartWithAttachments(t *testing.T) {
	e := start(t)
	msg := testenv.Example(t, "antrag-valid.xml")
	att1 := []byte("%PDF-1.4 fictitious Bauzeichnung\x00\x01\x02")
	att2 := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 300_000) // 1.2 MB: beyond NATS' max payload

	body, ctype := testenv.Multipart(
		testenv.Part{Name: "message", Filename: "antrag.xml", ContentType: "application/xml", Data: msg},
		testenv.Part{Name: "metadata", ContentType: "application/json", Data: []byte(`{"service":"urn:de:demo:dienst:bauantrag"}`)},
		testenv.Part{Name: "attachment", Filename: "lageplan.pdf", ContentType: "application/pdf", Data: att1},
		testenv.Part{Name: "attachment", Filename: "../../etc/foto.bin", ContentType: "application/octet-stream", Data: att2},
	)

	r := e.do(http.MethodPost, "/v1/submissions", portalKey, ctype, body, nil)
	require.Equal(t, http.StatusAccepted, r.Code, string(r.Body))
	id := r.JSON["id"].(string)
	assert.Equal(t, "urn:de:demo:dienst:bauantrag", r.JSON["facts"].(map[string]any)["service"])
	assert.Equal(t, msg, e.delivered(e.outbox, id))

	entries, err := os.ReadDir(filepath.Join(e.outbox, id, "attachments"))
	require.NoError(t, err)
	require.Len(t, entries, 2)
	got := map[string][]byte{}
	for _, en := range entries {
		b, err := os.ReadFile(filepath.Join(e.outbox, id, "attachments", en.Name()))
		require.NoError(t, err)
		got[en.Name()] = b
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	joined := strings.Join(names, " ")
	assert.Contains(t, joined, "lageplan.pdf")
	assert.Contains(t, joined, "foto.bin")
	assert.NotContains(t, joined, "..")
	for n, b := range got {
		if strings.Contains(n, "lageplan") {
			assert.Equal(t, att1, b)
		} else {
			assert.Equal(t, att2, b)
		}
	}
}

// The XMeld messages written for this project go the way an Anmeldung's
// online service would send them.
func TestXMeldExamples(t *testing.T) {
	e := start(t)
	dir := filepath.Join(testenv.RepoRoot(t), "examples", "xmeld")
	read := func(n string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, n))
		require.NoError(t, err)
		return b
	}
	for _, n := range []string{"onlinedienste.abrufanfrage.vorausgefuellterMeldeschein.1702.xml", "anmeldung.datenanforderung.0300.xml"} {
		doc := read(n)
		r := e.submitXML(doc, portalKey, nil)
		require.Equal(t, http.StatusAccepted, r.Code, "%s: %s", n, r.Body)
		assert.Equal(t, "XMeld", r.JSON["facts"].(map[string]any)["standard"])
		assert.Equal(t, doc, e.delivered(e.outbox, r.JSON["id"].(string)))
	}
	r := e.submitXML(read("onlinedienste.abrufanfrage.vorausgefuellterMeldeschein.1702-test.xml"), portalKey, nil)
	require.Equal(t, http.StatusAccepted, r.Code, string(r.Body))
	e.delivered(e.testbox, r.JSON["id"].(string))

	r = e.submitXML(read("anmeldung.datenanforderung.0300-invalid.xml"), portalKey, nil)
	require.Equal(t, http.StatusUnprocessableEntity, r.Code, string(r.Body))
	var lines []float64
	for _, x := range r.JSON["errors"].([]any) {
		lines = append(lines, x.(map[string]any)["line"].(float64))
	}
	for _, l := range []float64{40, 64, 74} {
		assert.Contains(t, lines, l, "an error on line %v", l)
	}
}

// Operators see health, readiness and metrics; logs carry ids and never message content.
func TestOperations(t *testing.T) {
	e := start(t)
	valid := testenv.Example(t, "antrag-valid.xml")
	invalid := testenv.Example(t, "antrag-invalid.xml")

	assert.Equal(t, http.StatusOK, e.do(http.MethodGet, "/healthz", "", "", nil, nil).Code)
	rz := e.do(http.MethodGet, "/readyz", "", "", nil, nil)
	assert.Equal(t, http.StatusOK, rz.Code, string(rz.Body))

	r := e.submitXML(valid, portalKey, map[string]string{"X-Request-ID": "portal-req-1"})
	require.Equal(t, http.StatusAccepted, r.Code)
	assert.Equal(t, "portal-req-1", r.Header.Get("X-Request-ID"))
	id := r.JSON["id"].(string)
	e.delivered(e.outbox, id)
	require.Equal(t, http.StatusUnprocessableEntity, e.submitXML(invalid, portalKey, nil).Code)

	// A metadata value that contradicts the document is a 422.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("message", "m.xml")
	_, _ = w.Write(valid)
	_ = mw.WriteField("metadata", `{"reader":"ags:01001000"}`)
	require.NoError(t, mw.Close())
	c := e.do(http.MethodPost, "/v1/submissions", portalKey, mw.FormDataContentType(), body.Bytes(), nil)
	require.Equal(t, http.StatusUnprocessableEntity, c.Code, string(c.Body))
	assert.Contains(t, c.JSON["type"], "metadata-conflict")

	var metrics string
	require.Eventually(t, func() bool {
		metrics = string(e.do(http.MethodGet, "/metrics", "", "", nil, nil).Body)
		return strings.Contains(metrics, `drehscheibe_delivery_attempts_total{adapter="filedrop",result="success",target="fachverfahren"} 1`)
	}, 10*time.Second, 50*time.Millisecond, "delivery attempts are counted")
	for _, want := range []string{
		`drehscheibe_submissions_total{outcome="accepted"} 1`,
		`drehscheibe_submissions_total{outcome="schema-violation"} 1`,
		`drehscheibe_submissions_total{outcome="metadata-conflict"} 1`,
		`drehscheibe_validation_duration_seconds_count{outcome="valid"}`,
		`drehscheibe_http_requests_total{code="202",route="/v1/submissions"} 1`,
	} {
		assert.Contains(t, metrics, want)
	}
	require.Eventually(t, func() bool {
		return strings.Contains(string(e.do(http.MethodGet, "/metrics", "", "", nil, nil).Body), `drehscheibe_queue_depth{target="fachverfahren"} 0`)
	}, 15*time.Second, 200*time.Millisecond, "queue depth per target is reported")

	logs := e.logs.String()
	assert.Contains(t, logs, `"submission_id":"`+id+`"`)
	assert.Contains(t, logs, `"request_id":"portal-req-1"`)
	// Personal data from the messages never reaches the log.
	for _, secret := range []string{"Mustermann", "Erika", "geburtsdatum", "12.08.1964", "<?xml"} {
		assert.NotContains(t, logs, secret)
	}
}
