package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drehscheibe/drehscheibe/schemas"
	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// TestGeneratedDocumentsAreValid checks that the generated ~20 KB message
// and (at 1 MB, to stay quick) the big message validate against
// XBeteiligung 1.2: the gateway would refuse them otherwise.
func TestGeneratedDocumentsAreValid(t *testing.T) {
	root, err := testenv.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	xoev := filepath.Join(root, "..", "shared", "xoev")
	seed, err := os.ReadFile(filepath.Join(xoev, seedDoc))
	if err != nil {
		t.Skipf("real XÖV data not available: %v", err)
	}
	c, err := schemas.Load(filepath.Join(xoev, "xbeteiligung"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	doc, copies, err := generate20KB(seed)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc) < 20<<10 || len(doc) > 22<<10 || copies == 0 {
		t.Errorf("generated %d bytes with %d copies; want 20 to 22 KiB", len(doc), copies)
	}
	if r := c.Validate(doc); !r.Valid() {
		t.Errorf("generated 20 KB message: %s %v", r.Outcome, r.Errors)
	}
	big, err := generateBig(seed, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Validate(big); !r.Valid() || len(big) < 1<<20 {
		t.Errorf("generated big message of %d bytes: %s %v", len(big), r.Outcome, r.Errors)
	}
}

func TestParseStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (drehscheibe (x) y) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 50 0 0 20 0 9 0 100 123456 789 18446744073709551615\n"
	got, err := parseStatCPU([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("cpu %v, want %v", got, want)
	}
	if _, err := parseStatCPU([]byte("4242 (short) S 1")); err == nil {
		t.Error("a short line parsed")
	}
}

func TestPercentile(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond} {
		if got := percentile(lat, q); got != want {
			t.Errorf("percentile(%v) = %v, want %v", q, got, want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing")
	}
}

func TestParseGoBench(t *testing.T) {
	out := strings.Join([]string{
		"goos: linux",
		"pkg: github.com/drehscheibe/drehscheibe/gateway/store",
		"BenchmarkPut/size=2KB/goroutines=1-2         	    3924	    294510 ns/op	   6.95 MB/s	   17837 B/op	      79 allocs/op",
		"PASS",
		"pkg: github.com/drehscheibe/drehscheibe/gateway/routing",
		"BenchmarkRoute-2   	 1000000	      3045 ns/op	       0 B/op	       0 allocs/op",
		"pkg: github.com/drehscheibe/drehscheibe/schemas",
		"BenchmarkPattern/string-latin-2            	      20	 103872325 ns/op	  10.82 MB/s	       105.6 ns/char",
	}, "\n")
	got := parseGoBench(out)
	if len(got) != 3 {
		t.Fatalf("%d results: %+v", len(got), got)
	}
	if b := got[0]; b.Pkg != "github.com/drehscheibe/drehscheibe/gateway/store" || b.Name != "BenchmarkPut/size=2KB/goroutines=1-2" ||
		b.N != 3924 || b.NsPerOp != 294510 || b.MBPerS != 6.95 || b.BytesPerOp != 17837 || b.AllocsPerOp != 79 {
		t.Errorf("%+v", b)
	}
	if b := got[1]; b.Name != "BenchmarkRoute-2" || b.NsPerOp != 3045 || b.Metrics != nil {
		t.Errorf("%+v", b)
	}
	if b := got[2]; b.NsPerOp != 103872325 || b.Metrics["ns/char"] != 105.6 || len(b.Metrics) != 1 {
		t.Errorf("%+v", b)
	}
}

// TestRatioLeavesOutBusyPublish: the publish rate with no core idle is a
// finding about the machine, never the limit the gateway is divided by,
// even where it is the highest publish rate of a run.
func TestRatioLeavesOutBusyPublish(t *testing.T) {
	var busy string
	for _, m := range publishModes {
		if m.busy {
			busy = m.name
		}
	}
	if busy == "" {
		t.Fatal("no publish mode with no core idle")
	}
	r := &result{Documents: []docResult{{
		MaxAcceptedPerS: 2000,
		Validate:        []rawRate{{Mode: validateModes[0].name, PerS: 5000}},
		Publish:         []rawRate{{Mode: publishModes[0].name, PerS: 3000}, {Mode: busy, PerS: 9000}},
	}}}
	r.computeRatios()
	q := r.Documents[0].Ratio
	if q == nil || q.Limit != "publish" || q.PublishPerS != 3000 || q.PublishMode != publishModes[0].name {
		t.Fatalf("ratio %+v: want the limit publish at 3000/s (%s)", q, publishModes[0].name)
	}
	if q.Ratio < 0.666 || q.Ratio > 0.667 {
		t.Errorf("ratio %.3f, want 2000/3000", q.Ratio)
	}
}

// TestSpinIdle: while the spinners run, one thread per core has the policy
// SCHED_IDLE; after stop those threads no longer run. (Their threads end
// with them, except the process's main thread if a spinner ran on it: Go
// parks that one for good.)
func TestSpinIdle(t *testing.T) {
	// idleCPU returns the threads at SCHED_IDLE and the CPU time they used.
	idleCPU := func() (threads int, ns int64) {
		tasks, _ := filepath.Glob("/proc/self/task/*")
		for _, task := range tasks {
			b, err := os.ReadFile(filepath.Join(task, "sched"))
			if err != nil || !regexp.MustCompile(`(?m)^policy\s+:\s+5$`).Match(b) {
				continue
			}
			threads++
			if st, err := os.ReadFile(filepath.Join(task, "schedstat")); err == nil {
				var run int64
				fmt.Sscan(string(st), &run)
				ns += run
			}
		}
		return threads, ns
	}
	stop, err := spinIdle()
	if err != nil {
		t.Fatal(err)
	}
	// They run only when nothing else wants a core (other test packages
	// may run beside this one), so wait until they have run a little.
	_, before := idleCPU()
	n, during := idleCPU()
	for deadline := time.Now().Add(10 * time.Second); during-before < int64(5*time.Millisecond) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		n, during = idleCPU()
	}
	stop()
	if n < runtime.NumCPU() {
		t.Errorf("%d threads at SCHED_IDLE while spinning, want one per core (%d)", n, runtime.NumCPU())
	}
	if during-before < int64(5*time.Millisecond) {
		t.Errorf("the spinners used %v of CPU in 10 s", time.Duration(during-before))
	}
	// A spinner's thread may still be on its way out when stop returns
	// (microseconds of CPU); one that kept spinning would use the 200 ms.
	_, after := idleCPU()
	time.Sleep(200 * time.Millisecond)
	if _, later := idleCPU(); later-after > int64(20*time.Millisecond) {
		t.Errorf("threads at SCHED_IDLE still use CPU after stop: %v in 200 ms", time.Duration(later-after))
	}
}

// TestClient posts over the lean client to a net/http server: the request
// arrives whole with the sender's key, answers other than 202 come back
// with their body, keep-alive connections are reused, and a server that
// closes the connection costs nothing but a new one.
func TestClient(t *testing.T) {
	var conns atomic.Int32
	var calls atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		switch {
		case r.Method != http.MethodPost || r.URL.Path != "/v1/submissions" || r.Header.Get("Authorization") != "Bearer k1" ||
			r.Header.Get("Content-Type") != "application/xml" || string(b) != "<doc/>":
			http.Error(w, fmt.Sprintf("unexpected %s %s %q %q", r.Method, r.URL, r.Header, b), http.StatusTeapot)
		case n == 3:
			http.Error(w, `{"type":"invalid"}`, http.StatusUnprocessableEntity)
		case n == 4:
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusAccepted)
		default:
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"id":"x"}`))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := newClient(&gatewayProc{base: srv.URL, keys: map[string]string{"s": "k1"}}, "s", 1)
	defer c.close()
	want := []int{202, 202, 422, 202, 202}
	for i, code := range want {
		got, body, err := c.post([]byte("<doc/>"))
		if err != nil || got != code {
			t.Fatalf("request %d: %d %q %v, want %d", i+1, got, body, err, code)
		}
		if code == 422 && !strings.Contains(body, "invalid") {
			t.Errorf("the body of a 422 is %q", body)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections for 5 requests, want 2 (one reused, a new one after Connection: close)", n)
	}
}

// TestProfileTop reads a CPU profile this test writes while it validates
// nothing but burns CPU in a function of its own: that function is among
// the top lines, and a missing profile says so.
func TestProfileTop(t *testing.T) {
	root, err := testenv.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Skipf("profiling: %v", err)
	}
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		burnForProfile()
	}
	pprof.StopCPUProfile()
	f.Close()
	_, top := profileTop("go", root, path)
	if !strings.Contains(strings.Join(top, "\n"), "burnForProfile") {
		t.Errorf("burnForProfile is not among the top lines:\n%s", strings.Join(top, "\n"))
	}
	_, top = profileTop("go", root, filepath.Join(t.TempDir(), "missing.pprof"))
	if len(top) != 1 || !strings.HasPrefix(top[0], "no profile: ") {
		t.Errorf("a missing profile gives %q", top)
	}
	if got := slug("generated 20 KB (x.xml + 5)"); got != "generated-20-KB--x.xml---5-" {
		t.Errorf("slug: %q", got)
	}
}

var burnSink uint64

//go:noinline
func burnForProfile() {
	x := burnSink
	for i := range 100000 {
		x = x*31 + uint64(i)
	}
	burnSink = x
}

// The JSON of a run says how it was started, so that a run with other
// schemas or a wrapper binary is not mistaken for a plain make bench.
func TestCommandLine(t *testing.T) {
	for args, want := range map[string]string{
		"":                      "go run ./test/load",
		"-go go":                "go run ./test/load -go go",
		"-xoev /tmp/x -docs 02": "go run ./test/load -xoev /tmp/x -docs 02",
	} {
		if got := commandLine(strings.Fields(args)); got != want {
			t.Errorf("commandLine(%q) = %q, want %q", args, got, want)
		}
	}
}
