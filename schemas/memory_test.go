package schemas

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// procStatus returns a field of /proc/self/status in bytes, such as VmRSS or VmHWM.
func procStatus(t testing.TB, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// statmRSS returns the resident set size from /proc/self/statm.
func statmRSS(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm:", err)
	}
	fields := strings.Fields(string(b))
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

func settle() {
	runtime.GC()
	debug.FreeOSMemory()
}

// TestNoRSSGrowth validates real documents 100,000 times, from memory on one
// goroutine and from files on another, covering every outcome, and checks
// that the resident set does not grow after a warm-up.
func TestNoRSSGrowth(t *testing.T) {
	if testing.Short() {
		t.Skip("validates 100,000 documents")
	}
	c := shared(t)
	var docs [][]byte
	for _, p := range [][]string{
		{"xbeteiligung", "1.2", "tests", "res", "example402FromCockpit.xml"},
		{"xwasser", "1.0.0", "tests", "monitoring_plan_minimal.xml"},
		{"xdomea", "3.0.0", "examples", "x-man", "9a75050f-323a-4e84-94c9-a889aa2b4fe8_Aussonderung.Anbieteverzeichnis.0501.xml"},
	} {
		doc, err := os.ReadFile(sharedDir(t, append([]string{"xoev"}, p...)...))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc, doc[:len(doc)/2]) // and a truncated, malformed copy
	}
	docs = append(docs, []byte(`<a:x xmlns:a="urn:unbekannt"><a:y/></a:x>`), utf16LE(billionLaughs))
	dir := t.TempDir()
	var paths []string
	for i, doc := range docs {
		paths = append(paths, writeFile(t, dir, strconv.Itoa(i)+".xml", string(doc)))
	}
	outcomes := map[Outcome]bool{}
	for _, doc := range docs {
		outcomes[c.Validate(doc).Outcome] = true
	}
	if len(outcomes) != 5 {
		t.Fatalf("outcomes covered: %v", outcomes)
	}
	run := func(n int) {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i += 2 {
				c.Validate(docs[i%len(docs)])
			}
		}()
		go func() {
			defer wg.Done()
			for i := 1; i < n; i += 2 {
				c.ValidateFile(paths[i%len(paths)])
			}
		}()
		wg.Wait()
	}
	const warmup, total = 20_000, 100_000
	run(warmup)
	settle()
	before := statmRSS(t)
	start := time.Now()
	run(total - warmup)
	settle()
	after := statmRSS(t)
	took := time.Since(start)
	t.Logf("%d validations in %v; RSS %.1f MB after warm-up, %.1f MB at the end (%+.2f MB)",
		total, took, mb(before), mb(after), mb(after-before))
	writeBenchResult(t, map[string]any{
		"validations": total, "warmup": warmup, "seconds": took.Seconds(),
		"rss_after_warmup_bytes": before, "rss_end_bytes": after,
	})
	if after-before > 3<<20 {
		t.Errorf("RSS grew by %.1f MB", mb(after-before))
	}
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }

// bigDocument returns an XBeteiligung message of about size bytes: a real
// test message with a base64 attachment (xbeteiligung:dokument), its lines
// ending in eol.
func bigDocument(t testing.TB, size int, eol string) []byte {
	t.Helper()
	src, err := os.ReadFile(sharedDir(t, "xoev", "xbeteiligung", "1.2", "tests", "res", "example402FromCockpit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	const after = "</anhangOderVerlinkung>"
	i := bytes.Index(src, []byte(after)) + len(after)
	raw := make([]byte, size*3/4)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(raw)
	enc := base64.StdEncoding.EncodeToString(raw)
	var b bytes.Buffer
	b.Grow(len(src) + len(enc) + len(enc)/76*len(eol) + 100)
	b.Write(src[:i])
	b.WriteString(eol + "<xbeteiligung:dokument>")
	for len(enc) > 0 {
		n := min(76, len(enc))
		b.WriteString(enc[:n] + eol)
		enc = enc[n:]
	}
	b.WriteString("</xbeteiligung:dokument>")
	b.Write(src[i:])
	if eol != "\n" {
		return bytes.ReplaceAll(b.Bytes(), []byte("\n"), []byte(eol))
	}
	return b.Bytes()
}

// TestLargeTextStaysLinear guards against libxml2's quadratic handling of
// text delivered in many pieces (xmlStrncat per callback): a 4 MB base64
// attachment with CRLF line ends arrives line by line.
func TestLargeTextStaysLinear(t *testing.T) {
	c := shared(t)
	// Compare 1 MB with 4 MB instead of asserting a time: linear handling
	// takes about 4 times as long, quadratic 16 times. The best of three
	// runs each keeps a busy machine from deciding.
	best := func(size int) time.Duration {
		doc := bigDocument(t, size, "\r\n")
		var min time.Duration
		for range 3 {
			start := time.Now()
			r := c.Validate(doc)
			if d := time.Since(start); min == 0 || d < min {
				min = d
			}
			if !r.Valid() {
				t.Fatalf("%s %q", r.Outcome, messages(r))
			}
		}
		return min
	}
	small, large := best(1<<20), best(4<<20)
	t.Logf("1 MB: %v, 4 MB: %v", small, large)
	if large > 10*small {
		t.Errorf("4 MB of text took %v, 1 MB %v: more than linear", large, small)
	}
}

// bigResult is what the child process of TestBigDocument reports.
type bigResult struct {
	Outcome Outcome `json:"outcome"`
	Growth  int64   `json:"growth"`  // peak RSS minus RSS before validating, bytes
	Seconds float64 `json:"seconds"` // time to validate
	Method  string  `json:"method"`
}

// TestBigDocument validates a generated 40 MB XBeteiligung message with
// ValidateFile and with Validate, each in a fresh process so that the peak
// RSS (VmHWM) belongs to the validation alone.
func TestBigDocument(t *testing.T) {
	if testing.Short() {
		t.Skip("validates 40 MB documents in child processes")
	}
	path := writeFile(t, t.TempDir(), "big.xml", string(bigDocument(t, 40<<20, "\n")))
	fi, _ := os.Stat(path)
	for _, mode := range []string{"file", "memory"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBigDocumentChild$", "-test.v")
		cmd.Env = append(os.Environ(), "SCHEMAS_BIG_DOC="+path, "SCHEMAS_BIG_MODE="+mode)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", mode, err, out)
		}
		_, line, ok := strings.Cut(string(out), "RESULT ")
		if !ok {
			t.Fatalf("%s: no result\n%s", mode, out)
		}
		var res bigResult
		if err := json.Unmarshal([]byte(strings.SplitN(line, "\n", 2)[0]), &res); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %.1f MB document %s in %.2f s, peak RSS growth %.1f MB (%s)",
			mode, mb(fi.Size()), res.Outcome, res.Seconds, mb(res.Growth), res.Method)
		if res.Outcome != OutcomeValid || res.Growth > 150<<20 {
			t.Errorf("%s: %+v", mode, res)
		}
	}
}

// TestBigDocumentChild is the child process of TestBigDocument.
func TestBigDocumentChild(t *testing.T) {
	path, mode := os.Getenv("SCHEMAS_BIG_DOC"), os.Getenv("SCHEMAS_BIG_MODE")
	if path == "" {
		t.Skip("runs as a child of TestBigDocument")
	}
	c, err := Load(sharedDir(t, "xoev", "xbeteiligung"))
	if err != nil {
		t.Fatal(err)
	}
	var doc []byte
	if mode == "memory" {
		if doc, err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
	}
	settle()
	before := procStatus(t, "VmRSS")
	method := "VmHWM after resetting it through /proc/self/clear_refs"
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
		method = "VmHWM (not reset: an upper bound)"
	}
	start := time.Now()
	var r *Report
	if mode == "memory" {
		r = c.Validate(doc)
	} else {
		r = c.ValidateFile(path)
	}
	res := bigResult{r.Outcome, procStatus(t, "VmHWM") - before, time.Since(start).Seconds(), method}
	runtime.KeepAlive(doc)
	b, _ := json.Marshal(res)
	os.Stdout.WriteString("RESULT " + string(b) + "\n")
}
