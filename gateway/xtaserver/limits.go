package xtaserver

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/gateway/inflight"
	"github.com/drehscheibe/drehscheibe/gateway/ratelimit"
)

// bucket is the token bucket of one client, with the limit it was made
// from for the fault's reason.
type bucket struct {
	lim *ratelimit.Bucket
	cfg config.RateLimit
}

// newBuckets makes one bucket per party client (parties sharing a client
// share it) and the one bucket all other clients share; nil where the
// limit is 0 (no limit).
func newBuckets(x config.XTA) (map[string]*bucket, *bucket) {
	mk := func(l config.RateLimit) *bucket {
		if l.PerSecond <= 0 {
			return nil
		}
		return &bucket{lim: ratelimit.New(l.PerSecond, l.Burst), cfg: l}
	}
	byClient := map[string]*bucket{}
	for _, pt := range x.Parties {
		if _, ok := byClient[pt.Client]; !ok {
			byClient[pt.Client] = mk(x.PartyLimit(pt))
		}
	}
	return byClient, mk(x.RateLimit)
}

// headerOp is the operation the request's headers name (the action
// parameter of the Content-Type, else SOAPAction), so that a refusal
// before the body is read answers with the operation's action.
func headerOp(r *http.Request) xta.Operation {
	action := strings.Trim(r.Header.Get("SOAPAction"), `" `)
	if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && params["action"] != "" {
		action = params["action"]
	}
	op, _ := xta.OperationByAction(action)
	return op
}

// throttle takes a token from the bucket of the request's client: the
// first of its identities that is a party's client, else the bucket of
// the clients that act for no party. Over the limit it sets Retry-After
// and returns fault 9030, before anything of the body is read. XTA has no
// fault code for a rate limit; 9030 is the technical fault every operation
// declares, a SOAP Receiver fault that clients retry (docs/xta.md).
func (s *Server) throttle(w http.ResponseWriter, c *call) *xta.Fault {
	b, who := s.others, "clients acting for no party"
	for _, id := range c.clients {
		if cb, ok := s.buckets[id]; ok {
			b, who = cb, strconv.Quote(id)
			break
		}
	}
	if b == nil {
		return nil
	}
	secs := b.lim.Take()
	if secs == 0 {
		return nil
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return xta.NewFault(xta.Internal, "rate limit: the client %s exceeded its limit of %d requests per second (burst %d; xta.rate_limit, xta.parties[].rate_limit); nothing was done, retry after %d s",
		who, b.cfg.PerSecond, b.cfg.Burst, secs)
}

// admit reserves room for the request's body among the requests in flight
// (server.max_in_flight, server.max_in_flight_bytes, shared with the REST
// API): its Content-Length, or without one the largest request. Refused,
// it sets Retry-After and returns fault 9030; the body is never read.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (func(), *xta.Fault) {
	size := s.maxRequest
	if r.ContentLength >= 0 && r.ContentLength < size {
		size = r.ContentLength
	}
	release, no := s.inFlight.Acquire(size)
	if no == nil {
		return release, nil
	}
	w.Header().Set("Retry-After", strconv.Itoa(inflight.RetryAfter))
	return nil, xta.NewFault(xta.Internal, "the gateway is busy: it holds as many requests as it may at once (%s %d); nothing was done, retry after %d s",
		no.Key, no.Limit, inflight.RetryAfter)
}
