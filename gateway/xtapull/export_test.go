package xtapull

import (
	"context"
	"time"
)

// PollOnce runs one poll of every source and returns the longest wait a
// remote asked for.
func PollOnce(ctx context.Context, p *Puller) time.Duration {
	var wait time.Duration
	for _, s := range p.sources {
		wait = max(wait, s.poll(ctx))
	}
	return wait
}

// FailAfterStore makes every source fail with err after storing a message
// and before closing it, as a gateway that dies there; nil undoes it.
func FailAfterStore(p *Puller, err error) {
	for _, s := range p.sources {
		s.afterStore = nil
		if err != nil {
			s.afterStore = func(string) error { return err }
		}
	}
}
