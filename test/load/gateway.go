package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/drehscheibe/drehscheibe/gateway/config"
)

// The senders of the benchmark configuration. Submissions of intakeSender go
// to external targets that nothing consumes, so that they measure the intake
// alone; those of deliverSender go through the catch-all route to filedrop.
const (
	intakeSender  = "bench-intake"
	deliverSender = "bench-deliver"
)

// gatewayProc is a running bin/drehscheibe serve.
type gatewayProc struct {
	cmd      *exec.Cmd
	dir      string
	base     string // http://127.0.0.1:<port>
	logPath  string
	outboxes []string // filedrop directories: production and test
	keys     map[string]string
	exited   chan struct{}
	waitErr  error
	// started is when the process was started; ready is the time from then
	// to the first 200 of /readyz.
	started time.Time
	ready   time.Duration
}

// benchConfig is the gateway configuration: embedded NATS with sync_always
// (the default, spelled out), the demo standard and ../shared/xoev, 64 MiB
// bodies for the 40 MB message, no per-sender rate limit (the load comes from
// one sender), room for the 1,024 requests the fixed-rate phase may keep
// outstanding (server.max_in_flight defaults to 128: a disk hiccup would
// turn into 503 busy answers instead of latency), filedrop targets and a
// catch-all route.
const benchConfig = `# written by test/load for one benchmark run
server:
  listen: 127.0.0.1:%d
  max_body_bytes: 64MiB
  max_attachment_bytes: 64MiB
  rate_limit: {per_second: 0}
  max_in_flight: 4096
  max_in_flight_bytes: 1GiB
nats:
  embedded: true
  data_dir: %q
  sync_always: true
schemas:
  dirs: [%q, %q]
log:
  level: info
senders:
  - name: %s
    api_key_sha256: %s
  - name: %s
    api_key_sha256: %s
targets:
  - name: intake-only
    type: external
  - name: intake-only-test
    type: external
    test: true
  - name: fachverfahren
    type: filedrop
    options: {dir: %q}
  - name: testsystem
    type: filedrop
    test: true
    options: {dir: %q}
routes:
  - name: intake-only
    match: {sender: %s}
    target: intake-only
    test_target: intake-only-test
  - name: catch-all
    match: {}
    target: fachverfahren
    test_target: testsystem
`

// startGateway writes a configuration into a new directory below tmp, starts
// bin (serve, with the flags in extra) and waits until /readyz answers 200.
func startGateway(bin, tmp, root, xoev string, extra ...string) (*gatewayProc, error) {
	dir, err := os.MkdirTemp(tmp, "gateway-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	g := &gatewayProc{
		dir:      dir,
		base:     fmt.Sprintf("http://127.0.0.1:%d", port),
		logPath:  filepath.Join(dir, "gateway.log"),
		outboxes: []string{filepath.Join(dir, "outbox"), filepath.Join(dir, "testbox")},
		keys:     map[string]string{intakeSender: randomKey(), deliverSender: randomKey()},
		exited:   make(chan struct{}),
	}
	cfg := fmt.Sprintf(benchConfig, port, filepath.Join(dir, "nats"),
		filepath.Join(root, "schemas", "demo"), xoev,
		intakeSender, config.HashAPIKey(g.keys[intakeSender]),
		deliverSender, config.HashAPIKey(g.keys[deliverSender]),
		g.outboxes[0], g.outboxes[1], intakeSender)
	cfgPath := filepath.Join(dir, "drehscheibe.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(g.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	g.cmd = exec.Command(bin, append([]string{"serve", "--config", cfgPath}, extra...)...)
	g.cmd.Dir = dir
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	g.cmd.Env = cleanEnv()
	start := time.Now()
	g.started = start
	if err := g.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { g.waitErr = g.cmd.Wait(); close(g.exited) }()
	if err := g.waitReady(start, 2*time.Minute); err != nil {
		g.stop()
		return nil, fmt.Errorf("%w\n%s", err, tail(g.logPath, 20))
	}
	g.ready = time.Since(start)
	return g, nil
}

// waitReady polls /readyz every 2 ms.
func (g *gatewayProc) waitReady(start time.Time, limit time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	for time.Since(start) < limit {
		select {
		case <-g.exited:
			return fmt.Errorf("gateway exited before it was ready: %v", g.waitErr)
		default:
		}
		if res, err := c.Get(g.base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("gateway not ready after %v", limit)
}

// stop sends SIGTERM and waits for the process, killing it after 30 s.
func (g *gatewayProc) stop() {
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(30 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
}

func (g *gatewayProc) pid() int { return g.cmd.Process.Pid }

// startLog is what the gateway's log says about its start.
type startLog struct {
	namespaces int
	compile    time.Duration // schemas.Load
	compiledAt time.Time     // "schemas compiled"
	readyAt    time.Time     // "drehscheibe ready": store, consumers and listener set up
}

// startLog reads the "schemas compiled" and "drehscheibe ready" lines.
func (g *gatewayProc) startLog() (startLog, error) {
	var sl startLog
	f, err := os.Open(g.logPath)
	if err != nil {
		return sl, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		var line struct {
			Msg        string    `json:"msg"`
			TS         time.Time `json:"ts"`
			Namespaces int       `json:"namespaces"`
			Took       float64   `json:"took"` // seconds, zap's default duration encoding
		}
		if json.Unmarshal(s.Bytes(), &line) != nil {
			continue
		}
		switch line.Msg {
		case "schemas compiled":
			sl.namespaces, sl.compile, sl.compiledAt = line.Namespaces, time.Duration(line.Took*float64(time.Second)), line.TS
		case "drehscheibe ready":
			sl.readyAt = line.TS
		}
	}
	if sl.compiledAt.IsZero() || sl.readyAt.IsZero() {
		return sl, errors.New("no \"schemas compiled\" and \"drehscheibe ready\" lines in the gateway log")
	}
	return sl, nil
}

// delivered counts the submission directories in the filedrop directories;
// names starting with "." are still being written.
func (g *gatewayProc) delivered() int {
	n := 0
	for _, dir := range g.outboxes {
		f, err := os.Open(dir)
		if err != nil {
			continue
		}
		names, _ := f.Readdirnames(-1)
		f.Close()
		for _, name := range names {
			if !strings.HasPrefix(name, ".") {
				n++
			}
		}
	}
	return n
}

// procStat is what /proc tells about a process at one moment.
type procStat struct {
	cpu time.Duration // user + system
	rss int64         // VmRSS, bytes
	hwm int64         // VmHWM (peak RSS), bytes
}

// readProc reads /proc/<pid>/stat and /proc/<pid>/status.
func readProc(pid int) (procStat, error) {
	var st procStat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	if st.cpu, err = parseStatCPU(b); err != nil {
		return st, err
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	st.rss, st.hwm = statusKB(b, "VmRSS")<<10, statusKB(b, "VmHWM")<<10
	return st, nil
}

// clockTick is USER_HZ, the unit of the CPU times in /proc/<pid>/stat; it is
// 100 on every Linux architecture Go supports.
const clockTick = 100

// parseStatCPU returns utime + stime of a /proc/<pid>/stat line. The fields
// are counted after the command name, which may itself hold spaces and ")".
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	var utime, stime int64
	if _, err := fmt.Sscan(f[11], &utime); err != nil {
		return 0, err
	}
	if _, err := fmt.Sscan(f[12], &stime); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTick, nil
}

// statusKB returns a "kB" field of /proc/<pid>/status, or 0.
func statusKB(b []byte, field string) int64 {
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			_, _ = fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb)
			return kb
		}
	}
	return 0
}

// resetPeak resets VmHWM of pid to its current RSS, so that the next reading
// is the peak of what follows.
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// cleanEnv is the environment without DREHSCHEIBE_* variables, which would
// override the benchmark configuration.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.EnvPrefix) {
			env = append(env, kv)
		}
	}
	return env
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// randomKey returns a fresh API key for one run.
func randomKey() string { return "bench-" + rand.Text() }
