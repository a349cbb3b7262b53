package retention

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// benchN is the number of submissions each benchmark run works on.
const benchN = 1000

// BenchmarkJanitorPurge measures purging finished submissions: per
// submission a status read, a record, an event, object deletes and a purge.
func BenchmarkJanitorPurge(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		st, j, _ := setup(b)
		for i := range benchN {
			id := fmt.Sprintf("p%05d", i)
			put(b, st, id, nil)
			require.NoError(b, st.Append(context.Background(), id, store.Event{Type: store.EventDelivered, Target: "fv"}))
		}
		j.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
		b.StartTimer()
		rep, err := j.RunOnce(context.Background())
		b.StopTimer()
		require.NoError(b, err)
		require.Equal(b, benchN, rep.Purged)
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchN), "ns/submission")
}

// BenchmarkJanitorScanDeadLettered measures the cost each run pays for old
// submissions it must leave alone (dead-lettered, waiting for an operator).
func BenchmarkJanitorScanDeadLettered(b *testing.B) {
	st, j, _ := setup(b)
	ctx := context.Background()
	for i := range benchN {
		id := fmt.Sprintf("d%05d", i)
		put(b, st, id, nil)
		require.NoError(b, st.Append(ctx, id, store.Event{Type: store.EventDeadLettered, Target: "fv"}))
	}
	j.Now = func() time.Time { return time.Now().Add(1000 * time.Hour) }
	for b.Loop() {
		rep, err := j.RunOnce(ctx)
		require.NoError(b, err)
		require.Equal(b, benchN, rep.Scanned)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchN), "ns/submission")
}
