package faults

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// seed returns FAULTS_SEED if set, else a fresh seed, and logs how to rerun.
func seed(t *testing.T) uint64 {
	t.Helper()
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("FAULTS_SEED"); v != "" {
		var err error
		if s, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("FAULTS_SEED: %v", err)
		}
	}
	t.Logf("seed %d (rerun with FAULTS_SEED=%d)", s, s)
	return s
}

// crashLoad is the set of submissions the crash test sends.
type crashLoad struct {
	reqs []request
	msgs [][]byte
	atts [][]attachment
}

// newCrashLoad makes n distinct submissions with their own Idempotency-Key;
// every 40th carries a 1.5 MB attachment, which goes through the object
// store, so that a crash can also hit a submission stored in several writes.
func newCrashLoad(t *testing.T, n int) *crashLoad {
	tmpl := demoTemplate(t)
	l := &crashLoad{reqs: make([]request, n), msgs: make([][]byte, n), atts: make([][]attachment, n)}
	for i := range n {
		tag := fmt.Sprintf("crash-%04d", i)
		l.msgs[i] = demoMessage(tmpl, tag)
		if i%40 == 0 {
			l.atts[i] = []attachment{{name: "scan.pdf", data: randomBytes(uint64(i), 1536<<10)}}
			body, ct := multipartBody(l.msgs[i], l.atts[i])
			l.reqs[i] = request{key: keyA, idempotencyKey: tag, contentType: ct, body: body}
			continue
		}
		l.reqs[i] = request{key: keyA, idempotencyKey: tag, contentType: "application/xml", body: l.msgs[i]}
	}
	return l
}

// TestCrashDuringLoad sends 2,000 submissions from 32 clients, kills the
// gateway with SIGKILL at a random moment, restarts it on the same data
// directory and resends every submission with its Idempotency-Key. Every
// submission answered 202 before the crash must come back as the same
// submission and be delivered exactly once with the right content; every
// other one must end up as exactly one complete submission.
func TestCrashDuringLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: 2,000 submissions and a restart")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	natsAddr := freeAddr(t)
	cfg := conf{
		NATS: fmt.Sprintf("data_dir: %q\nlisten: %s", filepath.Join(dir, "nats"), natsAddr),
		Targets: fmt.Sprintf(`  - name: fachverfahren
    type: filedrop
    concurrency: 8
    ack_wait: 5s
    options: {dir: %q}`, out),
		Routes: "  - {name: all, target: fachverfahren}",
	}.write(t, dir)
	g := startGateway(t, "gateway", cfg)

	const n = 2000
	load := newCrashLoad(t, n)
	_, owner := crashAndRecover(t, g, load)

	got := checkDropped(t, out, n, 2*time.Minute, "all submissions delivered", owner, load.msgs, load.atts)

	in := inspect(t, "nats://"+natsAddr)
	if m := in.submissions(t); m != n {
		t.Errorf("the submissions stream holds %d messages, want %d: a request without 202 left a submission behind", m, n)
	}
	in.waitDrained(t, "fachverfahren")
	again := 0
	for id := range got {
		st, err := getStatus(g.base, keyA, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != "delivered" {
			t.Errorf("%s: status %q", id, st.Status)
		}
		again += st.count("delivered") - 1
	}
	t.Logf("all %d delivered once each; %d deliveries were repeated to filedrop after the crash (acknowledgement lost, "+
		"filedrop kept the first), %d temporary directories left by the crash", n, again, tempsLeft(out))
}

// crashAndRecover sends load to g from 32 clients, kills g with SIGKILL
// after a random number of 202s (at least 200, and at least 200 before the
// end), restarts it on the same data directory and resends every submission
// with its Idempotency-Key until it is accepted. Every submission answered
// 202 before the crash must come back as a replay of the same submission,
// and no two submissions may share an id. It returns index → id of the 202s
// before the crash and id → index of every submission.
func crashAndRecover(t *testing.T, g *gateway, load *crashLoad) (before map[int]string, owner map[string]int) {
	t.Helper()
	const clients = 32
	n := len(load.reqs)
	rng := rand.New(rand.NewPCG(seed(t), 0))
	killAt := int64(200 + rng.IntN(n-400))
	answers := make([]answer, n)
	var accepted atomic.Int64
	var killOnce sync.Once
	start := time.Now()
	base := g.base
	<-parallel(n, clients, func(i int) {
		answers[i] = send(base, load.reqs[i])
		if answers[i].code == http.StatusAccepted && accepted.Add(1) == killAt {
			killOnce.Do(g.kill)
		}
	})
	if g.running() {
		t.Fatalf("the gateway was not killed: only %d of %d accepted", accepted.Load(), killAt)
	}

	before = map[int]string{} // index → id, for every 202 before the crash
	for i, a := range answers {
		switch {
		case a.err == nil && a.code == http.StatusAccepted:
			before[i] = a.id
		case a.err == nil:
			t.Fatalf("submission %d refused before the crash: %s", i, a)
		}
	}
	t.Logf("killed after %d accepted (%.1fs); %d had a 202, %d no answer",
		killAt, time.Since(start).Seconds(), len(before), n-len(before))

	g.start()
	base = g.base
	// Every client retries what it sent, with the same key: the accepted
	// ones must come back as replays of the same submission.
	ids := make([]string, n)
	replayed := make([]bool, n)
	<-parallel(n, clients, func(i int) {
		a, err := sendUntilAccepted(func() string { return base }, load.reqs[i], time.Minute)
		if err != nil {
			t.Error(err)
		}
		ids[i], replayed[i] = a.id, a.replayed
	})
	owner = map[string]int{}
	stoodBefore := 0
	for i, id := range ids {
		if id0, ok := before[i]; ok && (id != id0 || !replayed[i]) {
			t.Errorf("submission %d: accepted as %s before the crash, %s (replayed %v) after", i, id0, id, replayed[i])
		}
		if _, ok := before[i]; !ok && replayed[i] {
			stoodBefore++ // stored, but the 202 never reached the client
		}
		if j, dup := owner[id]; dup {
			t.Errorf("submissions %d and %d share id %s", j, i, id)
		}
		owner[id] = i
	}
	t.Logf("of the %d without a 202, %d had been stored (the answer was lost), %d were not", n-len(before), stoodBefore, n-len(before)-stoodBefore)
	return before, owner
}
