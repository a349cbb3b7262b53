package bench

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/drehscheibe/drehscheibe/gateway/lowprio"
	"github.com/drehscheibe/drehscheibe/gateway/store"
	"github.com/drehscheibe/drehscheibe/schemas"
	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// BenchmarkPublishBesideValidation measures the durable publish rate (fsync
// before every acknowledgement, 64 publishers, XBeteiligung 0402) while
// goroutines validate the same document without pause in the same process,
// at normal priority and on gateway/lowprio workers at nice +10: the figures
// behind decision 0005 (docs/decisions/0005-scheduling-for-the-stream-writer.md).
//
//	go test ./test/bench -run '^$' -bench PublishBesideValidation -benchtime 8000x
func BenchmarkPublishBesideValidation(b *testing.B) {
	xoev := testenv.Shared(b, "xoev")
	cat, err := schemas.Load(xoev)
	if err != nil {
		b.Fatal(err)
	}
	defer cat.Close()
	doc, err := os.ReadFile(filepath.Join(xoev, "xbeteiligung", "1.2", "tests", "res", "example402FromCockpit.xml"))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name             string
		validators, nice int
	}{
		{"validators=0", 0, 0},
		{"validators=1/nice=0", 1, 0},
		{"validators=1/nice=10", 1, 10},
		{"validators=2/nice=0", 2, 0},
		{"validators=2/nice=10", 2, 10},
	} {
		b.Run(c.name, func(b *testing.B) {
			st, err := store.Open(context.Background(), store.Options{Embedded: true, DataDir: b.TempDir(), SyncAlways: true})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			var validated atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if c.validators > 0 {
				pool, err := lowprio.New(c.validators, c.nice)
				if err != nil {
					b.Fatal(err)
				}
				defer pool.Close()
				for range c.validators {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							select {
							case <-stop:
								return
							default:
							}
							pool.Do(func() { cat.Validate(doc) })
							validated.Add(1)
						}
					}()
				}
			}
			var seq atomic.Int64
			b.SetParallelism(32) // 64 publishers on 2 cores
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := "bench-" + strconv.FormatInt(seq.Add(1), 10)
					m := nats.NewMsg(store.Subject(id, "raw"))
					m.Header.Set(jetstream.MsgIDHeader, "s:"+id)
					m.Data = doc
					if _, err := st.JetStream().PublishMsg(context.Background(), m); err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := time.Since(start).Seconds()
			b.StopTimer()
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(b.N)/elapsed, "publishes/s")
			b.ReportMetric(float64(validated.Load())/elapsed, "validations/s")
		})
	}
}
