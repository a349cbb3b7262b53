// Package lowprio runs CPU-heavy work (XML validation) on a few OS threads
// of lower scheduling priority than the rest of the process.
//
// Why: with fsync before every acknowledgement, JetStream's stream writer
// stores one message after the other, and after each fsync it needs a core
// at once. On a small machine validation keeps the cores busy, and the
// writer then waits for one: measured on 2 cores, one worker validating
// without pause cut the durable publish rate from 4,263/s to 3,080/s; at
// nice +10 the publish rate stayed at 3,635/s while the validation ran at
// 3,671/s (test/bench BenchmarkPublishBesideValidation,
// docs/decisions/0005-scheduling-for-the-stream-writer.md).
// The kernel gives the lower-priority threads every cycle nobody else
// wants, so validation loses nothing on an idle machine.
//
// Each worker goroutine is locked to its OS thread for its life, and only
// that thread's nice value is raised (Linux keeps a nice value per thread);
// on other systems the workers run at normal priority.
package lowprio

import (
	"runtime"
	"sync"
)

// cores is the runtime's GOMAXPROCS at start: the cores available to the
// process (cgroup limits included), or the GOMAXPROCS variable. It is read
// before anything (drehscheibe serve) raises GOMAXPROCS.
var cores = runtime.GOMAXPROCS(0)

// Pool runs functions on its workers.
type Pool struct {
	jobs chan func()
	wg   sync.WaitGroup
	// mu guards closed against sends: Do holds it shared while it hands a
	// job over, Close exclusively while it closes jobs.
	mu     sync.RWMutex
	closed bool
	// Workers is the number of workers.
	Workers int
	// Nice is how many steps the workers' threads were lowered (0: not).
	Nice int
}

// New starts n workers (n < 1: one per core) whose threads run nice
// steps below the process (nice ≤ 0: at its priority). It returns the pool
// and, if the priority could not be lowered, the reason; the pool works
// all the same.
func New(n, nice int) (*Pool, error) {
	if n < 1 {
		n = cores
	}
	p := &Pool{jobs: make(chan func()), Workers: n}
	errs := make(chan error, n)
	for range n {
		p.wg.Add(1)
		go p.work(nice, errs)
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first == nil && nice > 0 {
		p.Nice = nice
	}
	return p, first
}

func (p *Pool) work(nice int, started chan<- error) {
	defer p.wg.Done()
	// The thread stays this goroutine's; it ends with it, so its nice
	// value never reaches other work.
	runtime.LockOSThread()
	var err error
	if nice > 0 {
		err = lower(nice)
	}
	started <- err
	for f := range p.jobs {
		f()
	}
}

// Do runs f on a worker and returns when it is done. On a nil or closed
// pool it runs f on the calling goroutine. A panic in f is raised again on
// the calling goroutine, as if f had run there: an HTTP handler's panic
// costs one request (net/http recovers it), never the worker or the process.
func (p *Pool) Do(f func()) {
	if p == nil {
		f()
		return
	}
	done := make(chan struct{})
	var panicked any
	job := func() {
		defer close(done)
		defer func() { panicked = recover() }()
		f()
	}
	if !p.send(job) {
		f()
		return
	}
	<-done
	if panicked != nil {
		panic(panicked)
	}
}

// send hands job to a worker; false if the pool is closed.
func (p *Pool) send(job func()) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return false
	}
	p.jobs <- job
	return true
}

// Close stops the workers after the jobs they hold; later calls of Do run
// on the caller.
func (p *Pool) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.jobs)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
