package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/drehscheibe/drehscheibe/gateway"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// benchDocs are real messages of two standards (2 and 15 KB); make bench and
// the intake's BenchmarkSubmit post the same ones.
var benchDocs = []string{
	"xwasser/1.0.0/tests/administration_receipt.xml",
	"xbeteiligung/1.2/tests/res/example402FromCockpit.xml",
}

const benchKey = "bench-sender-key-0123456789"

// benchYAML configures the gateway as test/load does for make bench:
// embedded NATS with fsync before every ack, every schema of ../shared/xoev,
// no rate limit, an intake-only target, the log at info level and the audit
// log in files.
const benchYAML = `
server:
  listen: 127.0.0.1:0
  rate_limit: {per_second: 0}
  max_in_flight: 4096
nats:
  embedded: true
  data_dir: %q
  sync_always: true
schemas:
  dirs: [%q]
log:
  level: info
  audit_file: %q
senders:
  - name: bench
    api_key_sha256: %s
targets:
  - name: intake-only
    type: external
  - name: intake-only-test
    type: external
    test: true
routes:
  - name: intake-only
    match: {}
    target: intake-only
    test_target: intake-only-test
`

// BenchmarkSubmitHTTP posts real messages to the real gateway (REST handler,
// validation, identify, routing, durable JetStream publish) over loopback
// HTTP from 16 keep-alive clients. Besides time and allocations per
// submission it reports cpu-ns/op: the user and system CPU of the process
// (gateway, embedded NATS server and the clients) per submission.
func BenchmarkSubmitHTTP(b *testing.B) {
	xoev := testenv.Shared(b, "xoev")
	dir := b.TempDir()
	cfg, err := config.Parse(fmt.Appendf(nil, benchYAML, filepath.Join(dir, "nats"), xoev,
		filepath.Join(dir, "audit.log"), config.HashAPIKey(benchKey)), nil)
	if err != nil {
		b.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = logf.Close() })
	// As serve logs: JSON lines, unbuffered, at info level.
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(logf), zapcore.InfoLevel))
	ctx := context.Background()
	g, err := gateway.New(ctx, cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := g.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Shutdown(sctx)
	})
	url := "http://" + g.Addr() + "/v1/submissions"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	b.Cleanup(client.CloseIdleConnections)
	for _, rel := range benchDocs {
		doc, err := os.ReadFile(filepath.Join(xoev, rel))
		if err != nil {
			b.Fatal(err)
		}
		post := func() error {
			req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(doc))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/xml")
			req.Header.Set("Authorization", "Bearer "+benchKey)
			res, err := client.Do(req)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusAccepted {
				return fmt.Errorf("status %d, want 202", res.StatusCode)
			}
			return err
		}
		// Warm the connections and the stream once per document.
		if err := post(); err != nil {
			b.Fatal(err)
		}
		b.Run(filepath.Base(rel)+"/clients=16", func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.SetParallelism((16 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)) // 16 clients
			var failed atomic.Bool
			cpu0 := processCPU(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if failed.Load() {
						continue
					}
					if err := post(); err != nil && !failed.Swap(true) {
						b.Error(err)
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the user and system CPU the process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
