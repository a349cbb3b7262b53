package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// client posts submissions over HTTP/1.1 keep-alive connections to the
// gateway, one connection per request in flight. It writes each request
// with one system call and reads the answer on the calling goroutine, with
// none of net/http's per-connection reader and writer goroutines: the load
// generator shares the machine with the gateway and should take as little
// of it as it can (about a third of the CPU per request of an http.Client
// with the same connections).
type client struct {
	addr string // host:port
	path string
	key  string
	mu   sync.Mutex
	idle []*clientConn
}

type clientConn struct {
	c   net.Conn
	r   *bufio.Reader
	hdr []byte // scratch for the request head
}

func newClient(g *gatewayProc, sender string, conns int) *client {
	return &client{addr: strings.TrimPrefix(g.base, "http://"), path: "/v1/submissions", key: g.keys[sender],
		idle: make([]*clientConn, 0, conns)}
}

// post submits doc and returns the status code and, unless it is 202, the body.
func (c *client) post(doc []byte) (int, string, error) {
	cn, err := c.conn()
	if err != nil {
		return 0, "", err
	}
	code, body, keep, err := cn.roundTrip(c, doc)
	if err != nil || !keep {
		_ = cn.c.Close()
	} else {
		c.mu.Lock()
		c.idle = append(c.idle, cn)
		c.mu.Unlock()
	}
	return code, body, err
}

// conn is an idle connection or a new one.
func (c *client) conn() (*clientConn, error) {
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		cn := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return cn, nil
	}
	c.mu.Unlock()
	nc, err := net.DialTimeout("tcp", c.addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return &clientConn{c: nc, r: bufio.NewReaderSize(nc, 16<<10)}, nil
}

// roundTrip writes one request and reads its answer; keep says the
// connection can carry the next one.
func (cn *clientConn) roundTrip(c *client, doc []byte) (code int, body string, keep bool, err error) {
	h := append(cn.hdr[:0], "POST "...)
	h = append(h, c.path...)
	h = append(h, " HTTP/1.1\r\nHost: "...)
	h = append(h, c.addr...)
	h = append(h, "\r\nContent-Type: application/xml\r\nAuthorization: Bearer "...)
	h = append(h, c.key...)
	h = append(h, "\r\nContent-Length: "...)
	h = strconv.AppendInt(h, int64(len(doc)), 10)
	h = append(h, "\r\n\r\n"...)
	cn.hdr = h
	_ = cn.c.SetDeadline(time.Now().Add(2 * time.Minute))
	bufs := net.Buffers{h, doc}
	if _, err := bufs.WriteTo(cn.c); err != nil {
		return 0, "", false, err
	}
	res, err := http.ReadResponse(cn.r, nil)
	if err != nil {
		return 0, "", false, err
	}
	b, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return 0, "", false, err
	}
	keep = !res.Close
	if res.StatusCode == http.StatusAccepted {
		return res.StatusCode, "", keep, nil
	}
	return res.StatusCode, string(b), keep, nil
}

func (c *client) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cn := range c.idle {
		_ = cn.c.Close()
	}
	c.idle = nil
}

// tally collects the outcomes of one phase from many goroutines.
type tally struct {
	mu        sync.Mutex
	latencies []time.Duration // of accepted submissions
	accepted  int
	errors    map[string]int
	firstErr  string
	// skipped counts the requests an open loop did not send because too
	// many were outstanding: the gateway fell behind the schedule.
	skipped int
}

func (t *tally) add(code int, body string, err error, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil && code == http.StatusAccepted {
		t.accepted++
		t.latencies = append(t.latencies, d)
		return
	}
	key := fmt.Sprint(code)
	if err != nil {
		key = "transport"
		body = err.Error()
	}
	if t.errors == nil {
		t.errors = map[string]int{}
	}
	t.errors[key]++
	if t.firstErr == "" {
		t.firstErr = key + ": " + truncate(body, 300)
	}
}

// phase is the outcome of posting one document for a while.
type phase struct {
	Concurrency int            `json:"concurrency,omitempty"`
	TargetRate  float64        `json:"target_rate_per_s,omitempty"`
	Requests    int            `json:"requests"`
	Accepted    int            `json:"accepted"`
	Errors      map[string]int `json:"errors,omitempty"`
	FirstError  string         `json:"first_error,omitempty"`
	// Skipped counts the requests of a fixed-rate phase that were not sent
	// because MaxOutstanding were outstanding.
	Skipped        int     `json:"skipped,omitempty"`
	MaxOutstanding int     `json:"max_outstanding,omitempty"`
	Seconds        float64 `json:"seconds"`
	AcceptedPerS   float64 `json:"accepted_per_s"`
	P50Ms          float64 `json:"p50_ms"`
	P95Ms          float64 `json:"p95_ms"`
	P99Ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
	Gateway        usage   `json:"gateway"`
}

func (p *phase) finish(t *tally, elapsed time.Duration) {
	p.Accepted = t.accepted
	p.Errors, p.FirstError, p.Skipped = t.errors, t.firstErr, t.skipped
	p.Requests = t.accepted
	for _, n := range t.errors {
		p.Requests += n
	}
	p.Seconds = elapsed.Seconds()
	p.AcceptedPerS = float64(t.accepted) / elapsed.Seconds()
	lat := t.latencies
	slices.Sort(lat)
	p.P50Ms, p.P95Ms, p.P99Ms = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.95)), ms(percentile(lat, 0.99))
	if len(lat) > 0 {
		p.MaxMs = ms(lat[len(lat)-1])
	}
}

// percentile returns the q-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// closedLoop posts doc from conc goroutines, each sending its next request
// when the previous one is answered, until dur has passed or maxReq
// requests were sent, and adds the outcomes to t.
func closedLoop(c *client, doc []byte, conc int, dur time.Duration, maxReq int, t *tally) time.Duration {
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(dur)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && sent.Add(1) <= int64(maxReq) {
				t0 := time.Now()
				code, body, err := c.post(doc)
				t.add(code, body, err, time.Since(t0))
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// openLoop calls send at a fixed rate for dur, whether or not earlier calls
// have returned, with at most maxInFlight outstanding. The latency of a call
// counts from the moment it was due, so a stall shows in the percentiles
// instead of slowing the schedule. send returns like client.post.
func openLoop(ctx context.Context, send func() (int, string, error), rate float64, dur time.Duration, maxInFlight int) (*tally, time.Duration) {
	t := &tally{}
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.Sub(start) >= dur || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Until(due))
		select {
		case sem <- struct{}{}:
		default:
			t.mu.Lock()
			t.skipped++
			t.mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			code, body, err := send()
			t.add(code, body, err, time.Since(due))
		}()
	}
	wg.Wait()
	return t, time.Since(start)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
