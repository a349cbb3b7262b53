package faults

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestCrashDuringLoadWebhook is the crash test for a webhook target, with
// the same 2,000 submissions as the filedrop variant: after SIGKILL and a
// restart, every
// submission that got a 202 before the crash reaches the receiver at least
// once, and so does every other one once its client has resent it. A
// webhook cannot deduplicate as filedrop does, so a delivery whose
// acknowledgement the crash lost is repeated: the test counts and reports
// those duplicates, which the receiver recognises by the submission id.
func TestCrashDuringLoadWebhook(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: 2,000 submissions and a restart")
	}
	dir := t.TempDir()
	rcv := newReceiver(t)
	natsAddr := freeAddr(t)
	cfg := conf{
		NATS: fmt.Sprintf("data_dir: %q\nlisten: %s", filepath.Join(dir, "nats"), natsAddr),
		Targets: fmt.Sprintf(`  - name: hook
    type: webhook
    concurrency: 8
    ack_wait: 5s
    options: {url: %q, secret_env: HOOK_SECRET, timeout: 5s}`, rcv.url()),
		Routes: "  - {name: all, target: hook}",
	}.write(t, dir)
	g := startGateway(t, "gateway", cfg, "HOOK_SECRET="+hookSecret)

	const n = 2000
	load := newCrashLoad(t, n)
	before, owner := crashAndRecover(t, g, load)

	eventually(t, 2*time.Minute, "all submissions taken by the receiver", func() string {
		missing := 0
		for id := range owner {
			if rcv.times(id) == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Sprintf("%d of %d not taken", missing, n)
		}
		return ""
	})
	for i, id := range before {
		if rcv.times(id) == 0 {
			t.Errorf("submission %d (%s) got a 202 before the crash and never reached the receiver", i, id)
		}
	}
	for id, i := range owner {
		if load.atts[i] == nil && !bytes.Equal(rcv.body(id), load.msgs[i]) {
			t.Errorf("%s: the receiver took %d bytes, not the %d bytes sent", id, len(rcv.body(id)), len(load.msgs[i]))
		}
	}

	in := inspect(t, "nats://"+natsAddr)
	if m := in.submissions(t); m != n {
		t.Errorf("the submissions stream holds %d messages, want %d: a request without 202 left a submission behind", m, n)
	}
	in.waitDrained(t, "hook")
	dups, dupIDs, beforeDups := 0, 0, 0
	for id := range owner {
		if k := rcv.times(id); k > 1 {
			dups += k - 1
			dupIDs++
		}
	}
	for _, id := range before {
		if rcv.times(id) > 1 {
			beforeDups++
		}
	}
	t.Logf("all %d taken by the receiver; %d duplicate deliveries of %d ids (%d of them accepted before the crash): "+
		"deliveries whose acknowledgement the crash lost", n, dups, dupIDs, beforeDups)
	for id := range owner {
		st, err := getStatus(g.base, keyA, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != "delivered" {
			t.Errorf("%s: status %q", id, st.Status)
		}
	}
}
