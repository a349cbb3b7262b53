package delivery

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter bounds what ParseRetryAfter returns, so that an absurd
// header cannot overflow a duration; the dispatcher bounds the wait by the
// target's retry.max anyway.
const maxRetryAfter = 24 * time.Hour

// retryAfterError carries the wait a receiver asked for with its refusal.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (r retryAfterError) Error() string { return r.err.Error() }
func (r retryAfterError) Unwrap() error { return r.err }

// RetryAfter marks err as a refusal for now that names its own wait: the
// receiver answered it is overloaded or rate-limited and asked not to be
// called again before d has passed (HTTP Retry-After, XTA fault 9030 with
// Retry-After). The dispatcher then waits at least d before the next
// attempt, never less than the target's backoff and never more than its
// retry.max; the attempt counts towards max_attempts like any other.
// A d of zero or less returns err unchanged.
func RetryAfter(err error, d time.Duration) error {
	if err == nil || d <= 0 {
		return err
	}
	return retryAfterError{err: err, after: d}
}

// RetryAfterOf returns the wait err asks for, if it was marked with RetryAfter.
func RetryAfterOf(err error) (time.Duration, bool) {
	var r retryAfterError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}

// ParseRetryAfter reads the value of a Retry-After header (RFC 9110,
// section 10.2.3): a number of seconds, or an HTTP date, which counts from
// now. It reports false for an empty or unreadable value and for a date
// that has passed; values beyond a day count as a day.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		if secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		d = time.Duration(secs) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
	} else {
		return 0, false
	}
	if d <= 0 {
		return 0, false
	}
	return min(d, maxRetryAfter), true
}
