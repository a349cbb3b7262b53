package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Targets of the issue; reported, never enforced.
const (
	targetRatio = 0.7
	targetP99Ms = 25.0
	targetBigMB = 200.0
)

// result is everything one run measured; it is written as JSON.
type result struct {
	Date         string             `json:"date"`
	Host         string             `json:"host"`
	Command      string             `json:"command"`
	Machine      machine            `json:"machine"`
	Versions     versions           `json:"versions"`
	Settings     settings           `json:"settings"`
	Documents    []docResult        `json:"documents"`
	Startup      *startupResult     `json:"startup,omitempty"`
	Memory       memory             `json:"memory"`
	GoBenchFile  string             `json:"go_bench_file,omitempty"`
	GoBenchmarks []goBench          `json:"go_benchmarks,omitempty"`
	PhaseSeconds map[string]float64 `json:"phase_seconds"`
	TotalSeconds float64            `json:"total_seconds"`
	Skipped      []string           `json:"skipped,omitempty"`
	Errors       []string           `json:"errors,omitempty"`
	started      time.Time
}

type machine struct {
	CPU     string `json:"cpu"`
	NumCPU  int    `json:"nproc"`
	MemGiB  int64  `json:"mem_gib"`
	Kernel  string `json:"kernel"`
	OS      string `json:"os"`
	TempDir string `json:"temp_dir"`
}

type versions struct {
	Drehscheibe string `json:"drehscheibe"`
	Go          string `json:"go"`
	Libxml2     string `json:"libxml2"`
	NATSServer  string `json:"nats_server"`
}

type settings struct {
	Levels           []int   `json:"levels"`
	Rounds           int     `json:"rounds"`
	DurationS        float64 `json:"window_s"`
	MaxRequests      int     `json:"max_requests"`
	FixedS           float64 `json:"fixed_rate_s"`
	DeliveryS        float64 `json:"delivery_s"`
	DeliveryMax      int     `json:"delivery_max"`
	RawWindowS       float64 `json:"raw_window_s"`
	FiledropConcurr  int     `json:"filedrop_concurrency"`
	DeliveryConcurr  int     `json:"delivery_phase_concurrency"`
	GoBenchBenchtime string  `json:"go_benchtime"`
	// Bin and XOEV are the gateway binary (or the wrapper script that
	// starts it) and the schemas and messages the run used.
	Bin  string `json:"bin"`
	XOEV string `json:"xoev"`
}

// docResult is everything measured with one document.
type docResult struct {
	document
	// Validate and Publish are the parts alone, measured in the same rounds
	// as the gateway; Xmllint is the schemas package's comparison of the
	// validator with xmllint at another moment of the run.
	Validate         []rawRate       `json:"validate,omitempty"`
	Publish          []rawRate       `json:"publish,omitempty"`
	Xmllint          *validationRate `json:"xmllint,omitempty"`
	Sweep            []phase         `json:"sweep,omitempty"`
	MaxAcceptedPerS  float64         `json:"max_accepted_per_s,omitempty"`
	MaxAtConcurrency int             `json:"max_at_concurrency,omitempty"`
	FixedRate        *phase          `json:"fixed_rate,omitempty"`
	// FixedRatePublish publishes at the same rate without the gateway.
	FixedRatePublish *phase          `json:"fixed_rate_publish_alone,omitempty"`
	Delivery         *deliveryResult `json:"delivery,omitempty"`
	Ratio            *ratio          `json:"ratio,omitempty"`
	// CPUProfile is the CPU profile of the document's gateway over its
	// whole run (relative to the repository), CPUProfileTop the functions
	// with the most CPU of their own in it (go tool pprof -top).
	CPUProfile    string   `json:"cpu_profile,omitempty"`
	CPUProfileTop []string `json:"cpu_profile_top,omitempty"`
}

// ratio is gateway throughput over the lower of the two raw limits.
type ratio struct {
	ValidatePerS float64 `json:"validate_per_s"` // the better of 1 and 2 goroutines
	PublishPerS  float64 `json:"publish_per_s"`  // best publish mode
	PublishMode  string  `json:"publish_mode"`
	Limit        string  `json:"limit"` // "validate" or "publish"
	LimitPerS    float64 `json:"limit_per_s"`
	Ratio        float64 `json:"ratio"`
	RatioMet     bool    `json:"ratio_target_met"`
	P99Met       bool    `json:"p99_target_met"`
	// CPU per document of the parts alone (validating on one goroutine,
	// publishing from 16) and of the gateway at its highest throughput; on
	// a machine with few cores they share the CPU, so the gateway's excess
	// over the parts is what it costs on top of them.
	ValidateCPUMs float64 `json:"validate_cpu_ms"`
	PublishCPUMs  float64 `json:"publish_cpu_ms"`
	GatewayCPUMs  float64 `json:"gateway_cpu_ms"`
}

type memory struct {
	Validations *rssGrowth  `json:"rss_over_100k_validations,omitempty"`
	Big         []bigResult `json:"submission_40mb,omitempty"`
}

// commandLine is how the run was started (make bench: "-go go").
func commandLine(args []string) string {
	return strings.Join(append([]string{"go run ./test/load"}, args...), " ")
}

func newResult(o *options) *result {
	host, _ := os.Hostname()
	r := &result{
		Date: time.Now().UTC().Format(time.RFC3339), Host: host, Command: commandLine(os.Args[1:]),
		Machine: machineInfo(), Versions: versionInfo(o), PhaseSeconds: map[string]float64{}, started: time.Now(),
		Settings: settings{
			Levels: o.levels, Rounds: o.rounds, DurationS: o.duration.Seconds(), MaxRequests: o.maxRequests, FixedS: o.fixedDuration.Seconds(),
			DeliveryS: o.deliveryDuration.Seconds(), DeliveryMax: o.deliveryMax, RawWindowS: o.publishWindow.Seconds(),
			FiledropConcurr: 4, DeliveryConcurr: 16, GoBenchBenchtime: o.benchtime, Bin: o.bin, XOEV: o.xoev,
		},
	}
	r.Machine.TempDir = o.tmp
	return r
}

// stamp names the files of this run: <date>-<host>.
func (r *result) stamp() string {
	return r.started.UTC().Format("2006-01-02T1504") + "-" + r.Host
}

func (r *result) addDocuments(docs []document) {
	for _, d := range docs {
		r.Documents = append(r.Documents, docResult{document: d})
	}
}

func (r *result) setValidation(rates []validationRate) {
	for i := range r.Documents {
		for j := range rates {
			if rates[j].Path == r.Documents[i].Path {
				r.Documents[i].Xmllint = &rates[j]
			}
		}
	}
}

func (r *result) computeRatios() {
	for i := range r.Documents {
		d := &r.Documents[i]
		if len(d.Validate) == 0 || len(d.Publish) == 0 || d.MaxAcceptedPerS == 0 {
			continue
		}
		fastest := func(a, b rawRate) int { return cmp.Compare(a.PerS, b.PerS) }
		// The limit is the publish rate alone; the mode with no core idle
		// is a finding about the machine, not a limit of the gateway.
		alone := slices.DeleteFunc(slices.Clone(d.Publish), func(p rawRate) bool { return modeBusy(p.Mode) })
		bestV, bestP := slices.MaxFunc(d.Validate, fastest), slices.MaxFunc(alone, fastest)
		q := &ratio{ValidatePerS: bestV.PerS, PublishPerS: bestP.PerS, PublishMode: bestP.Mode}
		q.Limit, q.LimitPerS = "validate", q.ValidatePerS
		if q.PublishPerS < q.ValidatePerS {
			q.Limit, q.LimitPerS = "publish", q.PublishPerS
		}
		q.Ratio = d.MaxAcceptedPerS / q.LimitPerS
		q.ValidateCPUMs = byMode(d.Validate, validateModes[0].name).CPUPerOpMs
		q.PublishCPUMs = byMode(d.Publish, publishModes[1].name).CPUPerOpMs
		for _, p := range d.Sweep {
			if p.Concurrency == d.MaxAtConcurrency {
				q.GatewayCPUMs = p.Gateway.CPUPerSubmissionMs
			}
		}
		q.RatioMet = q.Ratio >= targetRatio
		fr := d.FixedRate
		q.P99Met = fr != nil && fr.Accepted > 0 && len(fr.Errors) == 0 && fr.Skipped == 0 && fr.P99Ms <= targetP99Ms
		d.Ratio = q
	}
}

// modeBusy reports whether the publish mode named name ran with no core idle.
func modeBusy(name string) bool {
	for _, m := range publishModes {
		if m.name == name {
			return m.busy
		}
	}
	return false
}

func machineInfo() machine {
	m := machine{NumCPU: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemGiB = (statusKB(b, "MemTotal") + 512<<10) >> 20
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	return m
}

func versionInfo(o *options) versions {
	out := func(name string, args ...string) string {
		b, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return "unknown"
		}
		return strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	}
	return versions{
		Drehscheibe: out(o.bin, "--version"),
		Go:          out(o.goBin, "env", "GOVERSION"),
		Libxml2:     out("pkg-config", "--modversion", "libxml-2.0"),
		NATSServer:  server.VERSION,
	}
}

// print writes the Markdown tables.
func (r *result) print(w io.Writer) {
	m, v := r.Machine, r.Versions
	fmt.Fprintf(w, "\n## drehscheibe benchmark %s on %s\n\n", r.Date, r.Host)
	fmt.Fprintf(w, "%d × %s, %d GiB, %s, Linux %s; %s, %s, libxml2 %s, nats-server %s\n",
		m.NumCPU, m.CPU, m.MemGiB, m.OS, m.Kernel, v.Drehscheibe, v.Go, v.Libxml2, v.NATSServer)

	var rows [][]string
	for _, d := range r.Documents {
		row := []string{d.Name, kb(d.Bytes)}
		row = append(row, rates(d.Validate, len(validateModes))...)
		if x := d.Xmllint; x != nil {
			row = append(row, rate(x.Xmllint), fmt.Sprintf("%.1f×", x.Validate1/x.Xmllint))
		} else {
			row = append(row, "–", "–")
		}
		row = append(row, rates(d.Publish, len(publishModes))...)
		rows = append(rows, row)
	}
	hdr := []string{"document", "KB"}
	for _, mode := range validateModes {
		hdr = append(hdr, mode.name+" /s")
	}
	hdr = append(hdr, "xmllint /s", "validate 1 goroutine ÷ xmllint")
	for _, mode := range publishModes {
		hdr = append(hdr, "publish "+mode.name+" /s")
	}
	section(w, "Raw limits: the validator alone, xmllint, durable JetStream publish (fsync before ack)", hdr, rows)

	rows = nil
	for _, d := range r.Documents {
		for _, p := range d.Sweep {
			rows = append(rows, []string{short(d.Name), fmt.Sprint(p.Concurrency), rate(p.AcceptedPerS),
				f1(p.P50Ms), f1(p.P95Ms), f1(p.P99Ms), f2(p.Gateway.Cores), f2(p.Gateway.CPUPerSubmissionMs),
				f0(p.Gateway.PeakRSSMB), f2(p.Gateway.LoadgenCores), f2(p.Gateway.OtherCores), f0(p.Gateway.IOSomePct), errs(p.Errors)})
		}
	}
	section(w, "Gateway over HTTP, intake only (closed loop)",
		[]string{"document", "concurrency", "accepted /s", "p50 ms", "p95 ms", "p99 ms", "gateway cores", "gateway CPU ms/submission", "gateway peak RSS MB", "load generator cores", "other processes' cores", "I/O pressure %", "errors"}, rows)

	rows = nil
	for _, d := range r.Documents {
		q := d.Ratio
		if q == nil {
			continue
		}
		fr := d.FixedRate
		row := []string{short(d.Name), rate(d.MaxAcceptedPerS) + " (c=" + fmt.Sprint(d.MaxAtConcurrency) + ")",
			rate(q.ValidatePerS), rate(q.PublishPerS) + " (" + q.PublishMode + ")", q.Limit,
			fmt.Sprintf("**%.2f** %s", q.Ratio, mark(q.RatioMet)),
			rate(fr.TargetRate), rate(fr.AcceptedPerS), f1(fr.P50Ms), f1(fr.P95Ms),
			fmt.Sprintf("**%.1f** %s", fr.P99Ms, mark(q.P99Met)), errs(fr.Errors), fmt.Sprint(fr.Skipped)}
		if p := d.FixedRatePublish; p != nil {
			row = append(row, f1(p.P50Ms), f1(p.P99Ms))
		} else {
			row = append(row, "–", "–")
		}
		rows = append(rows, append(row, f2(fr.Gateway.OtherCores)))
	}
	section(w, fmt.Sprintf("Ratio gateway ÷ min(validation, publish) (target ≥ %.1f) and latency at half the maximum (target p99 ≤ %.0f ms)", targetRatio, targetP99Ms),
		[]string{"document", "gateway max /s", "validate /s", "publish /s", "limit", "ratio", "fixed rate /s", "achieved /s", "p50 ms", "p95 ms", "p99 ms", "errors", "not sent (1024 outstanding)",
			"publish alone at that rate: p50 ms", "p99 ms", "other processes' cores"}, rows)

	rows = nil
	for _, d := range r.Documents {
		if q := d.Ratio; q != nil {
			parts := q.ValidateCPUMs + q.PublishCPUMs
			rows = append(rows, []string{short(d.Name), f2(q.ValidateCPUMs), f2(q.PublishCPUMs), f2(parts),
				f2(q.GatewayCPUMs), fmt.Sprintf("%+.2f", q.GatewayCPUMs-parts)})
		}
	}
	section(w, "CPU per document: the parts alone and the gateway at its highest throughput (ms)",
		[]string{"document", "validate (1 goroutine)", "publish (16 publishers, client and server)", "parts", "gateway", "gateway − parts"}, rows)

	for _, d := range r.Documents {
		if q := d.Ratio; q != nil && len(d.CPUProfileTop) > 0 && (!q.RatioMet || !q.P99Met) {
			fmt.Fprintf(w, "\n### Where the gateway's CPU went: %s (a target missed)\n\n", short(d.Name))
			fmt.Fprintf(w, "The gateway's whole run for this document, `%s`; more with `go tool pprof -top -cum` on it.\n\n```\n%s\n```\n",
				d.CPUProfile, strings.Join(d.CPUProfileTop, "\n"))
		}
	}

	rows = nil
	for _, d := range r.Documents {
		x := d.Delivery
		if x == nil {
			continue
		}
		rows = append(rows, []string{short(d.Name), fmt.Sprint(x.Load.Concurrency), fmt.Sprint(x.Load.Accepted), rate(x.Load.AcceptedPerS),
			f1(x.Load.P99Ms), rate(x.DeliveriesPerSDuringLoad), f1(x.DrainS), rate(x.DrainDeliveries), rate(x.DeliveriesPerS),
			fmt.Sprint(x.AllDelivered), f2(x.Gateway.CPUPerSubmissionMs), errs(x.Load.Errors)})
	}
	section(w, "Gateway with filedrop delivery (catch-all route, target concurrency 4)",
		[]string{"document", "concurrency", "accepted", "accepted /s", "p99 ms", "deliveries /s during load", "drain s", "deliveries /s draining", "deliveries /s overall", "all delivered", "gateway CPU ms/delivered", "errors"}, rows)

	rows = nil
	if x := r.Memory.Validations; x != nil {
		rows = append(rows, []string{fmt.Sprintf("RSS over %d validations after a %d warm-up (schemas TestNoRSSGrowth)", x.Validations, x.Warmup),
			fmt.Sprintf("%.1f → %.1f MB (%+.2f MB)", mib(x.RSSAfterWarm), mib(x.RSSEnd), mib(x.RSSEnd-x.RSSAfterWarm))})
	}
	for _, b := range r.Memory.Big {
		s := fmt.Sprintf("**%+.0f MB** (%.0f → %.0f MB peak), 202 after %.2f s", b.GrowthMB, b.RSSBeforeMB, b.PeakRSSMB, b.AcceptS)
		if b.DeliveredS > 0 {
			s += fmt.Sprintf(", delivered after %.2f s", b.DeliveredS)
		}
		rows = append(rows, []string{fmt.Sprintf("gateway peak RSS growth, one %.1f MB submission, %s (target < %.0f MB)", mib(int64(b.Bytes)), b.Route, targetBigMB),
			s + " " + mark(b.GrowthMB < targetBigMB)})
	}
	if s := r.Startup; s != nil {
		rows = append(rows, []string{"startup to /readyz 200, fresh data directory",
			fmt.Sprintf("**%.2f s** median of %s s: %.0f ms to start compiling, %d namespaces compiled in %.0f ms, %.0f ms for NATS, streams and consumers; RSS at ready %.0f MB",
				s.MedianS, joinF(s.Runs), 1000*s.BeforeCompileS, s.Namespaces, 1000*s.CompileS, 1000*s.StoreS, s.RSSReadyMB)})
	}
	section(w, "Memory and startup", []string{"measurement", "result"}, rows)

	rows = nil
	for _, b := range r.GoBenchmarks {
		if strings.Count(b.Name, "/") > 0 && strings.HasPrefix(b.Name, "BenchmarkValidate/") {
			continue // one per real message; in the .bench.txt file
		}
		rows = append(rows, []string{strings.TrimPrefix(b.Pkg, "github.com/drehscheibe/drehscheibe/"), b.Name,
			fmt.Sprintf("%.0f ns", b.NsPerOp), fmt.Sprintf("%.0f", b.BytesPerOp), fmt.Sprintf("%.0f", b.AllocsPerOp)})
	}
	if len(rows) > 0 {
		section(w, "Go benchmarks ("+r.GoBenchFile+"; per-message BenchmarkValidate lines there)", []string{"package", "benchmark", "time/op", "B/op", "allocs/op"}, rows)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "\nphases that could not run:\n")
		for _, e := range r.Errors {
			fmt.Fprintf(w, "- %s\n", e)
		}
	}
}

func section(w io.Writer, title string, hdr []string, rows [][]string) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### %s\n\n| %s |\n|", title, strings.Join(hdr, " | "))
	for i := range hdr {
		if i == 0 {
			fmt.Fprint(w, "---|")
		} else {
			fmt.Fprint(w, "--:|")
		}
	}
	fmt.Fprintln(w)
	for _, row := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
}

func short(name string) string {
	if strings.HasPrefix(name, "generated") {
		return name
	}
	return filepath.Base(name)
}

// byMode returns the rate measured in mode, or a zero rate.
func byMode(rs []rawRate, mode string) rawRate {
	for _, r := range rs {
		if r.Mode == mode {
			return r
		}
	}
	return rawRate{}
}

// rates are the cells of n modes, "–" where nothing was measured.
func rates(rs []rawRate, n int) []string {
	var out []string
	for i := range n {
		if i < len(rs) {
			out = append(out, rate(rs[i].PerS))
		} else {
			out = append(out, "–")
		}
	}
	return out
}

func kb(n int) string       { return fmt.Sprintf("%.1f", float64(n)/1024) }
func rate(x float64) string { return fmt.Sprintf("%.0f", x) }
func f0(x float64) string   { return fmt.Sprintf("%.0f", x) }
func f1(x float64) string   { return fmt.Sprintf("%.1f", x) }
func f2(x float64) string   { return fmt.Sprintf("%.2f", x) }
func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func errs(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%d×%s", n, k))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

func joinF(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%.2f", x))
	}
	return strings.Join(s, ", ")
}
