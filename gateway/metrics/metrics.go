// Package metrics defines drehscheibe's Prometheus metrics. Names follow the
// Prometheus guide: prefix drehscheibe_, base units, _total counters, and
// labels with bounded values only (outcomes, configured target and adapter names).
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds the collectors and the registry they are registered with.
type Metrics struct {
	Registry          *prometheus.Registry
	Submissions       *prometheus.CounterVec
	ValidationSeconds *prometheus.HistogramVec
	DeliveryAttempts  *prometheus.CounterVec
	DeliverySeconds   *prometheus.HistogramVec
	QueueDepth        *prometheus.GaugeVec
	DeadLettersTotal  *prometheus.CounterVec
	DeadLetters       prometheus.Gauge
	PayloadsPurged    prometheus.Counter
	HTTPRequests      *prometheus.CounterVec
	HTTPSeconds       *prometheus.HistogramVec
	XTAPulled         *prometheus.CounterVec
	XTAPolls          *prometheus.CounterVec
	XTARequests       *prometheus.CounterVec
	HTTPRefused       *prometheus.CounterVec
}

// New registers every metric on a fresh registry, with the Go and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drehscheibe_submissions_total",
			Help: "Submissions by outcome (accepted, duplicate, or the problem type that refused them).",
		}, []string{"outcome"}),
		ValidationSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "drehscheibe_validation_duration_seconds",
			Help:    "Time to validate one message against its XÖV schema, by outcome.",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, 1, 5},
		}, []string{"outcome"}),
		DeliveryAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drehscheibe_delivery_attempts_total",
			Help: "Delivery attempts by target, adapter and result (success, transient, permanent).",
		}, []string{"target", "adapter", "result"}),
		DeliverySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "drehscheibe_delivery_duration_seconds",
			Help:    "Time of one delivery attempt, by target.",
			Buckets: prometheus.DefBuckets,
		}, []string{"target"}),
		QueueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "drehscheibe_queue_depth",
			Help: "Submissions waiting for or in delivery, per target (pending + unacknowledged).",
		}, []string{"target"}),
		DeadLettersTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drehscheibe_dead_letters_total",
			Help: "Deliveries this replica set aside as dead letters, by target and reason (permanent, exhausted, max_age, terminated).",
		}, []string{"target", "reason"}),
		DeadLetters: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "drehscheibe_dead_letters",
			Help: "Dead letters waiting for an operator to replay or discard them (all targets, all replicas).",
		}),
		PayloadsPurged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drehscheibe_payloads_purged_total",
			Help: "Finished submissions whose content this replica's janitor deleted after the payload retention.",
		}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drehscheibe_http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		HTTPSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "drehscheibe_http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"route"}),
		XTAPulled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drehscheibe_xta_pulled_total",
			Help: "Messages the pull intake fetched from remote XTA boxes, by source and outcome (stored, duplicate, refused, failed).",
		}, []string{"source", "outcome"}),
		XTAPolls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drehscheibe_xta_pull_polls_total",
			Help: "Polls of remote XTA boxes by the pull intake, by source and result (ok, deferred: the remote asked to wait with Retry-After, failed).",
		}, []string{"source", "result"}),
		XTARequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drehscheibe_xta_requests_total",
			Help: "Requests the XTA server answered, by operation and outcome (ok, rate-limited, busy, or the XTA fault code).",
		}, []string{"operation", "outcome"}),
		HTTPRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drehscheibe_http_refused_total",
			Help: "REST requests refused for now with Retry-After, by route and reason (rate-limited, busy, unavailable).",
		}, []string{"route", "reason"}),
	}
	m.Registry.MustRegister(m.Submissions, m.ValidationSeconds, m.DeliveryAttempts, m.DeliverySeconds,
		m.QueueDepth, m.DeadLettersTotal, m.DeadLetters, m.PayloadsPurged, m.HTTPRequests, m.HTTPSeconds, m.XTAPulled,
		m.XTAPolls, m.XTARequests, m.HTTPRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Validated implements intake.Observer.
func (m *Metrics) Validated(outcome string, d time.Duration) {
	m.ValidationSeconds.WithLabelValues(outcome).Observe(d.Seconds())
}

// DeliveryAttempt implements dispatch.Observer.
func (m *Metrics) DeliveryAttempt(target, adapter, result string, d time.Duration) {
	m.DeliveryAttempts.WithLabelValues(target, adapter, result).Inc()
	m.DeliverySeconds.WithLabelValues(target).Observe(d.Seconds())
}

// DeadLettered implements dispatch.Observer and retention.Observer.
func (m *Metrics) DeadLettered(target, reason string) {
	m.DeadLettersTotal.WithLabelValues(target, reason).Inc()
}

// Purged implements retention.Observer.
func (m *Metrics) Purged() { m.PayloadsPurged.Inc() }

// Pulled implements xtapull.Observer.
func (m *Metrics) Pulled(source, outcome string) {
	m.XTAPulled.WithLabelValues(source, outcome).Inc()
}

// Polled implements xtapull.Observer.
func (m *Metrics) Polled(source, result string) {
	m.XTAPolls.WithLabelValues(source, result).Inc()
}

// XTARequest implements xtaserver.Observer.
func (m *Metrics) XTARequest(operation, outcome string) {
	m.XTARequests.WithLabelValues(operation, outcome).Inc()
}

// PollQueueDepth updates drehscheibe_queue_depth every interval until ctx ends.
// depth returns pending+unacknowledged per target.
func (m *Metrics) PollQueueDepth(ctx context.Context, every time.Duration, depth func(context.Context) map[string]float64) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for target, v := range depth(ctx) {
			m.QueueDepth.WithLabelValues(target).Set(v)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
