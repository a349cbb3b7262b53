package faults

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRestartWithQueuedAndRetryingMessages stops the gateway with SIGTERM
// while submissions arrive, some of them still queued for a filedrop target
// and others in retry for a webhook target whose receiver is down, and
// starts it again on the same data directory. Nothing may be lost, filedrop
// must deliver each submission once, and the restart must hand the queued
// ones on at once rather than after their ack_wait.
func TestRestartWithQueuedAndRetryingMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the gateway under load")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	rcv := newReceiver(t)
	natsAddr := freeAddr(t)
	cfg := conf{
		NATS: fmt.Sprintf("data_dir: %q\nlisten: %s", filepath.Join(dir, "nats"), natsAddr),
		Targets: fmt.Sprintf(`  - name: fachverfahren
    type: filedrop
    concurrency: 1
    ack_wait: 30s
    options: {dir: %q}
  - name: hook
    type: webhook
    concurrency: 2
    max_attempts: 20
    ack_wait: 30s
    options: {url: %q, secret_env: HOOK_SECRET, timeout: 5s}`, out, rcv.url()),
		Routes: `  - {name: portal-b, match: {sender: portal-b}, target: hook}
  - {name: all, target: fachverfahren}`,
	}.write(t, dir)
	g := startGateway(t, "gateway", cfg, "HOOK_SECRET="+hookSecret)
	in := inspect(t, "nats://"+natsAddr)
	tmpl := demoTemplate(t)

	// In retry: the receiver is down.
	rcv.down()
	hook := map[string][]byte{}
	for i := range 4 {
		msg := demoMessage(tmpl, fmt.Sprintf("restart-hook-%d", i))
		a := send(g.base, request{key: keyB, contentType: "application/xml", body: msg})
		if a.code != http.StatusAccepted {
			t.Fatalf("hook submission %d: %s", i, a)
		}
		hook[a.id] = msg
	}
	eventually(t, 10*time.Second, "hook submissions retrying", func() string {
		for id := range hook {
			if st, err := getStatus(g.base, keyB, id); err != nil || st.Status != "retrying" {
				return fmt.Sprintf("%s: %v %v", id, st, err)
			}
		}
		return ""
	})

	// Queued: a burst for the filedrop target, which delivers one at a time;
	// SIGTERM arrives in the middle of it.
	const n, clients, stopAt = 600, 32, 300
	reqs := make([]request, n)
	msgs := make([][]byte, n)
	for i := range reqs {
		tag := fmt.Sprintf("restart-%03d", i)
		msgs[i] = demoMessage(tmpl, tag)
		reqs[i] = request{key: keyA, idempotencyKey: tag, contentType: "application/xml", body: msgs[i]}
	}
	answers := make([]answer, n)
	var accepted atomic.Int64
	reached := make(chan struct{})
	var once sync.Once
	base := g.base
	work := make(chan int)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				answers[i] = send(base, reqs[i])
				if answers[i].code == http.StatusAccepted && accepted.Add(1) >= stopAt {
					once.Do(func() { close(reached) })
				}
			}
		}()
	}
	go func() {
		for i := range n {
			work <- i
		}
		close(work)
	}()
	<-reached
	backlog, err := in.backlog("fachverfahren")
	if err != nil {
		t.Fatal(err)
	}
	g.term(20 * time.Second)
	wg.Wait()

	ids := map[string]int{}
	for i, a := range answers {
		if a.err == nil && a.code == http.StatusAccepted {
			ids[a.id] = i
		} else if a.err == nil && a.code != http.StatusServiceUnavailable {
			t.Fatalf("submission %d: %s", i, a)
		}
	}
	queued := 0
	deliveredBefore := dropped(t, out)
	for id := range ids {
		if !deliveredBefore[id] {
			queued++
		}
	}
	t.Logf("SIGTERM with %d accepted (backlog %d just before); %d queued and %d in retry at the stop",
		len(ids), backlog, queued, len(hook))
	if queued == 0 {
		t.Fatalf("nothing was queued at the stop; the test proves nothing")
	}

	rcv.up()
	restarted := time.Now()
	g.start()
	base = g.base
	// The clients resend what got no 202.
	for i, a := range answers {
		if a.err == nil && a.code == http.StatusAccepted {
			continue
		}
		a, err := sendUntilAccepted(func() string { return base }, reqs[i], 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ids[a.id] = i
	}
	// Well within ack_wait (30s): nothing may wait for a lost acknowledgement.
	eventually(t, 20*time.Second, "everything delivered after the restart", func() string {
		got := dropped(t, out)
		for id := range ids {
			if !got[id] {
				return fmt.Sprintf("%d of %d in the filedrop", len(got), len(ids))
			}
		}
		for id := range hook {
			if rcv.times(id) == 0 {
				return id + " not taken by the webhook receiver"
			}
		}
		return ""
	})
	t.Logf("all delivered %.1fs after the restart", time.Since(restarted).Seconds())

	if got := dropped(t, out); len(got) != n {
		t.Errorf("%d submission directories for %d submissions", len(got), n)
	}
	for id, i := range ids {
		if err := checkDrop(out, id, msgs[i], nil); err != nil {
			t.Error(err)
		}
	}
	if m := in.submissions(t); m != uint64(n+len(hook)) {
		t.Errorf("the submissions stream holds %d messages, want %d", m, n+len(hook))
	}
	eventually(t, 10*time.Second, "statuses final", func() string {
		for id := range ids {
			st, err := getStatus(g.base, keyA, id)
			if err != nil {
				return err.Error()
			}
			if st.Status != "delivered" || st.count("delivered") != 1 {
				return fmt.Sprintf("%s: %s with %d delivered events", id, st.Status, st.count("delivered"))
			}
		}
		for id := range hook {
			st, err := getStatus(g.base, keyB, id)
			if err != nil {
				return err.Error()
			}
			if st.Status != "delivered" || st.count("delivery_failed") == 0 {
				return fmt.Sprintf("%s: %s after %d failed attempts", id, st.Status, st.count("delivery_failed"))
			}
		}
		return ""
	})
	for id := range hook {
		st, _ := getStatus(g.base, keyB, id)
		checkBackoff(t, id, st, 1500*time.Millisecond)
	}
}
