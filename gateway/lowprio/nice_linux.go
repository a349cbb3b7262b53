package lowprio

import (
	"fmt"
	"syscall"
)

// lower raises the calling thread's nice value by steps (at most to 19).
// On Linux, setpriority with PRIO_PROCESS and a thread id applies to that
// thread alone.
func lower(steps int) error {
	tid := syscall.Gettid()
	// The raw getpriority system call returns 20 - nice.
	cur, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		return fmt.Errorf("lowprio: getpriority: %w", err)
	}
	target := min(20-cur+steps, 19)
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, target); err != nil {
		return fmt.Errorf("lowprio: setpriority %d: %w", target, err)
	}
	return nil
}
