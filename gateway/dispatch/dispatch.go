// Package dispatch drives delivery adapters from JetStream: one durable pull
// consumer per target, a few workers per consumer, ack only after the adapter
// took the message.
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
}

// Observer receives delivery outcomes for metrics.
type Observer interface {
	DeliveryAttempt(target, adapter, result string, d time.Duration)
}

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

// Start creates every target's consumer and starts workers for in-process adapters.
func (d *Dispatcher) Start(ctx context.Context) error {
	ctx, d.cancel = context.WithCancel(context.Background())
	for _, t := range d.targets {
		if t.Concurrency < 1 {
			t.Concurrency = 1
		}
		if t.AckWait <= 0 {
			t.AckWait = time.Minute
		}
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
			sem <- struct{}{}
			if !d.begin() {
				<-sem
				_ = m.Nak() // shutting down: another replica (or the restart) delivers it
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

// Stop stops fetching, waits for deliveries in flight (up to ctx) and closes adapters.
func (d *Dispatcher) Stop(ctx context.Context) {
	d.mu.Lock()
	d.stopped = true
	d.mu.Unlock()
	for _, cc := range d.ccs {
		cc.Stop()
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
		_ = m.Term()
		return
	}
	log := d.log.With(zap.String("submission_id", rec.ID), zap.String("target", t.Name), zap.Int("attempt", attempt))

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
		d.event(rec.ID, store.Event{Type: store.EventDelivered, Target: t.Name, Adapter: t.Type, Attempt: attempt}, log)
		if err := m.DoubleAck(ctx); err != nil {
			log.Warn("ack after delivery failed; the message may be delivered again", zap.Error(err))
		}
		log.Info("delivered", zap.Duration("took", elapsed))
	case delivery.IsPermanent(err):
		d.observe(t, "permanent", elapsed)
		d.event(rec.ID, store.Event{Type: store.EventFailed, Target: t.Name, Adapter: t.Type, Attempt: attempt, Error: err.Error(), Detail: "permanent failure"}, log)
		_ = m.Term()
		log.Warn("delivery failed permanently", zap.Error(err))
	case t.MaxAttempts > 0 && attempt >= t.MaxAttempts:
		d.observe(t, "transient", elapsed)
		d.event(rec.ID, store.Event{Type: store.EventFailed, Target: t.Name, Adapter: t.Type, Attempt: attempt, Error: err.Error(), Detail: "attempts exhausted"}, log)
		_ = m.Term()
		log.Warn("delivery attempts exhausted", zap.Error(err))
	default:
		d.observe(t, "transient", elapsed)
		delay := Backoff(attempt)
		d.event(rec.ID, store.Event{Type: store.EventAttemptFailed, Target: t.Name, Adapter: t.Type, Attempt: attempt, Error: err.Error(), Detail: "retry in " + delay.Round(time.Millisecond).String()}, log)
		_ = m.NakWithDelay(delay)
		log.Info("delivery attempt failed; will retry", zap.Error(err), zap.Duration("retry_in", delay))
	}
}

func (d *Dispatcher) deliver(ctx context.Context, t Target, m jetstream.Msg, rec store.Record, attempt int) error {
	msg, err := d.st.Message(ctx, m.Headers(), m.Data())
	if err != nil {
		return fmt.Errorf("load message: %w", err)
	}
	del := &delivery.Delivery{
		SubmissionID: rec.ID, Attempt: attempt, Target: t.Name, Message: msg,
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

func (d *Dispatcher) event(id string, e store.Event, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.st.Append(ctx, id, e); err != nil {
		log.Error("could not record event", zap.String("event", e.Type), zap.Error(err))
	}
}

func (d *Dispatcher) observe(t Target, result string, el time.Duration) {
	if d.obs != nil {
		d.obs.DeliveryAttempt(t.Name, t.Type, result, el)
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

// Backoff is the delay before attempt+1: exponential from 1s, capped at 5 minutes, with ±20% jitter.
func Backoff(attempt int) time.Duration {
	d := time.Second << min(attempt-1, 9)
	if d > 5*time.Minute {
		d = 5 * time.Minute
	}
	j := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * j)
}
