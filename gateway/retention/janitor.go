// Package retention runs the janitor that keeps the gateway's JetStream data
// within its retention rules (docs/decisions/0002-dead-letters-and-retention.md):
//
//   - the content of a finished submission (delivered, closed, or discarded
//     by an operator) is deleted once it has been finished for the payload
//     retention; a record without content and the event log stay until the
//     events stream's maximum age, the event retention, removes them;
//   - a submission still waiting for delivery when it is older than its
//     target's max age becomes a dead letter and leaves the submissions
//     stream, so that it is set aside, never silently dropped.
//
// No stream removes a submission by age on its own. The janitor walks the
// submissions stream from its oldest message and stops at the first that is
// too young for either rule, so each run reads only the old part of the
// stream. Every gateway replica runs one; every step is idempotent.
package retention

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// Target holds what the janitor needs to know about one delivery target.
type Target struct {
	// Type is the adapter type, for the dead_lettered event.
	Type string
	// MaxAge is how long a submission may wait for delivery.
	MaxAge time.Duration
	// Grace is added to MaxAge before the janitor acts, so that it never
	// removes a message an adapter is still delivering: the dispatcher
	// dead-letters messages past their max age itself when it meets them,
	// and gives up a delivery after 10 × ack_wait.
	Grace time.Duration
	// Box marks a message-box target (XTA): "delivered" means the message
	// waits in the reader's box, so its content is kept until "closed".
	Box bool
}

// Observer receives the janitor's outcomes for metrics.
type Observer interface {
	DeadLettered(target, reason string)
	Purged()
}

// Janitor applies the retention rules.
type Janitor struct {
	Store *store.Store
	Log   *zap.Logger
	Obs   Observer
	// PayloadRetention is how long a finished submission keeps its content.
	PayloadRetention time.Duration
	// Interval is the time between runs.
	Interval time.Duration
	// Targets are the configured targets by name; Default applies to
	// submissions for a target that is no longer configured.
	Targets map[string]Target
	Default Target
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Report counts what one run did.
type Report struct {
	Scanned, Purged, DeadLettered int
}

// Run runs the janitor at once and then every Interval until ctx ends.
func (j *Janitor) Run(ctx context.Context) {
	t := time.NewTicker(j.Interval)
	defer t.Stop()
	for {
		rep, err := j.RunOnce(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			j.Log.Warn("janitor run incomplete; next run retries", zap.Error(err))
		case rep.Purged > 0 || rep.DeadLettered > 0:
			j.Log.Info("janitor run", zap.Int("scanned", rep.Scanned), zap.Int("purged", rep.Purged), zap.Int("dead_lettered", rep.DeadLettered))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce applies the rules once to every submission old enough for them.
func (j *Janitor) RunOnce(ctx context.Context) (Report, error) {
	var rep Report
	now := j.now()
	horizon := j.PayloadRetention
	for _, t := range j.Targets {
		horizon = min(horizon, t.MaxAge+t.Grace)
	}
	horizon = min(horizon, j.Default.MaxAge+j.Default.Grace)
	for seq := uint64(1); ; {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		m, err := j.Store.NextSubmission(ctx, seq)
		if errors.Is(err, store.ErrNotFound) {
			return rep, nil
		}
		if err != nil {
			return rep, err
		}
		seq = m.Seq + 1
		if now.Sub(m.Time) < horizon {
			return rep, nil // this one and all after it are too young for any rule
		}
		rep.Scanned++
		if err := j.check(ctx, m, now, &rep); err != nil {
			return rep, err
		}
	}
}

func (j *Janitor) check(ctx context.Context, m *store.SubmissionMsg, now time.Time, rep *Report) error {
	rec, err := store.DecodeRecord(m.Header)
	if err != nil {
		return nil // not a submission the gateway wrote; left alone
	}
	e, err := j.Store.Get(ctx, rec.ID)
	if err != nil {
		return err
	}
	if e.Sequence != m.Seq {
		return nil // a copy a replay superseded; purged with the latest one
	}
	st, events, err := j.Store.State(ctx, e)
	if err != nil {
		return err
	}
	_, at := store.StatusAt(events)
	t, ok := j.Targets[rec.Target]
	if !ok {
		t = j.Default
	}
	switch {
	case t.Box && (st == store.EventDelivered || st == store.EventFetched):
		// In the reader's message box until it closes the message.
	case store.Finished(st):
		if now.Sub(at) < j.PayloadRetention {
			return nil
		}
		// A dead letter left over from before the submission got through
		// still refers to the content; the operator resolves it first.
		if dead, err := j.Store.HasDeadLetter(ctx, rec.ID); err != nil || dead {
			return err
		}
		if err := j.Store.Purge(ctx, e); err != nil {
			return err
		}
		rep.Purged++
		if j.Obs != nil {
			j.Obs.Purged()
		}
	case st == store.EventDeadLettered || st == store.EventFetched:
		// Waiting for the operator, or in the Fachverfahren's message box.
	default:
		if now.Sub(m.Time) <= t.MaxAge+t.Grace {
			return nil
		}
		return j.expire(ctx, m, t, events, rep)
	}
	return nil
}

// expire turns a submission that waited longer than its max age into a dead
// letter and removes it from the submissions stream, and so from its
// consumer: an adapter that comes back later does not deliver it behind the
// operator's back.
func (j *Janitor) expire(ctx context.Context, m *store.SubmissionMsg, t Target, events []store.Event, rep *Report) error {
	dl := &store.DeadLetter{Adapter: t.Type, Reason: store.ReasonMaxAge, Error: "not delivered within max_age " + t.MaxAge.String()}
	for _, e := range events {
		switch {
		case e.Type == store.EventReplayed:
			dl.Attempts = 0
		case e.Attempt > 0:
			dl.Attempts = max(dl.Attempts, e.Attempt)
		}
	}
	created, err := j.Store.PutDeadLetter(ctx, m, dl)
	if err != nil {
		return err
	}
	if created {
		if j.Obs != nil {
			j.Obs.DeadLettered(dl.Target, dl.Reason)
		}
		j.Log.Warn("undelivered submission past its max age dead-lettered", zap.String("submission_id", dl.ID),
			zap.String("target", dl.Target), zap.Duration("max_age", t.MaxAge))
	}
	if err := j.Store.DeleteSubmission(ctx, m.Seq); err != nil {
		return err
	}
	rep.DeadLettered++
	return nil
}

func (j *Janitor) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}
