package xtapull

import "context"

// PollOnce runs one poll of every source.
func PollOnce(ctx context.Context, p *Puller) {
	for _, s := range p.sources {
		s.poll(ctx)
	}
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
