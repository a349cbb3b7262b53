// Package bench holds benchmarks that run the real drehscheibe binary and
// measure it from outside, so that the figures are the gateway's own and
// not mixed with the client's (docs/benchmarks.md).
package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"github.com/drehscheibe/drehscheibe/test/testenv"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/adapters/xta/xtatest"
)

func freePort(b testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// procStatus reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status in bytes.
func procStatus(b testing.TB, pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// heapInuse scrapes go_memstats_heap_inuse_bytes from the gateway's /metrics.
func heapInuse(api string) int64 {
	res, err := http.Get(api + "/metrics")
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int64(f)
		}
	}
	return 0
}

// BenchmarkXTALargeContainerMemory starts the drehscheibe binary with its
// XTA server (HTTPS with client certificates, embedded NATS), sends a
// 40 MiB container by MTOM into a message box, fetches it and closes it,
// and reports how much the gateway process grew: the peak RSS (VmHWM,
// reset after start) over the RSS before, and the peak Go heap in use as
// sampled from /metrics every 10 ms.
func BenchmarkXTALargeContainerMemory(b *testing.B) {
	xtatest.Dir(b)
	root, tmp := testenv.RepoRoot(b), b.TempDir()
	bin := filepath.Join(tmp, "drehscheibe")
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root, "cmd", "drehscheibe")).CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	pki := xtatest.NewPKI(b, tmp)
	apiAddr, xtaAddr := freePort(b), freePort(b)
	cfg := filepath.Join(tmp, "drehscheibe.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
server: {listen: %q}
nats: {data_dir: %q}
schemas: {dirs: [%q]}
log: {level: warn}
targets: [{name: box, type: xta-box}]
routes: [{name: box, match: {reader: "ags:07777000"}, target: box}]
xta:
  enabled: true
  listen: %q
  tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
  parties:
    - {identifier: "efa:demo-portal", client: bench}
    - {identifier: "ags:07777000", client: bench}
`, apiAddr, filepath.Join(tmp, "nats"), filepath.Join(root, "schemas", "demo"), xtaAddr, pki.CertFile, pki.KeyFile, pki.CAFile)), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	api := "http://" + apiAddr
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(api + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("gateway not ready: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	demo, err := os.ReadFile(filepath.Join(root, "examples", "demo", "antrag-valid.xml"))
	if err != nil {
		b.Fatal(err)
	}
	msg := bytes.ReplaceAll(demo, []byte("ags:09999000"), []byte("ags:07777000"))
	att := bytes.Repeat([]byte("drehscheibe\x00\xff"), (40<<20-len(msg))/13)
	sum := sha256.Sum256(att)
	c := &xta.Client{URL: "https://" + xtaAddr + "/xta", HTTP: pki.HTTPClient(b, "bench"), MaxResponse: 64 << 20}
	reader := xta.PartyIdentifier{Value: "ags:07777000", Type: "xoev"}
	pid := cmd.Process.Pid

	var growth, heap []float64
	for i := 0; i < b.N; i++ {
		runtimeGC(api)
		base := procStatus(b, pid, "VmRSS")
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
			b.Fatalf("reset VmHWM: %v", err)
		}
		baseHeap := heapInuse(api)
		var peakHeap int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
					if h := heapInuse(api); h > peakHeap {
						peakHeap = h
					}
				}
			}
		})
		id := fmt.Sprintf("urn:de:xta:messageid:bench:%d-%d", time.Now().UnixNano(), i)
		m := &xta.MessageMetaData{}
		m.Originators.Author.Identifier = xta.PartyIdentifier{Value: "efa:demo-portal", Type: "xoev"}
		m.Destinations.Reader.Identifier = reader
		m.MsgIdentification.MessageID = id
		m.Qualifier.Service = "urn:bench"
		m.Qualifier.BusinessScenario.Undefined = "bench"
		m.Qualifier.MessageType.KeyCode = xta.KeyCode{ListURI: "urn:l", ListVersionID: "1", Code: "0100"}
		m.Qualifier.MessageType.PayloadSchema = "urn:xoev-de:drehscheibe:standard:demo:1.0"
		content := xta.Content{ContentType: "application/xml", Data: msg}
		attachment := []xta.Content{{ContentType: "application/octet-stream", Filename: "large.bin", Data: att}}
		start := time.Now()
		if err := c.SendMessage(context.Background(), m, func(w *xta.Writer) { xta.WriteContainer(w, &content, attachment) }); err != nil {
			b.Fatal(err)
		}
		sent := time.Since(start)
		sendPeak := procStatus(b, pid, "VmHWM")
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
			b.Fatalf("reset VmHWM: %v", err)
		}
		var env *xta.Envelope
		for env == nil {
			env, err = c.Fetch(context.Background(), reader, id)
			if err != nil && !xta.IsFault(err, "9070") {
				b.Fatal(err)
			}
			if err != nil {
				time.Sleep(50 * time.Millisecond)
			}
		}
		got := env.Body.Container.ContentContainer.Attachments[0].Data
		if sha256.Sum256(got) != sum {
			b.Fatal("the attachment came back different")
		}
		env = nil
		if err := c.Close(context.Background(), reader, "1", id); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		close(stop)
		wg.Wait()
		fetchPeak := procStatus(b, pid, "VmHWM")
		peak := max(sendPeak, fetchPeak)
		growth = append(growth, float64(peak-base)/(1<<20))
		heap = append(heap, float64(peakHeap-baseHeap)/(1<<20))
		b.Logf("40 MiB container: send %s, send+fetch+close %s; gateway RSS %d MiB before, peak %d MiB while sending, %d MiB while fetching (+%.0f MiB); Go heap in use %d MiB before, sampled peak %d MiB (+%.0f MiB)",
			sent.Round(time.Millisecond), took.Round(time.Millisecond), base>>20, sendPeak>>20, fetchPeak>>20, growth[i], baseHeap>>20, peakHeap>>20, heap[i])
	}
	b.ReportMetric(largest(growth), "MiB-rss-growth")
	b.ReportMetric(largest(heap), "MiB-heap-growth")
}

// runtimeGC lets the gateway settle: a few seconds without load, so that
// the runtime returns what it does not use.
func runtimeGC(api string) {
	time.Sleep(2 * time.Second)
	_ = api
}

func largest(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}
