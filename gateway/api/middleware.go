package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/gateway/problem"
)

type ctxKey int

const requestIDKey ctxKey = 0

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

type recorder struct {
	http.ResponseWriter
	code int
	// problem is the slug of the problem the handler answered with, if any.
	problem string
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// middleware sets X-Request-ID, recovers panics into a problem, logs and measures.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Header names in their canonical form (X-Request-Id): the same
		// header, without a new string for the name on every request.
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				s.Log.Error("panic in handler", zap.String("request_id", id), zap.Any("panic", v), zap.ByteString("stack", debug.Stack()))
				if rec.code == 0 {
					problem.New(problem.Internal, "internal error; quote request id %s", id).With("request_id", id).Write(rec, r.URL.Path)
				}
			}
			route := r.Pattern
			if route == "" {
				route = "other"
			}
			s.Metrics.HTTPRequests.WithLabelValues(route, codeLabel(rec.code)).Inc()
			if refusedForNow[rec.problem] {
				s.Metrics.HTTPRefused.WithLabelValues(route, rec.problem).Inc()
			}
			s.Metrics.HTTPSeconds.WithLabelValues(route).Observe(time.Since(start).Seconds())
			s.Log.Debug("http request", zap.String("request_id", id), zap.String("method", r.Method),
				zap.String("path", r.URL.Path), zap.Int("status", rec.code), zap.Duration("took", time.Since(start)))
		}()
		next.ServeHTTP(rec, r)
	})
}

// refusedForNow are the problems that refuse a request for now, with
// Retry-After, on any route (drehscheibe_http_refused_total).
var refusedForNow = map[string]bool{
	problem.RateLimited.Slug: true, problem.Busy.Slug: true, problem.Unavailable.Slug: true,
}

// codeLabels are the status codes 0–599 as metric labels, made once.
var codeLabels = func() (l [600]string) {
	for i := range l {
		l[i] = strconv.Itoa(i)
	}
	return l
}()

// codeLabel is strconv.Itoa(code) without a new string for every request.
func codeLabel(code int) string {
	if code >= 0 && code < len(codeLabels) {
		return codeLabels[code]
	}
	return strconv.Itoa(code)
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	var h [24]byte
	_, _ = rand.Read(b[:])
	hex.Encode(h[:], b[:])
	return string(h[:])
}
