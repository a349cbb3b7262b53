package hostile

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// Bounds of TestHostileInFlight: room for four bodies of the default
// server.max_body_bytes (16 MiB), and eight requests.
const (
	inFlightBytes = 64 << 20
	inFlightCount = 8
	maxBodyBytes  = 16 << 20
)

// TestHostileInFlight opens many requests at once, each declaring a body
// of server.max_body_bytes and sending all of it but the last MiB, then
// nothing: without a bound the gateway would hold 24 × 15 MiB. With
// server.max_in_flight_bytes it reads four of them (each answered 408
// after server.read_timeout) and refuses the others at once with 503 busy
// and Retry-After, before reading their bodies; the peak RSS stays near
// the bound. Then many small requests trickling their bodies meet
// server.max_in_flight the same way. Afterwards a normal submission is
// accepted again.
func TestHostileInFlight(t *testing.T) {
	e := startWith(t, fmt.Sprintf("  max_in_flight: %d\n  max_in_flight_bytes: %d\n", inFlightCount, inFlightBytes))
	valid := testenv.Example(t, "antrag-valid.xml")
	require.Equal(t, 202, send(e.addr, hcase{body: valid}).status, "warm-up")

	// Large bodies: the byte bound.
	const attackers = 24
	head := requestHead("POST", "/v1/submissions", "application/xml", fmt.Sprintf("Content-Length: %d", maxBodyBytes))
	most := bytes.Repeat([]byte("<"), maxBodyBytes-1<<20)
	runtime.GC()
	reset := resetPeakRSS()
	before := procStatus("VmRSS")
	start := time.Now()
	got := attack(e.addr, head, attackers, func(w io.Writer) { _, _ = w.Write(most) })
	peak := procStatus("VmHWM") - before
	t.Logf("%d requests declaring %d MiB each, all but 1 MiB sent: %s in %s; peak RSS growth %d MiB (bound %d MiB of bodies)",
		attackers, maxBodyBytes>>20, tally(got), time.Since(start).Round(time.Millisecond), peak>>20, inFlightBytes>>20)
	busy := checkBusy(t, got, "server.max_in_flight_bytes", inFlightBytes)
	assert.Equal(t, attackers-inFlightBytes/maxBodyBytes, busy, "all but the four that fit are refused: %s", tally(got))
	if reset {
		budget := int64(inFlightBytes + 64<<20)
		if raceEnabled {
			budget *= 3 // the race detector's shadow memory: measured 182 MiB instead of 60
		}
		assert.Less(t, peak, budget, "peak RSS growth %d MiB: the bodies in flight are bounded", peak>>20)
	}

	// Small bodies trickled in: the count bound.
	const tricklers = 12
	head = requestHead("POST", "/v1/submissions", "application/xml", fmt.Sprintf("Content-Length: %d", len(valid)))
	got = attack(e.addr, head, tricklers, func(w io.Writer) { _, _ = w.Write(valid[:10]) })
	t.Logf("%d requests trickling their bodies: %s", tricklers, tally(got))
	busy = checkBusy(t, got, "server.max_in_flight", inFlightCount)
	assert.Equal(t, tricklers-inFlightCount, busy, "all but eight are refused: %s", tally(got))

	a := send(e.addr, hcase{body: valid})
	assert.Equal(t, 202, a.status, "a normal submission is accepted again: %s", a.body)
}

// attack sends n requests with head at once, each writing its body with
// body and then nothing more, and returns their answers.
func attack(addr, head string, n int, body func(io.Writer)) []answer {
	got := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = exchange(addr, head, body)
		}()
	}
	wg.Wait()
	return got
}

// checkBusy asserts that every answer is a 408 (read, then cut off after
// server.read_timeout) or a 503 busy naming limitKey and limit with
// Retry-After, and returns how many were busy.
func checkBusy(t *testing.T, got []answer, limitKey string, limit int64) int {
	t.Helper()
	busy := 0
	for _, a := range got {
		require.NoError(t, a.err)
		if a.status == 408 {
			continue
		}
		busy++
		assert.Equal(t, 503, a.status, "%s: %s", a, a.body)
		assert.Equal(t, "busy", a.typ)
		assert.Equal(t, limitKey, a.limitKey)
		assert.Equal(t, limit, a.limit)
		assert.Equal(t, "2", a.retry, "Retry-After")
	}
	return busy
}

// tally counts the answers by kind, e.g. "4 × 408 request-timeout, 20 × 503 busy (…)".
func tally(got []answer) string {
	counts, order := map[string]int{}, []string{}
	for _, a := range got {
		k := a.String()
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	var b bytes.Buffer
	for i, k := range order {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d × %s", counts[k], k)
	}
	return b.String()
}
