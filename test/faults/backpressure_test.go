package faults

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// checkRefused fails unless a is the 503 a client must retry: problem
// unavailable with Retry-After.
func checkRefused(t *testing.T, what string, a answer) {
	t.Helper()
	if a.err != nil || a.code != http.StatusServiceUnavailable || a.retryAfter == "" || !strings.HasSuffix(a.problemType, "#unavailable") {
		t.Errorf("%s: got %s (Retry-After %q), want 503 unavailable with Retry-After", what, a, a.retryAfter)
	}
}

// TestIntakeRefusesWhenStreamIsFull limits the submissions stream to three
// more messages, as an operator's limit or a full disk would: the fourth
// submission and later ones are refused with 503 and Retry-After, nothing of
// them is stored, and once there is room again their retries are accepted
// and delivered.
func TestIntakeRefusesWhenStreamIsFull(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the gateway binary")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	natsAddr := freeAddr(t)
	cfg := conf{
		NATS: fmt.Sprintf("data_dir: %q\nlisten: %s", filepath.Join(dir, "nats"), natsAddr),
		Targets: fmt.Sprintf(`  - name: fachverfahren
    type: filedrop
    options: {dir: %q}`, out),
		Routes: "  - {name: all, target: fachverfahren}",
	}.write(t, dir)
	g := startGateway(t, "gateway", cfg)
	in := inspect(t, "nats://"+natsAddr)
	limit := func(maxMsgs int64) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := in.js.Stream(ctx, store.SubmissionsStream)
		if err != nil {
			t.Fatal(err)
		}
		c := s.CachedInfo().Config
		c.MaxMsgs, c.Discard = maxMsgs, jetstream.DiscardNew
		if _, err := in.js.UpdateStream(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	limit(3)

	tmpl := demoTemplate(t)
	const n = 8
	reqs := make([]request, n)
	for i := range reqs {
		tag := fmt.Sprintf("full-%d", i)
		reqs[i] = request{key: keyA, idempotencyKey: tag, contentType: "application/xml", body: demoMessage(tmpl, tag)}
		if i%2 == 1 { // and some with an attachment, stored in the object store first
			body, ct := multipartBody(reqs[i].body, []attachment{{name: "big.bin", data: randomBytes(uint64(i), 2<<20)}})
			reqs[i].contentType, reqs[i].body = ct, body
		}
	}
	ids := map[string]bool{}
	for i, r := range reqs {
		a := send(g.base, r)
		if i < 3 {
			if a.code != http.StatusAccepted {
				t.Fatalf("submission %d below the limit: %s", i, a)
			}
			ids[a.id] = true
			continue
		}
		checkRefused(t, fmt.Sprintf("submission %d above the limit", i), a)
	}
	if m := in.submissions(t); m != 3 {
		t.Errorf("the stream holds %d submissions, want 3", m)
	}
	// The refused submissions' attachments were stored first and removed again.
	if objs := in.objects(t); objs != 1 {
		t.Errorf("the object store holds %d objects, want the 1 attachment of an accepted submission", objs)
	}

	limit(-1)
	for _, r := range reqs {
		a, err := sendUntilAccepted(func() string { return g.base }, r, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ids[a.id] = true
	}
	if len(ids) != n {
		t.Errorf("%d distinct submissions, want %d", len(ids), n)
	}
	eventually(t, 30*time.Second, "all delivered", func() string {
		if got := dropped(t, out); len(got) != n {
			return fmt.Sprintf("%d of %d delivered", len(got), n)
		}
		return ""
	})
	if m := in.submissions(t); m != n {
		t.Errorf("the stream holds %d submissions, want %d", m, n)
	}
}

// TestIntakeRefusesWhileNATSIsDown runs the gateway against an external
// NATS server and stops that server: submissions are refused at once with
// 503 and Retry-After, /readyz says not ready, and when the server is back
// on the same address the gateway reconnects by itself, accepts the retries
// and delivers everything.
func TestIntakeRefusesWhileNATSIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the gateway binary")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	natsDir := filepath.Join(dir, "nats")
	srv := runNATS(t, natsDir, 0)
	port := srv.Addr().(*net.TCPAddr).Port
	cfg := conf{
		NATS: fmt.Sprintf("embedded: false\nurl: %s", srv.ClientURL()),
		Targets: fmt.Sprintf(`  - name: fachverfahren
    type: filedrop
    options: {dir: %q}`, out),
		Routes: "  - {name: all, target: fachverfahren}",
	}.write(t, dir)
	g := startGateway(t, "gateway", cfg)
	tmpl := demoTemplate(t)
	req := func(tag string) request {
		return request{key: keyA, idempotencyKey: tag, contentType: "application/xml", body: demoMessage(tmpl, tag)}
	}
	ids := map[string]bool{}
	a := send(g.base, req("down-before"))
	if a.code != http.StatusAccepted {
		t.Fatalf("before the outage: %s", a)
	}
	ids[a.id] = true

	srv.Shutdown()
	srv.WaitForShutdown()
	eventually(t, 15*time.Second, "not ready while NATS is down", func() string {
		if g.ready() {
			return "/readyz still 200"
		}
		return ""
	})
	var during []request
	for i := range 3 {
		r := req(fmt.Sprintf("down-during-%d", i))
		start := time.Now()
		checkRefused(t, r.idempotencyKey, send(g.base, r))
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: refused only after %s", r.idempotencyKey, d)
		}
		during = append(during, r)
	}

	runNATS(t, natsDir, port)
	eventually(t, 30*time.Second, "ready after NATS is back", func() string {
		if !g.ready() {
			return "/readyz not 200"
		}
		return ""
	})
	for _, r := range append(during, req("down-after")) {
		a, err := sendUntilAccepted(func() string { return g.base }, r, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if a.replayed {
			t.Errorf("%s: refused with 503 but stored all the same", r.idempotencyKey)
		}
		ids[a.id] = true
	}
	eventually(t, 30*time.Second, "all delivered after the outage", func() string {
		got := dropped(t, out)
		for id := range ids {
			if !got[id] {
				return fmt.Sprintf("%d of %d delivered", len(got), len(ids))
			}
		}
		return ""
	})
	if !g.logContains("nats reconnected") {
		t.Error("the log does not say that the gateway reconnected")
	}
}

// runNATS starts a NATS server with JetStream on loopback in the test
// process; port 0 picks a free one.
func runNATS(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true}
	if port == 0 {
		o.Port = -1
	}
	srv, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(srv.Shutdown)
	return srv
}
