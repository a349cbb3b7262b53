package faults

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// rssBudget is what one 40 MB submission may add to the gateway's peak
// resident set (issue 3).
const rssBudget = 200 << 20

// bigXBeteiligung makes a valid XBeteiligung 1.2 message of about size bytes
// from a real one by adding a base64 document, as a Bebauungsplan with its
// drawings would carry.
func bigXBeteiligung(t *testing.T, xoev string, size int) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(xoev, "xbeteiligung", "1.2", "tests", "res", "example402FromCockpit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := testenv.WithDokument(src, randomBytes(40, size*3/4))
	if err != nil {
		t.Fatalf("the XBeteiligung example: %v", err)
	}
	return b
}

// procStatus reads a field of /proc/<pid>/status in bytes (VmRSS, VmHWM).
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// TestLargeSubmissionsStayWithinMemoryBudget posts a 40 MB XBeteiligung
// message, and a small message with a 40 MB attachment, each to a fresh
// gateway process: each is accepted, stored (in the object store, as it is
// above NATS' max payload), delivered byte for byte by filedrop, and raises
// the gateway's peak RSS (VmHWM, reset before the request) by less than
// 200 MB.
func TestLargeSubmissionsStayWithinMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("posts 40 MB submissions")
	}
	xoev := testenv.Shared(t, "xoev")
	small := bigXBeteiligung(t, xoev, 64<<10)
	t.Run("message", func(t *testing.T) {
		big := bigXBeteiligung(t, xoev, 40<<20)
		measureLarge(t, xoev, request{key: keyA, contentType: "application/xml", body: big}, big, nil)
	})
	t.Run("attachment", func(t *testing.T) {
		atts := []attachment{{name: "bebauungsplan.pdf", data: randomBytes(41, 40<<20)}}
		body, ct := multipartBody(small, atts)
		measureLarge(t, xoev, request{key: keyA, contentType: ct, body: body}, small, atts)
	})
}

// measureLarge starts a gateway, warms it up with a small submission of the
// same standard, resets its peak RSS, sends r, waits until msg and atts are
// delivered and checks how far the peak rose.
func measureLarge(t *testing.T, xoev string, r request, msg []byte, atts []attachment) {
	dir := t.TempDir()
	out, testOut := filepath.Join(dir, "out"), filepath.Join(dir, "test-out")
	cfg := conf{
		NATS:       fmt.Sprintf("data_dir: %q", filepath.Join(dir, "nats")),
		SchemaDirs: []string{filepath.Join(xoev, "xbeteiligung")},
		MaxBody:    "48MiB",
		Targets: fmt.Sprintf(`  - name: fachverfahren
    type: filedrop
    options: {dir: %q}
  - name: testsystem
    type: filedrop
    test: true
    options: {dir: %q}`, out, testOut),
		Routes: "  - {name: all, target: fachverfahren, test_target: testsystem}",
	}.write(t, dir)
	g := startGateway(t, "gateway", cfg)
	pid := g.pid()

	deliver := func(r request, msg []byte, atts []attachment) {
		t.Helper()
		start := time.Now()
		a := send(g.base, r)
		if a.code != http.StatusAccepted {
			t.Fatalf("%d bytes: %s", len(r.body), a)
		}
		accepted := time.Since(start)
		var where string
		eventually(t, 2*time.Minute, "delivered", func() string {
			for _, d := range []string{out, testOut} {
				if dropped(t, d)[a.id] {
					where = d
					return ""
				}
			}
			return "not yet"
		})
		if err := checkDrop(where, a.id, msg, atts); err != nil {
			t.Fatal(err)
		}
		t.Logf("%.1f MB request accepted in %.2fs, delivered after %.2fs", mib(int64(len(r.body))), accepted.Seconds(), time.Since(start).Seconds())
	}
	small := bigXBeteiligung(t, xoev, 64<<10)
	deliver(request{key: keyA, contentType: "application/xml", body: small}, small, nil)

	before := procStatus(t, pid, "VmRSS")
	method := "VmHWM reset through clear_refs"
	if os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) != nil {
		method = "VmHWM not reset: an upper bound"
	}
	deliver(r, msg, atts)
	growth := procStatus(t, pid, "VmHWM") - before
	t.Logf("peak RSS %.0f MB above the %.0f MB before (%s)", mib(growth), mib(before), method)
	if growth >= rssBudget {
		t.Errorf("the submission raised the peak RSS by %.0f MB, the budget is %.0f MB", mib(growth), mib(rssBudget))
	}
}
