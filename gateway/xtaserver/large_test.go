package xtaserver_test

import (
	"bytes"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
)

// TestLargeContainerRoundTrip sends a container of 40 MiB (the XTA limit)
// by MTOM, fetches it from the box and checks every byte. The peak heap is
// logged, not asserted: figures belong to benchmarks. This one mixes client
// and gateway in one process; test/bench measures the gateway alone
// (docs/benchmarks.md).
func TestLargeContainerRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 80 MiB through JetStream")
	}
	e := startWith(t, "", "nats: {data_dir: %q}", "40MiB")
	msg := e.demoFor("ags:07777000")
	att := bytes.Repeat([]byte("drehscheibe\x00\xff"), (40<<20-len(msg))/13)
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	}()
	start := time.Now()
	require.NoError(t, e.send("large", readerB, msg, xta.Content{ContentType: "application/octet-stream", Filename: "large.bin", Data: att}))
	sent := time.Since(start)
	var env *xta.Envelope
	var err error
	require.Eventually(t, func() bool {
		// Not through e.call: the schema check of a 40 MiB envelope would dominate.
		env, err = (&xta.Client{URL: e.url, HTTP: e.pki.HTTPClient(t, "fachverfahren-b")}).Call(t.Context(), xta.OpGetMessage, xta.AuthorHeader(readerB), fetchByID("large"))
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "%v", err)
	close(stop)
	cc := env.Body.Container.ContentContainer
	assert.Equal(t, msg, cc.Message.Data)
	require.Len(t, cc.Attachments, 1)
	assert.True(t, bytes.Equal(att, cc.Attachments[0].Data), "40 MiB attachment round-trips byte-identical")
	t.Logf("40 MiB container: send %s, send+fetch %s, peak heap in use %d MiB (gateway and client in one process)",
		sent.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), peak.Load()>>20)
}
