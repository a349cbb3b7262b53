package faults

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// retryIn reads the delay the gateway planned from a delivery_failed event.
var retryIn = regexp.MustCompile(`^retry in (\S+)$`)

// TestFachverfahrenOutage takes the webhook receiver down while 20
// submissions arrive and brings it back after 5 seconds. Every submission
// must be delivered, its status must show each failed attempt, the attempts
// must be spaced at least as far apart as the planned backoff (which grows),
// and there must be no attempts besides those in the event log.
func TestFachverfahrenOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a 5 s outage and the backoff after it")
	}
	dir := t.TempDir()
	rcv := newReceiver(t)
	cfg := conf{
		NATS: fmt.Sprintf("data_dir: %q", filepath.Join(dir, "nats")),
		Targets: fmt.Sprintf(`  - name: fachverfahren
    type: webhook
    concurrency: 4
    max_attempts: 20
    ack_wait: 30s
    options: {url: %q, secret_env: HOOK_SECRET, timeout: 5s}`, rcv.url()),
		Routes: "  - {name: all, target: fachverfahren}",
	}.write(t, dir)
	g := startGateway(t, "gateway", cfg, "HOOK_SECRET="+hookSecret)

	const n, outage = 20, 5 * time.Second
	rcv.down()
	downAt := time.Now()
	tmpl := demoTemplate(t)
	ids := make([]string, n)
	msgs := map[string][]byte{}
	for i := range ids {
		msg := demoMessage(tmpl, fmt.Sprintf("outage-%02d", i))
		a := send(g.base, request{key: keyA, contentType: "application/xml", body: msg})
		if a.err != nil || a.code != http.StatusAccepted {
			t.Fatalf("submission %d: %s", i, a)
		}
		ids[i], msgs[a.id] = a.id, msg
	}
	// During the outage the sender sees that its submissions are retried.
	// Failed attempts waiting for their retry count against the target's
	// max_ack_pending (twice its concurrency), so the rest wait queued.
	eventually(t, outage, "submissions retrying during the outage", func() string {
		retrying := 0
		for _, id := range ids {
			st, err := getStatus(g.base, keyA, id)
			if err != nil {
				return err.Error()
			}
			switch st.Status {
			case "retrying":
				retrying++
			case "queued":
			default:
				t.Fatalf("%s is %s while the receiver is down", id, st.Status)
			}
		}
		if retrying < 8 {
			return fmt.Sprintf("%d retrying", retrying)
		}
		return ""
	})
	time.Sleep(time.Until(downAt.Add(outage))) // the outage lasts its length
	rcv.up()

	eventually(t, time.Minute, "every submission delivered after the outage", func() string {
		for _, id := range ids {
			if rcv.times(id) == 0 {
				return id + " not taken yet"
			}
			st, err := getStatus(g.base, keyA, id)
			if err != nil {
				return err.Error()
			}
			if st.Status != "delivered" {
				return id + " is " + st.Status
			}
		}
		return ""
	})

	failedAttempts, repeats, maxAttempts, backedOff := 0, 0, 0, 0
	for _, id := range ids {
		if !bytes.Equal(rcv.body(id), msgs[id]) {
			t.Errorf("%s: the receiver got other bytes than were sent", id)
		}
		repeats += rcv.times(id) - 1
		st, err := getStatus(g.base, keyA, id)
		if err != nil {
			t.Fatal(err)
		}
		attempts := checkBackoff(t, id, st, 100*time.Millisecond)
		failedAttempts += attempts - 1
		maxAttempts = max(maxAttempts, attempts)
		if attempts >= 3 {
			backedOff++
		}
	}
	if backedOff < 8 {
		t.Errorf("only %d submissions failed twice or more in a %s outage", backedOff, outage)
	}
	// The metrics count every attempt the dispatcher made: none is hidden
	// from the event log.
	if got := metric(t, g.base, `drehscheibe_delivery_attempts_total{adapter="webhook",result="transient",target="fachverfahren"}`); got != float64(failedAttempts) {
		t.Errorf("metrics count %v failed attempts, the event logs %d", got, failedAttempts)
	}
	t.Logf("%d submissions through a %s outage: %d failed attempts in all, at most %d attempts for one; %d taken twice by the receiver",
		n, outage, failedAttempts, maxAttempts, repeats)
}

// checkBackoff checks the attempts in the event log of id and returns how
// many there were, the successful one included. An attempt may come early by
// at most early: across a restart JetStream keeps the due time of a delayed
// retry in whole seconds.
func checkBackoff(t *testing.T, id string, st *status, early time.Duration) int {
	t.Helper()
	var at []time.Time
	var planned []time.Duration
	for _, e := range st.Events {
		switch e.Type {
		case "delivery_failed":
			if e.Attempt != len(at)+1 {
				t.Errorf("%s: failed attempt numbered %d, want %d", id, e.Attempt, len(at)+1)
			}
			m := retryIn.FindStringSubmatch(e.Detail)
			if m == nil {
				t.Fatalf("%s: delivery_failed without a planned delay: %q", id, e.Detail)
			}
			d, err := time.ParseDuration(m[1])
			if err != nil {
				t.Fatal(err)
			}
			at, planned = append(at, e.At), append(planned, d)
		case "delivered":
			if e.Attempt != len(at)+1 {
				t.Errorf("%s: delivered in attempt %d after %d failed ones", id, e.Attempt, len(at))
			}
			at = append(at, e.At)
		}
	}
	// A 5 s outage with a backoff starting at about a second fails up to
	// four attempts; many more would be a hot loop.
	if len(planned) > 8 {
		t.Errorf("%s: %d failed attempts in a 5 s outage", id, len(planned))
	}
	for i, d := range planned {
		if i+1 >= len(at) {
			break
		}
		if gap := at[i+1].Sub(at[i]); gap < d-early {
			t.Errorf("%s: attempt %d came %s after attempt %d, the gateway planned %s", id, i+2, gap, i+1, d)
		}
		if i > 0 && d <= planned[i-1] {
			t.Errorf("%s: planned delays do not grow: %s after %s", id, d, planned[i-1])
		}
	}
	return len(at)
}

// metric reads one sample from /metrics; 0 if it is absent.
func metric(t *testing.T, base, series string) float64 {
	t.Helper()
	res, err := httpClient.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}
