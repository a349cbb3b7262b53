// Command load is drehscheibe's benchmark: it measures the gateway end to
// end over HTTP next to the limits of the parts it is made of, in one run on
// one machine, prints Markdown tables and writes a JSON file per run.
// `make bench` runs it; docs/benchmarks.md explains the figures.
//
//	go run ./test/load [-levels 1,4,16,64] [-duration 4s] [-skip gobench,...]
//
// Phases, in order, each bounded in count and time:
//
//   - schemas: xmllint next to the validator on the same documents, and RSS
//     over 100,000 validations: the schemas package's TestCompareXmllint
//     and TestNoRSSGrowth, run as a child go test;
//   - startup: bin/drehscheibe serve from start to /readyz 200 with the demo
//     standard and all of ../shared/xoev compiled;
//   - big: peak RSS growth of a fresh gateway for one 40 MB submission;
//   - load: per document, in alternating rounds, the validator alone
//     (schemas.Catalog.Validate on 1 and 2 goroutines), durable JetStream
//     publishes of the same size into the gateway's own streams (embedded
//     server, file store, fsync before ack) and closed-loop load at each
//     concurrency level; then a fixed-rate phase at half the highest
//     throughput; then the filedrop route with deliveries counted;
//   - gobench: the testing.B benchmarks of the hot functions.
//
// The gateway is the real binary with a generated configuration in a
// temporary directory, so CPU and RSS read from /proc are its own. Nothing
// here fails on a number; the program exits non-zero only when a phase
// could not run.
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// options are the flags, resolved.
type options struct {
	root, bin, xoev, tmp, goBin, resultsDir string
	levels                                  []int
	duration, fixedDuration                 time.Duration
	deliveryDuration, drainLimit            time.Duration
	publishWindow                           time.Duration
	maxRequests, deliveryMax, rounds        int
	benchtime, only                         string
	skip                                    map[string]bool
	keep, profile                           bool
}

func main() {
	os.Exit(run())
}

func run() int {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		return 2
	}
	if !o.keep {
		defer os.RemoveAll(o.tmp)
	}
	started := time.Now()
	r := newResult(o)
	progress("documents")
	docs, err := loadDocuments(o.xoev, o.tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		return 1
	}
	if o.only != "" {
		docs = slices.DeleteFunc(docs, func(d document) bool { return !strings.Contains(d.Name, o.only) })
	}
	r.addDocuments(docs)

	phase := func(name string, f func() error) {
		if o.skip[name] {
			r.Skipped = append(r.Skipped, name)
			return
		}
		progress(name)
		t := time.Now()
		if err := f(); err != nil {
			fmt.Fprintf(os.Stderr, "load: %s: %v\n", name, err)
			r.Errors = append(r.Errors, name+": "+firstLine(err.Error()))
		}
		r.PhaseSeconds[name] = time.Since(t).Seconds()
	}
	phase("schemas", func() error {
		rates, rss, err := runSchemasBench(o.goBin, o.root, o.tmp, docs)
		r.setValidation(rates)
		r.Memory.Validations = rss
		return err
	})
	phase("startup", func() error {
		var err error
		r.Startup, err = measureStartup(o, 3)
		return err
	})
	phase("big", func() error {
		seed, err := os.ReadFile(filepath.Join(o.xoev, seedDoc))
		if err != nil {
			return err
		}
		big, err := generateBig(seed, 40<<20)
		if err != nil {
			return err
		}
		for _, deliver := range []bool{false, true} {
			b, err := bigSubmission(o, big, deliver)
			if b != nil {
				r.Memory.Big = append(r.Memory.Big, *b)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	phase("load", func() error { return loadPhases(o, r, docs) })
	phase("gobench", func() error {
		var err error
		r.GoBenchFile = filepath.Join(o.resultsDir, r.stamp()+".bench.txt")
		r.GoBenchmarks, err = runGoBench(o.goBin, o.root, r.GoBenchFile, o.benchtime)
		r.GoBenchFile, _ = filepath.Rel(o.root, r.GoBenchFile)
		return err
	})
	r.TotalSeconds = time.Since(started).Seconds()
	r.computeRatios()
	r.print(os.Stdout)

	path := filepath.Join(o.resultsDir, r.stamp()+".json")
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		return 1
	}
	rel, _ := filepath.Rel(o.root, path)
	fmt.Printf("\nresults: %s (%.0f s)\n", rel, r.TotalSeconds)
	if len(r.Errors) > 0 {
		return 1
	}
	return 0
}

// loadPhases runs the HTTP phases. Every document gets a gateway and a
// publisher of its own, started empty, so that its figures do not depend on
// how many submissions the documents before it left in the store (the tail
// latency grows with them; docs/benchmarks.md). The delivering route runs
// last, on one more fresh gateway.
func loadPhases(o *options, r *result, docs []document) error {
	val, err := openValidator(filepath.Join(o.root, "schemas", "demo"), o.xoev)
	if err != nil {
		return err
	}
	defer val.close()
	for _, d := range docs {
		if err := val.check(d); err != nil {
			return err
		}
	}
	for i, d := range docs {
		progress("load: " + d.Name)
		var profile string
		if o.profile {
			profile = filepath.Join(o.resultsDir, r.stamp()+"-"+slug(short(d.Name))+".cpu.pprof")
		}
		if err := loadDocument(o, &r.Documents[i], val, d, profile); err != nil {
			return err
		}
		if profile != "" {
			r.Documents[i].CPUProfile, r.Documents[i].CPUProfileTop = profileTop(o.goBin, o.root, profile)
		}
	}
	g, err := startGateway(o.bin, o.tmp, o.root, o.xoev)
	if err != nil {
		return err
	}
	defer g.stop()
	if err := warmUp(g, docs, 200); err != nil {
		return err
	}
	for i, d := range docs {
		progress("delivery: " + d.Name)
		dres, err := deliveryPhase(o, g, d.data, 16)
		if err != nil {
			return err
		}
		r.Documents[i].Delivery = dres
	}
	return nil
}

// loadDocument measures one document against a fresh gateway and a fresh
// publisher: the paired rounds, then the fixed rate at half the maximum.
func loadDocument(o *options, dr *docResult, val *validator, d document, profile string) error {
	var extra []string
	if profile != "" {
		extra = []string{"--cpuprofile", profile}
	}
	g, err := startGateway(o.bin, o.tmp, o.root, o.xoev, extra...)
	if err != nil {
		return err
	}
	defer g.stop()
	if err := warmUp(g, []document{d}, 200); err != nil {
		return err
	}
	pub, err := openPublisher(o.tmp)
	if err != nil {
		return err
	}
	defer pub.close()
	res, err := pairedRounds(o, g, val, pub, d.data)
	if err != nil {
		return err
	}
	dr.Sweep, dr.Validate, dr.Publish = res.sweep, res.validate, res.publish
	best := slices.MaxFunc(dr.Sweep, func(a, b phase) int { return cmp.Compare(a.AcceptedPerS, b.AcceptedPerS) })
	dr.MaxAcceptedPerS, dr.MaxAtConcurrency = best.AcceptedPerS, best.Concurrency
	if best.AcceptedPerS > 0 {
		if dr.FixedRate, dr.FixedRatePublish, err = fixedRate(o, g, pub, d.data, best.AcceptedPerS/2); err != nil {
			return err
		}
	}
	return nil
}

func parseFlags() (*options, error) {
	o := &options{skip: map[string]bool{}}
	var levels, skip string
	flag.StringVar(&o.bin, "bin", "bin/drehscheibe", "gateway binary (relative to the repository root)")
	flag.StringVar(&o.xoev, "xoev", "../shared/xoev", "real XÖV schemas and messages (relative to the repository root)")
	flag.StringVar(&o.goBin, "go", "go", "go command for the child go test runs")
	flag.StringVar(&o.resultsDir, "results", "test/bench/results", "directory for <date>-<host>.json and .bench.txt")
	flag.StringVar(&levels, "levels", "1,4,16,64", "concurrency levels of the closed-loop phases")
	flag.IntVar(&o.rounds, "rounds", 4, "rounds of alternating raw publish and gateway load per document")
	flag.DurationVar(&o.duration, "duration", 1250*time.Millisecond, "length of each closed-loop window (per level and round)")
	flag.IntVar(&o.maxRequests, "max-requests", 30000, "most requests per level and document, over all rounds")
	flag.DurationVar(&o.fixedDuration, "fixed", 5*time.Second, "length of each fixed-rate phase")
	flag.DurationVar(&o.deliveryDuration, "delivery", 3*time.Second, "length of each phase on the filedrop route")
	flag.IntVar(&o.deliveryMax, "delivery-max", 3000, "most requests of each phase on the filedrop route")
	flag.DurationVar(&o.drainLimit, "drain-limit", time.Minute, "longest wait for deliveries after a filedrop phase")
	flag.DurationVar(&o.publishWindow, "raw-window", 500*time.Millisecond, "length of each window of the validator or publishing alone (per mode and round)")
	flag.StringVar(&o.benchtime, "benchtime", "1s", "-benchtime of the Go benchmarks")
	flag.StringVar(&skip, "skip", "", "phases to skip: schemas,startup,big,load,gobench")
	flag.StringVar(&o.only, "docs", "", "measure only the documents whose name contains this")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (gateway logs, data)")
	flag.BoolVar(&o.profile, "cpuprofile", true, "profile each document's gateway (serve --cpuprofile) into the results directory and report its top functions")
	flag.Parse()

	root, err := testenv.FindRepoRoot()
	if err != nil {
		return nil, err
	}
	o.root = root
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	o.bin, o.resultsDir = abs(o.bin), abs(o.resultsDir)
	if o.xoev, err = filepath.EvalSymlinks(abs(o.xoev)); err != nil {
		return nil, fmt.Errorf("-xoev: %w", err)
	}
	if _, err := os.Stat(o.bin); err != nil {
		return nil, fmt.Errorf("-bin: %w (run make build)", err)
	}
	for _, s := range strings.Split(levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-levels: %q is no positive number", s)
		}
		o.levels = append(o.levels, n)
	}
	if o.rounds < 1 {
		return nil, fmt.Errorf("-rounds: want at least 1")
	}
	for _, s := range strings.Split(skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.skip[s] = true
		}
	}
	if err := os.MkdirAll(o.resultsDir, 0o755); err != nil {
		return nil, err
	}
	o.tmp, err = os.MkdirTemp("", "drehscheibe-bench-")
	return o, err
}

var progressStart = time.Now()

func progress(s string) {
	fmt.Fprintf(os.Stderr, "[%5.1fs] %s\n", time.Since(progressStart).Seconds(), s)
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }
