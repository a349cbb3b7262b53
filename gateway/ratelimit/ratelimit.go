// Package ratelimit is the token bucket behind the rate limits of the REST
// API (a principal's per_second and burst) and the XTA server
// (xta.rate_limit, xta.parties[].rate_limit).
package ratelimit

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// Bucket holds up to burst tokens and gains perSecond tokens a second; a
// request takes one. A nil Bucket is no limit.
type Bucket struct {
	lim *rate.Limiter
}

// New returns the bucket of a limit, or nil when perSecond is 0 or less
// (no limit).
func New(perSecond, burst int) *Bucket {
	if perSecond <= 0 {
		return nil
	}
	return &Bucket{lim: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

// Take takes a token. It returns 0 when there was one, else the whole
// seconds until there will be one, for Retry-After (at least 1; no token
// is taken then).
func (b *Bucket) Take() int {
	if b == nil {
		return 0
	}
	now := time.Now()
	res := b.lim.ReserveN(now, 1)
	d := res.DelayFrom(now)
	if d == 0 {
		return 0
	}
	res.CancelAt(now)
	return int(math.Ceil(d.Seconds()))
}
