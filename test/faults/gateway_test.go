package faults

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// API keys of the two senders every test config knows.
const (
	keyA = "faults-portal-a-key-0123456789"
	keyB = "faults-portal-b-key-0123456789"
)

// conf is the part of a test configuration that differs between tests.
type conf struct {
	// NATS is the body of the nats section, one key per line, unindented.
	NATS string
	// SchemaDirs default to the demo standard of the repository.
	SchemaDirs []string
	// MaxBody is server.max_body_bytes and server.max_attachment_bytes; default 8MiB.
	MaxBody string
	// ShutdownTimeout is server.shutdown_timeout; default 10s.
	ShutdownTimeout string
	// Targets and Routes are the lists, as YAML sequences.
	Targets, Routes string
	// Extra is appended as further top-level sections (e.g. admins, xta).
	Extra string
}

// write renders c as drehscheibe.yaml in dir and returns its path.
func (c conf) write(t *testing.T, dir string) string {
	t.Helper()
	root, err := testenv.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SchemaDirs) == 0 {
		c.SchemaDirs = []string{filepath.Join(root, "schemas", "demo")}
	}
	if c.MaxBody == "" {
		c.MaxBody = "8MiB"
	}
	if c.ShutdownTimeout == "" {
		c.ShutdownTimeout = "10s"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n  listen: 127.0.0.1:0\n  max_body_bytes: %s\n  max_attachment_bytes: %s\n  shutdown_timeout: %s\n", c.MaxBody, c.MaxBody, c.ShutdownTimeout)
	// The fault tests load one sender with hundreds of submissions a second;
	// the rate limit is not what they test.
	b.WriteString("  rate_limit: {per_second: 0}\n")
	b.WriteString("nats:\n")
	for _, l := range strings.Split(strings.TrimSpace(c.NATS), "\n") {
		b.WriteString("  " + strings.TrimSpace(l) + "\n")
	}
	b.WriteString("schemas:\n  dirs:\n")
	for _, d := range c.SchemaDirs {
		fmt.Fprintf(&b, "    - %q\n", d)
	}
	fmt.Fprintf(&b, "log:\n  level: info\nsenders:\n  - name: portal-a\n    api_key_sha256: %s\n  - name: portal-b\n    api_key_sha256: %s\n",
		config.HashAPIKey(keyA), config.HashAPIKey(keyB))
	b.WriteString("targets:\n" + c.Targets + "\nroutes:\n" + c.Routes + "\n" + c.Extra)
	p := filepath.Join(dir, "drehscheibe.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// gateway is one drehscheibe process, restartable with the same config.
type gateway struct {
	t       *testing.T
	name    string
	cfgPath string
	logPath string
	env     []string

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	// base is http://host:port of the running process.
	base string
}

// startGateway starts the binary with cfgPath and waits until it is ready.
func startGateway(t *testing.T, name, cfgPath string, env ...string) *gateway {
	t.Helper()
	g := &gateway{t: t, name: name, cfgPath: cfgPath, env: env,
		logPath: filepath.Join(filepath.Dir(cfgPath), name+".log")}
	t.Cleanup(func() {
		if g.running() {
			g.kill()
		}
		if t.Failed() {
			g.dumpLog(80)
		}
	})
	g.start()
	return g
}

// start (re)starts the process and waits up to 60s for /readyz.
func (g *gateway) start() {
	g.t.Helper()
	logf, err := os.OpenFile(g.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		g.t.Fatal(err)
	}
	fi, _ := logf.Stat()
	offset := fi.Size()
	g.cmd = exec.Command(gatewayBin, "serve", "--config", g.cfgPath)
	g.cmd.Env = append(os.Environ(), g.env...)
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	if err := g.cmd.Start(); err != nil {
		logf.Close()
		g.t.Fatal(err)
	}
	g.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		g.waitErr = cmd.Wait()
		logf.Close()
		close(done)
	}(g.cmd, g.exited)

	deadline := time.Now().Add(60 * time.Second)
	for g.base == "" || !g.ready() {
		if !g.running() {
			g.dumpLog(40)
			g.t.Fatalf("%s exited during start: %v", g.name, g.waitErr)
		}
		if time.Now().After(deadline) {
			g.dumpLog(40)
			g.t.Fatalf("%s not ready within 60s", g.name)
		}
		if addr := g.readyLine(offset); addr != "" {
			g.base = "http://" + addr
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readyLine finds the listen address in the "drehscheibe ready" log line
// written after offset.
func (g *gateway) readyLine(offset int64) string {
	f, err := os.Open(g.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return ""
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg    string `json:"msg"`
			Listen string `json:"listen"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "drehscheibe ready" {
			return l.Listen
		}
	}
	return ""
}

func (g *gateway) ready() bool {
	res, err := httpClient.Get(g.base + "/readyz")
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

func (g *gateway) running() bool {
	if g.exited == nil {
		return false
	}
	select {
	case <-g.exited:
		return false
	default:
		return true
	}
}

func (g *gateway) pid() int { return g.cmd.Process.Pid }

// kill sends SIGKILL and waits for the process to be gone.
func (g *gateway) kill() {
	_ = g.cmd.Process.Signal(syscall.SIGKILL)
	<-g.exited
	g.base = ""
}

// term sends SIGTERM and waits up to limit for a clean exit (status 0).
func (g *gateway) term(limit time.Duration) {
	g.t.Helper()
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(limit):
		g.kill()
		g.t.Fatalf("%s did not stop within %s of SIGTERM", g.name, limit)
	}
	g.base = ""
	if g.waitErr != nil {
		g.t.Fatalf("%s exited with %v after SIGTERM", g.name, g.waitErr)
	}
}

// logContains reports whether the log has a line containing s.
func (g *gateway) logContains(s string) bool {
	b, _ := os.ReadFile(g.logPath)
	return bytes.Contains(b, []byte(s))
}

func (g *gateway) dumpLog(n int) {
	b, err := os.ReadFile(g.logPath)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	g.t.Logf("last %d log lines of %s:\n%s", len(lines), g.name, strings.Join(lines, "\n"))
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// eventually polls cond every interval until it returns "" or timeout
// passes; then the test fails with the last answer.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, timeout, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
