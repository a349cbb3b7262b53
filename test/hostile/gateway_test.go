package hostile

import (
	"fmt"
	"github.com/drehscheibe/drehscheibe/test/testenv"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	_ "github.com/drehscheibe/drehscheibe/adapters/filedrop"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/test/gatewaytest"
)

const apiKey = "hostile-portal-key-0123456789"

// Timeouts short enough that the slow-client cases finish in seconds.
const (
	readHeaderTimeout = time.Second
	readTimeout       = 2 * time.Second
)

// maxAttachmentBytes is set below the body limit so that one attachment can
// exceed it.
const maxAttachmentBytes = 4 << 20

// env is the gateway under attack and what the test watches.
type env struct {
	addr   string
	logs   *testenv.LogBuffer
	canary *canary
	secret string // a file with a secret an external entity may try to read
}

// start runs the real gateway in-process: embedded NATS in a temp dir, the
// demo standard and, when present, the real schemas of ../shared/xoev, the
// REST API on loopback with the default limits but short timeouts.
func start(t *testing.T) *env { return startWith(t, "") }

// startWith is start with more keys of the server section (lines indented
// by two spaces).
func startWith(t *testing.T, serverKeys string) *env {
	root := testenv.RepoRoot(t)
	tmp := t.TempDir()
	dirs := []string{filepath.Join(root, "schemas", "demo")}
	if shared := filepath.Join(root, "..", "shared", "xoev"); dirExists(shared) {
		dirs = append(dirs, shared)
	}
	quoted := make([]string, len(dirs))
	for i, d := range dirs {
		quoted[i] = strconv.Quote(d)
	}
	yaml := fmt.Sprintf(`
server:
  listen: 127.0.0.1:0
  read_header_timeout: %s
  read_timeout: %s
  write_timeout: 30s
  max_attachment_bytes: %d
%snats:
  data_dir: %q
schemas:
  dirs: [%s]
log:
  level: debug
senders:
  - name: hostile-portal
    api_key_sha256: %s
targets:
  - name: fachverfahren
    type: filedrop
    options: {dir: %q}
  - name: testsystem
    type: filedrop
    test: true
    options: {dir: %q}
routes:
  - name: all
    target: fachverfahren
    test_target: testsystem
`, readHeaderTimeout, readTimeout, maxAttachmentBytes, serverKeys, filepath.Join(tmp, "nats"), strings.Join(quoted, ", "),
		config.HashAPIKey(apiKey), filepath.Join(tmp, "outbox"), filepath.Join(tmp, "testbox"))
	e := &env{logs: &testenv.LogBuffer{}, canary: listenCanary(t)}
	e.secret = filepath.Join(tmp, "secret.txt")
	require.NoError(t, os.WriteFile(e.secret, []byte(secretContent), 0o600))
	e.addr = gatewaytest.Start(t, yaml, e.logs).Addr()
	return e
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// secretContent is what the secret file holds; it must never show up in an
// answer or a log.
const secretContent = "GEHEIM-7f3a9c-nicht-lesen"

// canary listens where external entities, DTDs, XIncludes and schema
// locations of the cases point, and counts who came.
type canary struct {
	ln    net.Listener
	count atomic.Int64
}

func listenCanary(t *testing.T) *canary {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c := &canary{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.count.Add(1)
			_ = conn.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return c
}

// cpuTime is the user and system CPU time of this process so far: gateway
// and test client together.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets VmHWM to the current RSS (Linux 4.0 and later); it
// reports whether that worked.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// procStatus returns a field of /proc/self/status such as VmHWM, in bytes.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
