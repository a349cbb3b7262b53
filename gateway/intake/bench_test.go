package intake

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/gateway/routing"
	"github.com/drehscheibe/drehscheibe/gateway/store"
	"github.com/drehscheibe/drehscheibe/schemas"
)

// benchMessages are real messages of three standards, 2 to 20 KB; make bench
// posts the same ones to the gateway.
var benchMessages = []string{
	"xwasser/1.0.0/tests/administration_receipt.xml",
	"xbeteiligung/1.2/tests/res/example402FromCockpit.xml",
	"xdomea/3.0.0/examples/x-man/9a75050f-323a-4e84-94c9-a889aa2b4fe8_Aussonderung.Anbieteverzeichnis.0501.xml",
}

// benchPipeline is the gateway's intake without HTTP: every schema of
// ../shared/xoev, a catch-all route with a test target, and (for Submit) an
// embedded JetStream with fsync before ack in a temporary directory.
func benchPipeline(b *testing.B, withStore bool) (*Pipeline, map[string][]byte) {
	b.Helper()
	dir := sharedXOEV(b)
	cat, err := schemas.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cat.Close)
	router, err := routing.New(
		[]config.Route{{Name: "catch-all", Target: "fachverfahren", TestTarget: "testsystem"}},
		[]config.Target{{Name: "fachverfahren", Type: "filedrop"}, {Name: "testsystem", Type: "filedrop", Test: true}})
	if err != nil {
		b.Fatal(err)
	}
	p := &Pipeline{Catalog: cat, Router: router}
	if withStore {
		st, err := store.Open(context.Background(), store.Options{Embedded: true, DataDir: b.TempDir(), SyncAlways: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(st.Close)
		p.Store = st
	}
	docs := map[string][]byte{}
	for _, rel := range benchMessages {
		doc, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			b.Fatal(err)
		}
		docs[filepath.Base(rel)] = doc
	}
	return p, docs
}

// BenchmarkCheck runs validate, identify and route on real messages: the CPU
// work of a submission before it is stored.
func BenchmarkCheck(b *testing.B) {
	p, docs := benchPipeline(b, false)
	for _, rel := range benchMessages {
		doc := docs[filepath.Base(rel)]
		b.Run(filepath.Base(rel), func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, prob := p.Check(&Request{Sender: "bench", Message: doc}); prob != nil {
					b.Fatal(prob.Detail)
				}
			}
		})
	}
}

// BenchmarkSubmit runs the whole intake, the durable publish (fsync before
// ack) included, from one goroutine and from 16 at once as concurrent HTTP
// requests do.
func BenchmarkSubmit(b *testing.B) {
	p, docs := benchPipeline(b, true)
	ctx := context.Background()
	for _, rel := range benchMessages {
		doc := docs[filepath.Base(rel)]
		submit := func(b *testing.B) {
			if _, _, prob := p.Submit(ctx, &Request{Sender: "bench", Message: doc, ReceivedAt: time.Now()}); prob != nil {
				b.Error(prob.Detail)
			}
		}
		b.Run(filepath.Base(rel)+"/goroutines=1", func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				submit(b)
			}
		})
		b.Run(filepath.Base(rel)+"/goroutines=16", func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.SetParallelism(8) // 16 goroutines on 2 cores
			var failed atomic.Bool
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() && !failed.Load() {
					submit(b)
				}
			})
		})
	}
}

// sharedXOEV returns ../shared/xoev beside the repository root, or skips.
func sharedXOEV(b *testing.B) string {
	b.Helper()
	dir, err := os.Getwd()
	if err != nil {
		b.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			b.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "xoev")
	if _, err := os.Stat(p); err != nil {
		b.Skipf("real XÖV data not available: %v", err)
	}
	return p
}
