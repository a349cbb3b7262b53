package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/gateway/metrics"
	"github.com/drehscheibe/drehscheibe/gateway/problem"
)

// The OpenAPI document must describe exactly the problem types of the catalogue
// and every endpoint the handler serves.
func TestOpenAPIMatchesCode(t *testing.T) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(OpenAPI, &doc))
	assert.Equal(t, "3.1.0", doc.OpenAPI)

	found := map[string]bool{}
	for _, m := range regexp.MustCompile(`problems\.md#([a-z-]+)`).FindAllSubmatch(OpenAPI, -1) {
		found[string(m[1])] = true
	}
	var want, got []string
	for _, ty := range problem.Catalogue {
		want = append(want, ty.Slug)
	}
	for s := range found {
		got = append(got, s)
	}
	sort.Strings(want)
	sort.Strings(got)
	assert.Equal(t, want, got, "problem types in openapi.json vs the catalogue")

	endpoints := map[string][]string{
		"/v1/submissions": {"post"}, "/v1/submissions/{id}": {"get"}, "/v1/validate": {"post"},
		"/v1/inbox": {"get"}, "/v1/inbox/{id}": {"get"}, "/v1/inbox/{id}/message": {"get"},
		"/v1/inbox/{id}/attachments/{n}": {"get"}, "/v1/inbox/{id}/close": {"post"},
		"/v1/admin/deadletters": {"get"}, "/v1/admin/deadletters/{id}": {"delete", "get"},
		"/v1/admin/deadletters/{id}/replay": {"post"},
		"/openapi.json":                     {"get"}, "/healthz": {"get"}, "/readyz": {"get"}, "/metrics": {"get"},
	}
	assert.Len(t, doc.Paths, len(endpoints))
	h := (&Server{Metrics: metrics.New(), Log: zap.NewNop()}).Handler()
	for path, methods := range endpoints {
		require.Contains(t, doc.Paths, path)
		var documented []string
		for m := range doc.Paths[path] {
			if m != "parameters" {
				documented = append(documented, m)
			}
		}
		sort.Strings(documented)
		assert.Equal(t, methods, documented, path)
		// The handler serves every documented method (without a key the
		// protected ones answer 401, never 404 or 405).
		for _, m := range documented {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(strings.ToUpper(m), strings.NewReplacer("{id}", "x", "{n}", "1").Replace(path), nil))
			assert.NotContains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, rec.Code, "%s %s", m, path)
		}
	}
}

func TestUnknownPathsAndMethodsAreProblems(t *testing.T) {
	s := &Server{Metrics: metrics.New(), Log: zap.NewNop()}
	h := s.Handler()
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, "/nope", http.StatusNotFound},
		{http.MethodDelete, "/v1/submissions", http.StatusMethodNotAllowed},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed},
		{http.MethodGet, "/v1/submissions/x", http.StatusUnauthorized},
		{http.MethodGet, "/healthz", http.StatusOK},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		assert.Equal(t, c.code, rec.Code, "%s %s", c.method, c.path)
		assert.NotEmpty(t, rec.Header().Get("X-Request-ID"))
		if c.code >= 400 {
			assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			var p map[string]any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
			assert.NotEmpty(t, p["request_id"], "every problem names the request id")
		}
	}
}

func TestClientRequestIDIsKeptWhenSane(t *testing.T) {
	s := &Server{Metrics: metrics.New(), Log: zap.NewNop()}
	h := s.Handler()
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	req.Header.Set("X-Request-ID", "portal-4711")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, "portal-4711", rec.Header().Get("X-Request-ID"))

	req.Header.Set("X-Request-ID", "evil\nheader")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.NotEqual(t, "evil\nheader", rec.Header().Get("X-Request-ID"))
}
