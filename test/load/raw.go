package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// validationRate is a row of the schemas package's TestCompareXmllint.
type validationRate struct {
	Path      string  `json:"path"`
	Bytes     int     `json:"bytes"`
	Validate1 float64 `json:"validate_1_goroutine_per_s"`
	Validate2 float64 `json:"validate_2_goroutines_per_s"`
	Xmllint   float64 `json:"xmllint_per_s"`
}

// rssGrowth is the result of the schemas package's TestNoRSSGrowth.
type rssGrowth struct {
	Validations  int     `json:"validations"`
	Warmup       int     `json:"warmup"`
	Seconds      float64 `json:"seconds"`
	RSSAfterWarm int64   `json:"rss_after_warmup_bytes"`
	RSSEnd       int64   `json:"rss_end_bytes"`
}

// runSchemasBench runs TestCompareXmllint on the documents and
// TestNoRSSGrowth in the schemas package, as a child `go test`, and reads
// the JSON they write.
func runSchemasBench(goBin, root, tmp string, docs []document) ([]validationRate, *rssGrowth, error) {
	out, err := os.MkdirTemp(tmp, "schemas-")
	if err != nil {
		return nil, nil, err
	}
	var paths []string
	for _, d := range docs {
		paths = append(paths, d.Path)
	}
	cmd := exec.Command(goBin, "test", "./schemas", "-run", "^(TestCompareXmllint|TestNoRSSGrowth)$", "-count=1", "-v", "-timeout", "10m")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DREHSCHEIBE_BENCH_XMLLINT=1", "DREHSCHEIBE_BENCH_OUT="+out,
		"DREHSCHEIBE_BENCH_DOCS="+strings.Join(paths, string(os.PathListSeparator)))
	logb, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(out, "go-test.log"), logb, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("go test ./schemas: %v\n%s", err, logb)
	}
	var rates []validationRate
	var rss rssGrowth
	if err := readJSON(filepath.Join(out, "TestCompareXmllint.json"), &rates); err != nil {
		return nil, nil, fmt.Errorf("%v\n%s", err, logb)
	}
	if err := readJSON(filepath.Join(out, "TestNoRSSGrowth.json"), &rss); err != nil {
		return rates, nil, fmt.Errorf("%v\n%s", err, logb)
	}
	return rates, &rss, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// rawRate is the rate of one part alone (validating, publishing) in one
// way of driving it, accumulated over the measurement windows.
type rawRate struct {
	Mode    string  `json:"mode"`
	PerS    float64 `json:"per_s"`
	Count   int64   `json:"count"`
	Seconds float64 `json:"seconds"`
	// CPUPerOpMs is the CPU this process (for publishing: the client and
	// the embedded server) spent per document.
	CPUPerOpMs float64 `json:"cpu_per_op_ms"`
	Usage      usage   `json:"usage"`
}

func (r *rawRate) add(n int64, u usage) {
	r.Count += n
	r.Usage.add(u)
	r.Seconds = r.Usage.WallSeconds
	r.PerS = float64(r.Count) / r.Seconds
	if r.Count > 0 {
		r.CPUPerOpMs = r.Usage.loadgenCPU * 1000 / float64(r.Count)
	}
}

// publishMode is a way of publishing: synchronous publishers (the gateway
// publishes synchronously in each request) or asynchronous publishing with a
// window of acknowledgements outstanding. A busy mode publishes while
// spinIdle keeps every core busy at the lowest priority: not a limit of the
// gateway (it is left out of min(validation, publish)), but a finding about
// the machine: on a VM the writer's fsyncs may slow down when no core is
// idle, whatever the priority of the work that keeps them busy.
type publishMode struct {
	name string
	sync bool
	n    int
	busy bool
}

var publishModes = []publishMode{
	{"sync, 1 publisher", true, 1, false},
	{"sync, 16 publishers", true, 16, false},
	{"sync, 64 publishers", true, 64, false},
	{"async, 256 in flight", false, 256, false},
	{"sync, 64 publishers, no core idle", true, 64, true},
}

// publisher publishes into the gateway's own streams (store.Open: embedded
// nats-server, file store, SyncAlways) in a directory of its own, with the
// header the gateway sets for duplicate detection.
type publisher struct {
	st  *store.Store
	seq atomic.Int64
}

func openPublisher(tmp string) (*publisher, error) {
	dir, err := os.MkdirTemp(tmp, "jetstream-")
	if err != nil {
		return nil, err
	}
	st, err := store.Open(context.Background(), store.Options{Embedded: true, DataDir: dir, SyncAlways: true})
	if err != nil {
		return nil, err
	}
	return &publisher{st: st}, nil
}

func (p *publisher) close() { p.st.Close() }

func (p *publisher) msg(data []byte) *nats.Msg {
	id := "raw-" + strconv.FormatInt(p.seq.Add(1), 10)
	m := nats.NewMsg(store.Subject(id, "raw"))
	m.Header.Set(jetstream.MsgIDHeader, "s:"+id)
	m.Data = data
	return m
}

// publishOne publishes data once and waits for the acknowledgement.
func (p *publisher) publishOne(data []byte) error {
	_, err := p.st.JetStream().PublishMsg(context.Background(), p.msg(data))
	return err
}

// publish publishes data for window in the given mode and returns the number
// of acknowledged messages.
func (p *publisher) publish(data []byte, mode publishMode, window time.Duration) (int64, error) {
	next := func() *nats.Msg { return p.msg(data) }
	if mode.busy {
		stop, err := spinIdle()
		if err != nil {
			return 0, fmt.Errorf("keep the cores busy at SCHED_IDLE: %w", err)
		}
		defer stop()
	}
	if mode.sync {
		return publishSync(context.Background(), p.st.JetStream(), mode.n, window, next)
	}
	return publishAsync(p.st.Conn(), mode.n, window, next)
}

// publishSync publishes from n goroutines, each waiting for its acknowledgement.
func publishSync(ctx context.Context, js jetstream.JetStream, n int, window time.Duration, next func() *nats.Msg) (int64, error) {
	var count atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	deadline := time.Now().Add(window)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := js.PublishMsg(ctx, next()); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return count.Load(), nil
}

// publishAsync publishes with a sliding window of up to n acknowledgements
// outstanding, and waits for the last of them.
func publishAsync(nc *nats.Conn, n int, window time.Duration, next func() *nats.Msg) (int64, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(n))
	if err != nil {
		return 0, err
	}
	futures := make(chan jetstream.PubAckFuture, 2*n)
	var count int64
	var ackErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for f := range futures {
			select {
			case <-f.Ok():
				count++
			case err := <-f.Err():
				if ackErr == nil {
					ackErr = err
				}
			}
		}
	}()
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) {
		f, err := js.PublishMsgAsync(next(), jetstream.WithStallWait(time.Minute))
		if err != nil {
			close(futures)
			<-done
			return 0, err
		}
		futures <- f
	}
	close(futures)
	<-done
	return count, ackErr
}
