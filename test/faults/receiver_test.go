package faults

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/drehscheibe/drehscheibe/adapters/webhook"
)

// hookSecret is the HMAC secret of the webhook targets, passed to the
// gateway in the environment variable HOOK_SECRET.
const hookSecret = "faults-webhook-secret-0123456789"

// receiver is a Fachverfahren's webhook endpoint on loopback that can go
// down (listener closed: connections are refused) and come back on the
// same address. It checks every signature and records what it took.
type receiver struct {
	t    *testing.T
	addr string

	mu        sync.Mutex
	srv       *http.Server
	rejecting bool              // answer 400 to every delivery, as a receiver that refuses a message
	taken     map[string]int    // submission id → times taken (2xx answered)
	bodies    map[string][]byte // submission id → body taken first
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, taken: map[string]int{}, bodies: map[string][]byte{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	r.serve(l)
	t.Cleanup(r.down)
	return r
}

func (r *receiver) url() string { return "http://" + r.addr + "/inbox" }

func (r *receiver) serve(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 10 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := webhook.Verify([]byte(hookSecret), req.Header.Get(webhook.HeaderTimestamp), body,
		req.Header.Get(webhook.HeaderSignature), 5*time.Minute); err != nil {
		r.t.Errorf("receiver: bad signature: %v", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	id := req.Header.Get(webhook.HeaderSubmissionID)
	r.mu.Lock()
	if r.rejecting {
		r.mu.Unlock()
		http.Error(w, "refused", http.StatusBadRequest)
		return
	}
	r.taken[id]++
	if _, ok := r.bodies[id]; !ok {
		r.bodies[id] = body
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// down closes the listener and every connection: the endpoint refuses connections.
func (r *receiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// up listens on the same address again.
func (r *receiver) up() {
	r.t.Helper()
	var l net.Listener
	var err error
	for range 50 { // the port may linger for a moment after Close
		if l, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("receiver cannot listen on %s again: %v", r.addr, err)
	}
	r.serve(l)
}

// reject makes the receiver answer 400 to every delivery, or, with false, take them again.
func (r *receiver) reject(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejecting = on
}

// times returns how often submission id was taken.
func (r *receiver) times(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.taken[id]
}

// body returns the first body taken for id.
func (r *receiver) body(id string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[id]
}
