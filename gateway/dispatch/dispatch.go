// Package dispatch drives delivery adapters from JetStream: one durable pull
// consumer per target, a few workers per consumer, ack only after the adapter
// took the message. A delivery that fails for good — refused permanently,
// attempts used up, or older than the target's max age — becomes a dead
// letter; for external targets, whose failures the gateway does not see, the
// advisories JetStream publishes about them do the same (advisories.go).
package dispatch

import (
	"context"

	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/gateway/delivery"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// Target is one configured delivery target.
type Target struct {
	Name        string
	Type        string
	Adapter     delivery.Adapter // nil for type "external": a vendor process consumes
	Concurrency int
	MaxAttempts int
	AckWait     time.Duration
	// RetryInitial and RetryMax shape the backoff between attempts (see Backoff).
	RetryInitial, RetryMax time.Duration
	// MaxAge is how long a submission may wait for delivery, counted from
	// when its submission message was published (queued or replayed).
	MaxAge time.Duration
}

// Observer receives delivery outcomes for metrics.
type Observer interface {
	DeliveryAttempt(target, adapter, result string, d time.Duration)
	DeadLettered(target, reason string)
}

// Consumer metadata keys that tell external adapters the target's retry settings.
const (
	MetaRetryInitial = "drehscheibe.retry.initial"
	MetaRetryMax     = "drehscheibe.retry.max"
	MetaMaxAge       = "drehscheibe.max_age"
)

// Dispatcher runs the consumers.
type Dispatcher struct {
	st      *store.Store
	log     *zap.Logger
	obs     Observer
	targets []Target
	// mu guards stopped and the wg.Add of a new delivery, so that Stop's
	// wg.Wait never runs concurrently with an Add from zero.
	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
	cancel  context.CancelFunc
	ccs     []jetstream.ConsumeContext
	advice  jetstream.ConsumeContext
	// stopping is closed when Stop begins: messages fetched but not yet
	// started are handed back instead of delivered.
	stopping chan struct{}
}

// ConsumerName is the durable consumer of target.
func ConsumerName(target string) string { return store.ConsumerPrefix + target }

// EnsureConsumer creates or updates the durable consumer of t.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, t Target) (jetstream.Consumer, error) {
	maxAck := t.Concurrency * 2
	if maxAck < 1 {
		maxAck = 1
	}
	c, err := js.CreateOrUpdateConsumer(ctx, store.SubmissionsStream, jetstream.ConsumerConfig{
		Durable:       ConsumerName(t.Name),
		Description:   "drehscheibe delivery to target " + t.Name + " (" + t.Type + ")",
		FilterSubject: store.SubmissionsPrefix + "*." + t.Name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       t.AckWait,
		MaxDeliver:    t.MaxAttempts,
		MaxAckPending: maxAck,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Metadata: map[string]string{
			MetaRetryInitial: t.RetryInitial.String(),
			MetaRetryMax:     t.RetryMax.String(),
			MetaMaxAge:       t.MaxAge.String(),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("consumer for target %s: %w", t.Name, err)
	}
	return c, nil
}

// New makes a dispatcher; Start runs it.
func New(st *store.Store, log *zap.Logger, obs Observer, targets []Target) *Dispatcher {
	return &Dispatcher{st: st, log: log, obs: obs, targets: targets}
}

// withDefaults fills the settings a caller left zero.
func (t Target) withDefaults() Target {
	if t.Concurrency < 1 {
		t.Concurrency = 1
	}
	if t.AckWait <= 0 {
		t.AckWait = time.Minute
	}
	if t.RetryInitial <= 0 {
		t.RetryInitial = time.Second
	}
	if t.RetryMax < t.RetryInitial {
		t.RetryMax = max(5*time.Minute, t.RetryInitial)
	}
	if t.MaxAge <= 0 {
		t.MaxAge = DefaultMaxAge
	}
	return t
}

// DefaultMaxAge is the max age of a target that does not set one, and of
// submissions for a target that is no longer configured.
const DefaultMaxAge = 168 * time.Hour

// Start creates every target's consumer, starts workers for in-process
// adapters and turns advisories about exhausted or terminated messages into
// dead letters.
func (d *Dispatcher) Start(ctx context.Context) error {
	ctx, d.cancel = context.WithCancel(context.Background())
	d.stopping = make(chan struct{})
	for i := range d.targets {
		d.targets[i] = d.targets[i].withDefaults()
	}
	if err := d.watchAdvisories(ctx); err != nil {
		return err
	}
	for _, t := range d.targets {
		c, err := EnsureConsumer(ctx, d.st.JetStream(), t)
		if err != nil {
			return err
		}
		if t.Adapter == nil {
			continue
		}
		sem := make(chan struct{}, t.Concurrency)
		t := t
		cc, err := c.Consume(func(m jetstream.Msg) {
			select {
			case sem <- struct{}{}:
			case <-d.stopping:
				d.handBack(m)
				return
			}
			if !d.begin() {
				<-sem
				d.handBack(m) // shutting down: another replica (or the restart) delivers it
				return
			}
			go func() {
				defer func() { <-sem; d.wg.Done() }()
				d.handle(ctx, t, m)
			}()
		}, jetstream.PullMaxMessages(t.Concurrency))
		if err != nil {
			return fmt.Errorf("consume target %s: %w", t.Name, err)
		}
		d.ccs = append(d.ccs, cc)
	}
	return nil
}

// begin counts a delivery in, unless Stop has begun.
func (d *Dispatcher) begin() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return false
	}
	d.wg.Add(1)
	return true
}

// Stop stops fetching, hands back what was fetched but not started, waits
// for deliveries in flight (up to ctx) and closes adapters.
func (d *Dispatcher) Stop(ctx context.Context) {
	d.mu.Lock()
	already := d.stopped
	d.stopped = true
	d.mu.Unlock()
	if d.stopping != nil && !already {
		close(d.stopping)
	}
	for _, cc := range d.ccs {
		cc.Drain()
	}
	for _, cc := range d.ccs {
		select {
		case <-cc.Closed():
		case <-ctx.Done():
		}
	}
	if d.advice != nil {
		d.advice.Stop()
	}
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		d.log.Warn("deliveries still in flight at shutdown; they will be redelivered")
	}
	if d.cancel != nil {
		d.cancel()
	}
	for _, t := range d.targets {
		if t.Adapter != nil {
			_ = t.Adapter.Close()
		}
	}
}

// handBackDelay is how soon a message handed back at shutdown is due again.
// A plain Nak would be forgotten by a server stopping with us (the embedded
// one); a Nak with a delay is stored in the consumer's state. The delay is
// long enough that the message does not come back to this draining
// subscription.
const handBackDelay = time.Second

// handBack returns a message that was fetched but not started to JetStream,
// so that it does not wait out its AckWait after a restart or on another
// replica. JetStream counts it as delivered once.
func (d *Dispatcher) handBack(m jetstream.Msg) {
	if err := m.NakWithDelay(handBackDelay); err != nil {
		d.log.Warn("could not hand back an undelivered message; it is redelivered after ack_wait", zap.Error(err))
	}
}

func (d *Dispatcher) handle(ctx context.Context, t Target, m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		_ = m.Nak()
		return
	}
	attempt := int(meta.NumDelivered)
	rec, err := store.DecodeRecord(m.Headers())
	if err != nil {
		d.log.Error("undecodable submission message; terminating it", zap.String("target", t.Name), zap.Error(err))
		_ = m.TermWithReason("undecodable submission message")
		return
	}
	log := d.log.With(zap.String("submission_id", rec.ID), zap.String("target", t.Name), zap.Int("attempt", attempt))
	sm := &store.SubmissionMsg{Header: m.Headers(), Data: m.Data(), Seq: meta.Sequence.Stream, Time: meta.Timestamp}
	if time.Since(meta.Timestamp) > t.MaxAge {
		d.deadLetter(t, m, sm, &store.DeadLetter{Reason: store.ReasonMaxAge, Attempts: attempt - 1,
			Error: "not delivered within max_age " + t.MaxAge.String()}, log)
		return
	}

	// Keep the message ours while a slow delivery runs.
	dctx, cancel := context.WithTimeout(ctx, t.AckWait*10)
	defer cancel()
	go keepAlive(dctx, m, t.AckWait)

	if cancelled, err := d.st.Cancelled(dctx, rec.ID); err == nil && cancelled {
		_ = m.Term()
		log.Info("not delivered: the author cancelled the message")
		return
	}
	start := time.Now()
	err = d.deliver(dctx, t, m, rec, attempt)
	elapsed := time.Since(start)
	switch {
	case err == nil:
		d.observe(t, "success", elapsed)
		if !d.event(rec.ID, store.Event{Type: store.EventDelivered, Target: t.Name, Adapter: t.Type, Attempt: attempt}, log) {
			d.unrecorded(t, m, attempt, log)
			return
		}
		if err := m.DoubleAck(ctx); err != nil {
			log.Warn("ack after delivery failed; the message may be delivered again", zap.Error(err))
		}
		log.Info("delivered", zap.Duration("took", elapsed))
	case delivery.IsPermanent(err):
		d.observe(t, "permanent", elapsed)
		d.deadLetter(t, m, sm, &store.DeadLetter{Reason: store.ReasonPermanent, Attempts: attempt, Error: err.Error()}, log)
	case attempt >= t.MaxAttempts:
		d.observe(t, failedResult(err), elapsed)
		d.deadLetter(t, m, sm, &store.DeadLetter{Reason: store.ReasonExhausted, Attempts: attempt, Error: err.Error()}, log)
	case time.Since(meta.Timestamp) > t.MaxAge:
		d.observe(t, failedResult(err), elapsed)
		d.deadLetter(t, m, sm, &store.DeadLetter{Reason: store.ReasonMaxAge, Attempts: attempt, Error: err.Error()}, log)
	default:
		d.observe(t, failedResult(err), elapsed)
		delay, asked := retryDelay(t, attempt, err)
		detail := "retry in " + delay.Round(time.Millisecond).String()
		if asked {
			detail += " (the receiver's Retry-After)"
		}
		d.event(rec.ID, store.Event{Type: store.EventAttemptFailed, Target: t.Name, Adapter: t.Type, Attempt: attempt, Error: err.Error(), Detail: detail}, log)
		_ = m.NakWithDelay(delay)
		log.Info("delivery attempt failed; will retry", zap.Error(err), zap.Duration("retry_in", delay), zap.Bool("retry_after", asked))
	}
}

// failedResult is the metrics result of a failed attempt that is not
// permanent: deferred when the receiver asked for a wait (Retry-After),
// else transient.
func failedResult(err error) string {
	if _, ok := delivery.RetryAfterOf(err); ok {
		return "deferred"
	}
	return "transient"
}

// retryDelay is the wait before the attempt after a failed one: the
// backoff, or the receiver's Retry-After where that is longer. The
// Retry-After counts only up to the target's retry.max, so a receiver
// cannot park a message beyond what the operator allows; it never shortens
// the backoff either. Like the backoff it is varied, but only upwards (by
// up to 20 %): deliveries the receiver refused together do not all return
// at the same instant, and none before the receiver's time. asked reports
// that the Retry-After decided the wait.
func retryDelay(t Target, attempt int, err error) (delay time.Duration, asked bool) {
	delay = Backoff(attempt, t.RetryInitial, t.RetryMax)
	ra, ok := delivery.RetryAfterOf(err)
	if !ok {
		return delay, false
	}
	if ra = min(ra, t.RetryMax); ra > delay {
		return time.Duration(float64(ra) * (1 + 0.2*rand.Float64())), true
	}
	return delay, false
}

// deadLetter sets the delivery m aside as a dead letter (which records the
// dead_lettered event) and terminates m. If the dead letter cannot be stored,
// m is handed back to JetStream to come again; should that have been its last
// delivery, the MAX_DELIVERIES advisory makes the dead letter later.
func (d *Dispatcher) deadLetter(t Target, m jetstream.Msg, sm *store.SubmissionMsg, dl *store.DeadLetter, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dl.Adapter = t.Type
	created, err := d.st.PutDeadLetter(ctx, sm, dl)
	if err != nil {
		log.Error("could not store the dead letter; the delivery comes again", zap.String("reason", dl.Reason), zap.Error(err))
		_ = m.NakWithDelay(t.RetryInitial)
		return
	}
	if created {
		d.deadLettered(t.Name, dl.Reason)
	}
	if err := m.TermWithReason(dl.Reason); err != nil {
		log.Warn("terminating the dead-lettered message failed", zap.Error(err))
	}
	log.Warn("delivery dead-lettered", zap.String("reason", dl.Reason), zap.Int("attempts", dl.Attempts), zap.String("error", dl.Error))
}

func (d *Dispatcher) deliver(ctx context.Context, t Target, m jetstream.Msg, rec store.Record, attempt int) error {
	del := &delivery.Delivery{
		SubmissionID: rec.ID, Attempt: attempt, Target: t.Name, Message: d.message(m, rec),
		Standard: rec.Standard, Version: rec.Version, Namespace: rec.Namespace, MessageType: rec.MessageType,
		Author: rec.Author, Reader: rec.Reader, NachrichtenUUID: rec.NachrichtenUUID,
		Service: rec.Service, Sender: rec.Sender, Test: rec.Test, ReceivedAt: rec.ReceivedAt, XTA: rec.XTA,
	}
	for _, a := range rec.Attachments {
		obj := a.Object
		del.Attachments = append(del.Attachments, delivery.Attachment{
			Name: a.Name, ContentType: a.ContentType, Size: a.Size,
			Open: func(ctx context.Context) (io.ReadCloser, error) { return d.st.OpenObject(ctx, obj) },
		})
	}
	return t.Adapter.Deliver(ctx, del)
}

// message is the content of m's message, streamed from the submission
// message or the object store and checked against the record's size and
// digest when read.
func (d *Dispatcher) message(m jetstream.Msg, rec store.Record) delivery.Content {
	h, data := m.Headers(), m.Data()
	if h.Get(store.HdrPayloadObject) == "" && rec.MessageSHA256 == "" {
		return delivery.BytesContent(data)
	}
	return delivery.NewContent(rec.MessageSize, rec.MessageSHA256, func(ctx context.Context) (io.ReadCloser, error) {
		rc, err := d.st.OpenMessage(ctx, h, data)
		if err != nil {
			return nil, fmt.Errorf("load message: %w", err)
		}
		return rc, nil
	})
}

// eventTimeout bounds how long an outcome's event is retried, e.g. while a
// cluster elects a new stream leader.
const eventTimeout = 30 * time.Second

// event records e in the log of submission id and reports whether it was stored.
func (d *Dispatcher) event(id string, e store.Event, log *zap.Logger) bool {
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	if err := d.st.Append(ctx, id, e); err != nil {
		log.Error("could not record event", zap.String("event", e.Type), zap.Error(err))
		return false
	}
	return true
}

// unrecorded handles an outcome whose event could not be stored: acknowledging
// it would leave the submission's status wrong for good, so the delivery is
// repeated later (adapters are idempotent) and its outcome recorded then.
func (d *Dispatcher) unrecorded(t Target, m jetstream.Msg, attempt int, log *zap.Logger) {
	delay := Backoff(attempt, t.RetryInitial, t.RetryMax)
	_ = m.NakWithDelay(delay)
	log.Warn("outcome not recorded; the delivery is repeated", zap.Duration("retry_in", delay))
}

func (d *Dispatcher) observe(t Target, result string, el time.Duration) {
	if d.obs != nil {
		d.obs.DeliveryAttempt(t.Name, t.Type, result, el)
	}
}

func (d *Dispatcher) deadLettered(target, reason string) {
	if d.obs != nil {
		d.obs.DeadLettered(target, reason)
	}
}

// keepAlive tells JetStream the delivery is still in progress until ctx ends.
func keepAlive(ctx context.Context, m jetstream.Msg, ackWait time.Duration) {
	tick := time.NewTicker(ackWait / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_ = m.InProgress()
		}
	}
}

// Backoff is the delay before attempt+1: initial × 2^(attempt−1), capped at
// maxDelay, then varied by ±20 % so that messages that failed together do
// not return together (so a delay is at most 1.2 × maxDelay).
func Backoff(attempt int, initial, maxDelay time.Duration) time.Duration {
	d := initial
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	j := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * j)
}
