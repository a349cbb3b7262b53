package store

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkPut stores submissions the way the intake does, one durable
// publish each, into an embedded server with SyncAlways (fsync before ack,
// the gateway's default): from one goroutine, and from 16 at once as
// concurrent HTTP requests do. The time is the disk's fsync latency more
// than anything else; benchstat compares runs on the same machine.
func BenchmarkPut(b *testing.B) {
	for _, size := range []int{2 << 10, 20 << 10} {
		msg := bytes.Repeat([]byte("x"), size)
		b.Run(fmt.Sprintf("size=%dKB/goroutines=1", size>>10), func(b *testing.B) {
			s := open(b, b.TempDir())
			defer s.Close()
			ctx := context.Background()
			b.SetBytes(int64(size))
			i := 0
			for b.Loop() {
				i++
				if _, err := s.Put(ctx, &Submission{Record: record(fmt.Sprintf("put-%d", i)), Message: msg}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("size=%dKB/goroutines=16", size>>10), func(b *testing.B) {
			s := open(b, b.TempDir())
			defer s.Close()
			ctx := context.Background()
			var n atomic.Int64
			b.SetBytes(int64(size))
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := fmt.Sprintf("put-%d", n.Add(1))
					if _, err := s.Put(ctx, &Submission{Record: record(id), Message: msg}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
