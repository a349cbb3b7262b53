//go:build !linux

package lowprio

import "errors"

func lower(int) error {
	return errors.New("lowprio: lowering a thread's priority is supported on Linux only")
}
