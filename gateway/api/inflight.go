package api

import (
	"net/http"
	"strconv"

	"github.com/drehscheibe/drehscheibe/gateway/inflight"
	"github.com/drehscheibe/drehscheibe/gateway/problem"
)

// admit reserves room for the request's body among the requests in flight
// (server.max_in_flight, server.max_in_flight_bytes; the XTA listener
// shares them): its Content-Length, or without one server.max_body_bytes.
// A longer Content-Length reserves nothing; readRequest refuses it. When
// refused, it sets Retry-After and returns the problem busy; the body is
// never read. The caller releases the reservation once it has answered.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (func(), *problem.Problem) {
	size := s.Limits.MaxBodyBytes
	switch {
	case r.ContentLength > s.Limits.MaxBodyBytes:
		size = 0
	case r.ContentLength >= 0:
		size = r.ContentLength
	}
	release, no := s.InFlight.Acquire(size)
	if no == nil {
		return release, nil
	}
	w.Header().Set("Retry-After", strconv.Itoa(inflight.RetryAfter))
	return nil, problem.New(problem.Busy, "the gateway holds as many requests as it may at once (%s %d); retry after %d s",
		no.Key, no.Limit, inflight.RetryAfter).With("limit", no.Limit).With("limit_key", no.Key)
}
