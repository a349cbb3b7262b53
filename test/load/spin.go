package main

import (
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// spinIdle keeps every core busy with work of the lowest priority there is
// (Linux SCHED_IDLE: it runs only when nothing else wants the core, and a
// waking task takes the core from it at once) until stop is called. It
// shows what JetStream's fsync-bound writer reaches when no core is idle,
// without taking CPU time from it: on the target VM that alone costs the
// writer a third of its rate or more (docs/benchmarks.md, "No idle core").
// err reports that a spinner's thread could not be set to SCHED_IDLE; the
// spinners are stopped then.
func spinIdle() (stop func(), err error) {
	var quit atomic.Bool
	var wg sync.WaitGroup
	n := runtime.NumCPU()
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The thread ends with the goroutine (no UnlockOSThread), so
			// its scheduling policy never reaches other work.
			runtime.LockOSThread()
			attr := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
			err := unix.SchedSetAttr(0, attr, 0)
			errs <- err
			if err != nil {
				return
			}
			for !quit.Load() {
			}
		}()
	}
	stop = func() { quit.Store(true); wg.Wait() }
	for range n {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}
