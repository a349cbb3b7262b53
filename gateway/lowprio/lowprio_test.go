//go:build linux

package lowprio

import (
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWorkersRunAtLowerPriority checks that the work runs on threads whose
// nice value is 10 above the process's, that the caller's thread keeps its
// own, and that the jobs run on the workers' threads only.
func TestWorkersRunAtLowerPriority(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	mine, err := niceOf(syscall.Gettid())
	require.NoError(t, err)

	p, err := New(2, 10)
	require.NoError(t, err)
	defer p.Close()
	assert.Equal(t, 10, p.Nice)

	tids := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Do(func() {
				tid := syscall.Gettid()
				n, err := niceOf(tid)
				assert.NoError(t, err)
				mu.Lock()
				tids[tid] = n
				mu.Unlock()
			})
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, len(tids), 2, "two workers, two threads")
	for tid, n := range tids {
		assert.Equal(t, min(mine+10, 19), n, "thread %d", tid)
		assert.NotEqual(t, syscall.Gettid(), tid)
	}
	after, err := niceOf(syscall.Gettid())
	require.NoError(t, err)
	assert.Equal(t, mine, after, "the caller's thread keeps its priority")
}

// TestCloseAndNil checks that Do runs every job exactly once: on the
// workers, and on the caller after Close or without a pool.
func TestCloseAndNil(t *testing.T) {
	var n atomic.Int64
	var nilPool *Pool
	nilPool.Do(func() { n.Add(1) })
	nilPool.Close()

	def, err := New(0, 0)
	require.NoError(t, err)
	assert.Equal(t, runtime.GOMAXPROCS(0), def.Workers, "0 workers: one per core")
	def.Close()

	p, err := New(1, 0)
	require.NoError(t, err)
	assert.Equal(t, 0, p.Nice, "nice 0 leaves the priority alone")
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); p.Do(func() { n.Add(1) }) }()
	}
	wg.Wait()
	p.Close()
	p.Close()
	p.Do(func() { n.Add(1) })
	assert.Equal(t, int64(52), n.Load())
}

// niceOf returns the nice value of thread tid.
func niceOf(tid int) (int, error) {
	cur, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	return 20 - cur, err
}

// TestPanicReachesTheCaller: a panic in a job comes out of Do on the
// calling goroutine (where net/http recovers it for one request), and the
// worker goes on with the next job; without that it would end the process.
func TestPanicReachesTheCaller(t *testing.T) {
	p, err := New(1, 0)
	require.NoError(t, err)
	defer p.Close()
	assert.PanicsWithValue(t, "broken document", func() { p.Do(func() { panic("broken document") }) })
	ran := false
	p.Do(func() { ran = true })
	assert.True(t, ran, "the worker runs the next job")
}
