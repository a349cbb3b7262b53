package schemas

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCompareXmllint measures, in one run, the documents per second of
// Catalog.Validate on one and two goroutines and of xmllint (one process
// validating N copies of a file, the schema compiled once) on every real
// message and on a generated 40 MB message, and prints a Markdown table.
// xmllint --stream is timed on the 40 MB message only: for small files it
// recompiles the schema per file and measures nothing else. It runs only when
// asked:
//
//	DREHSCHEIBE_BENCH_XMLLINT=1 go test ./schemas -run TestCompareXmllint -v
//
// make bench (test/load) runs it on the documents it posts to the gateway:
// DREHSCHEIBE_BENCH_DOCS names them (separated by the OS path list
// separator) instead of the real messages and the 40 MB one, and the rows
// are also written as JSON into the directory DREHSCHEIBE_BENCH_OUT.
func TestCompareXmllint(t *testing.T) {
	if os.Getenv("DREHSCHEIBE_BENCH_XMLLINT") == "" {
		t.Skip("set DREHSCHEIBE_BENCH_XMLLINT=1 to compare with xmllint")
	}
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skip("xmllint is not on PATH")
	}
	c := shared(t)
	root := sharedDir(t, "xoev")
	lint := xmllintSchemas(t, root)
	var files []string
	big, what := "", "documents"
	docs := os.Getenv("DREHSCHEIBE_BENCH_DOCS")
	if docs != "" {
		files = filepath.SplitList(docs)
	} else {
		what = "real messages"
		files = realMessages(t)
		big = writeFile(t, t.TempDir(), "generated-40MB-xbeteiligung.xml", string(bigDocument(t, 40<<20, "\n")))
		files = append(files, big)
	}

	version, _ := exec.Command("xmllint", "--version").CombinedOutput()
	fmt.Printf("\nnproc %d, GOMAXPROCS %d, %s, %s\n\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(),
		strings.SplitN(string(version), "\n", 2)[0])
	fmt.Println("| document | KB | Validate, 1 goroutine, docs/s | Validate, 2 goroutines, docs/s | xmllint, docs/s | 1 goroutine ÷ xmllint | 2 goroutines ÷ xmllint |")
	fmt.Println("|---|--:|--:|--:|--:|--:|--:|")
	var sum [3]float64 // seconds per document, summed over the documents other than the 40 MB one
	var rows []validationRate
	for _, f := range files {
		doc, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := c.Validate(doc)
		if docs != "" && !r.Valid() {
			// The gateway accepts only valid documents; make bench compares like with like.
			t.Fatalf("%s is not valid: %s %q", f, r.Outcome, messages(r))
		}
		s := lint[r.Namespace]
		isBig := f == big
		window := 400 * time.Millisecond
		if isBig {
			window = 2 * time.Second
		}
		rates := [3]float64{
			validateRate(c, doc, 1, window),
			validateRate(c, doc, 2, window),
			xmllintRate(t, s, f, isBig, ""),
		}
		name, err := filepath.Rel(root, f)
		if err != nil || strings.HasPrefix(name, "..") {
			name = filepath.Base(f)
		}
		if isBig {
			name = "generated 40 MB XBeteiligung, base64 attachment"
			defer fmt.Printf("\nxmllint --stream on the 40 MB message: %.1f s\n", 1/xmllintRate(t, s, f, true, "--stream"))
		} else {
			for i, rate := range rates {
				sum[i] += 1 / rate
			}
		}
		rows = append(rows, validationRate{Path: f, Bytes: len(doc), Validate1: rates[0], Validate2: rates[1], Xmllint: rates[2]})
		fmt.Printf("| %s | %d | %s | %s | %s | %.1f× | %.1f× |\n", name, len(doc)/1024,
			rateString(rates[0]), rateString(rates[1]), rateString(rates[2]), rates[0]/rates[2], rates[1]/rates[2])
	}
	n := float64(len(files))
	if big != "" {
		n--
	}
	fmt.Printf("| all %.0f %s, mixed | | %s | %s | %s | %.1f× | %.1f× |\n", n, what,
		rateString(n/sum[0]), rateString(n/sum[1]), rateString(n/sum[2]), sum[2]/sum[0], sum[2]/sum[1])
	writeBenchResult(t, rows)
}

// validationRate is one row of TestCompareXmllint in documents per second.
type validationRate struct {
	Path      string  `json:"path"`
	Bytes     int     `json:"bytes"`
	Validate1 float64 `json:"validate_1_goroutine_per_s"`
	Validate2 float64 `json:"validate_2_goroutines_per_s"`
	Xmllint   float64 `json:"xmllint_per_s"`
}

// writeBenchResult writes v as JSON to $DREHSCHEIBE_BENCH_OUT/<test name>.json
// when that variable names a directory; make bench collects the figures there.
func writeBenchResult(t *testing.T, v any) {
	t.Helper()
	dir := os.Getenv("DREHSCHEIBE_BENCH_OUT")
	if dir == "" {
		return
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, t.Name()+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func rateString(r float64) string {
	if r < 10 {
		return fmt.Sprintf("%.3g", r)
	}
	return fmt.Sprintf("%.0f", r)
}

// validateRate returns the documents per second Validate achieves on the
// given number of goroutines within about window.
func validateRate(c *Catalog, doc []byte, goroutines int, window time.Duration) float64 {
	c.Validate(doc)
	var wg sync.WaitGroup
	counts := make([]int, goroutines)
	start := time.Now()
	for g := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for counts[g] == 0 || time.Since(start) < window {
				c.Validate(doc)
				counts[g]++
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range counts {
		total += n
	}
	return float64(total) / time.Since(start).Seconds()
}

// xmllintRate returns the documents per second of one xmllint process that
// validates many copies of path, without the time to compile the schema:
// (n-1) / (t(n copies) - t(1 copy)), each t the fastest of a few runs. A big document is validated once, and
// its single time counts, the schema compilation included.
func xmllintRate(t *testing.T, s xmllintSchema, path string, big bool, mode string) float64 {
	t.Helper()
	run := func(copies int) time.Duration {
		args := []string{}
		if mode != "" {
			args = append(args, mode)
		}
		if big {
			args = append(args, "--huge")
		}
		for i := 0; i < copies; i++ {
			args = append(args, path)
		}
		start := time.Now()
		if _, stderr, err := s.xmllint(args...); err != nil {
			t.Fatalf("xmllint: %v\n%s", err, stderr)
		}
		return time.Since(start)
	}
	if big {
		return 1 / run(1).Seconds()
	}
	// On a busy machine one run can take much longer than the next, and a
	// slow run of one copy would make the difference small or negative: the
	// fastest of a few runs is the least disturbed.
	fastest := func(copies, runs int) time.Duration {
		best := run(copies)
		for range runs - 1 {
			best = min(best, run(copies))
		}
		return best
	}
	one := fastest(1, 3)
	estimate := max(fastest(10, 1)-one, time.Millisecond) / 9
	n := max(10, int(400*time.Millisecond/estimate))
	return float64(n-1) / max(fastest(n, 2)-one, time.Millisecond).Seconds()
}
