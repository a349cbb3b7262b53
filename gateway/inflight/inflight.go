// Package inflight bounds the requests whose bodies the gateway reads and
// processes at once, on the REST and the XTA listener together: at most
// server.max_in_flight requests and server.max_in_flight_bytes of declared
// body size. A request is admitted, or refused at once; refused requests
// have cost nothing but their headers, and their body is never read.
package inflight

import "sync"

// Limiter counts the requests in flight and the body bytes they reserved.
// A nil *Limiter admits everything.
type Limiter struct {
	maxCount int
	maxBytes int64

	mu    sync.Mutex
	count int
	bytes int64
}

// New bounds requests in flight to maxCount and their reserved bytes to
// maxBytes; both must be positive.
func New(maxCount int, maxBytes int64) *Limiter {
	return &Limiter{maxCount: maxCount, maxBytes: maxBytes}
}

// Refusal says which bound refused a request.
type Refusal struct {
	// Key is the configuration key of the bound, e.g. "server.max_in_flight_bytes".
	Key string
	// Limit is the bound's value: a count, or bytes.
	Limit int64
}

// Acquire admits a request that reserves size bytes (its declared body
// length, or the most it may send when it declares none). It returns the
// function that releases the reservation, to be called once the request is
// answered, or the bound that refused it.
func (l *Limiter) Acquire(size int64) (release func(), refused *Refusal) {
	if l == nil {
		return func() {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.count >= l.maxCount:
		return nil, &Refusal{Key: "server.max_in_flight", Limit: int64(l.maxCount)}
	case l.bytes+size > l.maxBytes:
		return nil, &Refusal{Key: "server.max_in_flight_bytes", Limit: l.maxBytes}
	}
	l.count++
	l.bytes += size
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.count--
			l.bytes -= size
			l.mu.Unlock()
		})
	}, nil
}

// RetryAfter is the Retry-After, in seconds, of a refused request: bodies
// in flight take seconds to arrive and be processed.
const RetryAfter = 2
