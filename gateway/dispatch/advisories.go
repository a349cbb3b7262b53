package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// AdvisoryConsumer is the durable consumer on the advisories stream; the
// gateway replicas share it, so each advisory is handled by one of them.
const AdvisoryConsumer = "deadletters"

// advisory holds the fields of JetStream's MAX_DELIVERIES and
// MSG_TERMINATED advisories that the gateway needs.
type advisory struct {
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
	Reason     string `json:"reason"` // MSG_TERMINATED only: what the adapter gave to Term
}

// watchAdvisories turns every advisory about a delivery consumer's message
// that reached MaxDeliver, or that a consumer terminated, into a dead letter.
// For in-process targets the dispatcher has stored the dead letter already
// (and the advisory changes nothing) unless the gateway died during the
// last attempt; for external targets the advisory is the only news.
func (d *Dispatcher) watchAdvisories(ctx context.Context) error {
	c, err := d.st.JetStream().CreateOrUpdateConsumer(ctx, store.AdvisoriesStream, jetstream.ConsumerConfig{
		Durable:       AdvisoryConsumer,
		Description:   "drehscheibe: dead letters from exhausted and terminated deliveries",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 64,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("consumer %s on %s: %w", AdvisoryConsumer, store.AdvisoriesStream, err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) { d.advised(ctx, m) })
	if err != nil {
		return fmt.Errorf("consume %s: %w", store.AdvisoriesStream, err)
	}
	d.advice = cc
	return nil
}

func (d *Dispatcher) advised(ctx context.Context, m jetstream.Msg) {
	var a advisory
	if err := json.Unmarshal(m.Data(), &a); err != nil || a.StreamSeq == 0 {
		d.log.Warn("unreadable advisory; dropped", zap.String("subject", m.Subject()))
		_ = m.Ack()
		return
	}
	target, ours := strings.CutPrefix(a.Consumer, store.ConsumerPrefix)
	if !ours {
		_ = m.Ack() // a consumer the gateway does not deliver through
		return
	}
	reason := store.ReasonExhausted
	if strings.Contains(m.Subject(), ".MSG_TERMINATED.") {
		reason = store.ReasonTerminated
	}
	sm, err := d.st.SubmissionAt(ctx, a.StreamSeq)
	if errors.Is(err, store.ErrNotFound) {
		_ = m.Ack() // purged, or dead-lettered for its age and removed
		return
	}
	if err != nil {
		_ = m.NakWithDelay(5 * time.Second)
		return
	}
	rec, err := store.DecodeRecord(sm.Header)
	if err != nil || rec.Target != target {
		_ = m.Ack()
		return
	}
	// A late advisory about a message an operator has replayed since
	// concerns a delivery that is over.
	if e, err := d.st.Get(ctx, rec.ID); err == nil && e.Sequence != a.StreamSeq {
		_ = m.Ack()
		return
	}
	log := d.log.With(zap.String("submission_id", rec.ID), zap.String("target", target))
	dl := &store.DeadLetter{Adapter: d.adapterType(target), Reason: reason, Attempts: int(a.Deliveries), Error: d.lastError(ctx, rec.ID, target)}
	if dl.Error == "" {
		dl.Error = a.Reason
	}
	created, err := d.st.PutDeadLetter(ctx, sm, dl)
	if err != nil {
		log.Error("could not store the dead letter; will retry", zap.Error(err))
		_ = m.NakWithDelay(5 * time.Second)
		return
	}
	if created {
		d.deadLettered(target, reason)
		log.Warn("delivery dead-lettered", zap.String("reason", reason), zap.Int("attempts", dl.Attempts), zap.String("error", dl.Error))
	}
	_ = m.Ack()
}

// lastError is the error of the last event of target in the log of id: what
// an external adapter reported with delivery_failed or failed.
func (d *Dispatcher) lastError(ctx context.Context, id, target string) string {
	e, err := d.st.Get(ctx, id)
	if err != nil {
		return ""
	}
	events, err := d.st.Events(ctx, e)
	if err != nil {
		return ""
	}
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Error != "" && events[i].Target == target {
			return events[i].Error
		}
	}
	return ""
}

func (d *Dispatcher) adapterType(target string) string {
	for _, t := range d.targets {
		if t.Name == target {
			return t.Type
		}
	}
	return ""
}
