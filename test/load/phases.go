package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// startupResult is the time from starting the process to /readyz 200, and
// (from the gateway's log, of the median run) where it went.
type startupResult struct {
	Runs       []float64 `json:"runs_s"`
	MedianS    float64   `json:"median_s"`
	Namespaces int       `json:"namespaces_compiled"`
	// BeforeCompileS is from the start of the process to the start of
	// compiling (Go runtime, configuration).
	BeforeCompileS float64 `json:"before_compile_s"`
	CompileS       float64 `json:"schemas_compile_s"`
	// StoreS is from the compiled schemas to "drehscheibe ready": the
	// embedded NATS server, streams, object store, one consumer per target
	// (each written to disk with fsync) and the listener.
	StoreS     float64 `json:"store_and_consumers_s"`
	RSSReadyMB float64 `json:"rss_at_ready_mb"`
	runs       []startupRun
}

type startupRun struct {
	total                  time.Duration
	before, compile, store time.Duration
}

// measureStartup starts fresh gateways (empty data directory) runs times.
func measureStartup(o *options, runs int) (*startupResult, error) {
	r := &startupResult{}
	for range runs {
		g, err := startGateway(o.bin, o.tmp, o.root, o.xoev)
		if err != nil {
			return nil, err
		}
		r.Runs = append(r.Runs, g.ready.Seconds())
		sl, err := g.startLog()
		if err != nil {
			g.stop()
			return nil, err
		}
		st, err := readProc(g.pid())
		g.stop()
		if err != nil {
			return nil, err
		}
		r.Namespaces, r.RSSReadyMB = sl.namespaces, mib(st.rss)
		r.runs = append(r.runs, startupRun{total: g.ready, before: sl.compiledAt.Add(-sl.compile).Sub(g.started),
			compile: sl.compile, store: sl.readyAt.Sub(sl.compiledAt)})
	}
	sorted := slices.Clone(r.runs)
	slices.SortFunc(sorted, func(a, b startupRun) int { return cmp.Compare(a.total, b.total) })
	med := sorted[len(sorted)/2]
	r.MedianS, r.BeforeCompileS, r.CompileS, r.StoreS = med.total.Seconds(), med.before.Seconds(), med.compile.Seconds(), med.store.Seconds()
	return r, nil
}

// bigResult is one 40 MB submission to a fresh gateway.
type bigResult struct {
	Route       string  `json:"route"`
	Bytes       int     `json:"bytes"`
	Status      int     `json:"status"`
	AcceptS     float64 `json:"seconds_to_202"`
	DeliveredS  float64 `json:"seconds_to_delivered,omitempty"`
	RSSBeforeMB float64 `json:"rss_before_mb"`
	PeakRSSMB   float64 `json:"peak_rss_mb"`
	GrowthMB    float64 `json:"peak_rss_growth_mb"`
}

// bigSubmission posts doc once to a fresh gateway and reports the growth of
// its peak RSS: until the 202 for the intake-only route, until the filedrop
// directory appears for the delivering one.
func bigSubmission(o *options, doc []byte, deliver bool) (*bigResult, error) {
	g, err := startGateway(o.bin, o.tmp, o.root, o.xoev)
	if err != nil {
		return nil, err
	}
	defer g.stop()
	time.Sleep(time.Second) // let start-up garbage be collected
	sender, route := intakeSender, "intake only (202)"
	if deliver {
		sender, route = deliverSender, "intake and filedrop delivery"
	}
	c := newClient(g, sender, 1)
	defer c.close()
	if err := resetPeak(g.pid()); err != nil {
		return nil, err
	}
	before, err := readProc(g.pid())
	if err != nil {
		return nil, err
	}
	start := time.Now()
	code, body, err := c.post(doc)
	if err != nil {
		return nil, err
	}
	r := &bigResult{Route: route, Bytes: len(doc), Status: code, AcceptS: time.Since(start).Seconds(), RSSBeforeMB: mib(before.rss)}
	if code != http.StatusAccepted {
		return r, fmt.Errorf("40 MB submission: %d %s", code, truncate(body, 300))
	}
	if deliver {
		for g.delivered() == 0 {
			if time.Since(start) > 2*time.Minute {
				return r, fmt.Errorf("40 MB submission not delivered within 2 minutes")
			}
			time.Sleep(5 * time.Millisecond)
		}
		r.DeliveredS = time.Since(start).Seconds()
	}
	after, err := readProc(g.pid())
	if err != nil {
		return nil, err
	}
	r.PeakRSSMB, r.GrowthMB = mib(after.hwm), mib(after.hwm-before.rss)
	return r, nil
}

// warmUp posts every document n times and fails unless all are accepted.
func warmUp(g *gatewayProc, docs []document, n int) error {
	c := newClient(g, intakeSender, 4)
	defer c.close()
	for _, d := range docs {
		t := &tally{}
		closedLoop(c, d.data, 4, time.Minute, n, t)
		if t.accepted != n {
			return fmt.Errorf("%s: %d of %d accepted; first error %s", d.Name, t.accepted, n, t.firstErr)
		}
	}
	return nil
}

// paired holds what pairedRounds measured for one document.
type paired struct {
	sweep    []phase
	validate []rawRate
	publish  []rawRate
}

// pairedRounds measures doc against its raw limits in alternating rounds:
// the validator alone on 1 and 2 goroutines, every publish mode, then every
// concurrency level of closed-loop load on the intake-only route, each for a
// short window, again and again. On a shared machine the disk's fsync
// latency and the CPU left to us drift by several times within seconds;
// alternating lets the gateway and its limits see the same drift. The
// figures of each mode and level are accumulated over the rounds.
func pairedRounds(o *options, g *gatewayProc, val *validator, pub *publisher, doc []byte) (*paired, error) {
	levels := make([]struct {
		t    *tally
		el   time.Duration
		use  usage
		conc int
		c    *client
	}, len(o.levels))
	for i, conc := range o.levels {
		levels[i].t, levels[i].conc, levels[i].c = &tally{}, conc, newClient(g, intakeSender, conc)
		defer levels[i].c.close()
	}
	res := &paired{validate: make([]rawRate, len(validateModes)), publish: make([]rawRate, len(publishModes))}
	for round := range o.rounds {
		for i, mode := range validateModes {
			m, err := startMeter(g.pid())
			if err != nil {
				return nil, err
			}
			n := val.validate(doc, mode.goroutines, o.publishWindow)
			res.validate[i].Mode = mode.name
			res.validate[i].add(n, m.stop(0))
		}
		for i, mode := range publishModes {
			m, err := startMeter(g.pid())
			if err != nil {
				return nil, err
			}
			n, err := pub.publish(doc, mode, o.publishWindow)
			if err != nil {
				return nil, fmt.Errorf("publish %s: %w", mode.name, err)
			}
			res.publish[i].Mode = mode.name
			res.publish[i].add(n, m.stop(0))
			if mode.busy {
				// The spinners' CPU is this process's too; per message it
				// would say nothing.
				res.publish[i].CPUPerOpMs = 0
			}
		}
		for i := range levels {
			l := &levels[i]
			m, err := startMeter(g.pid())
			if err != nil {
				return nil, err
			}
			l.el += closedLoop(l.c, doc, l.conc, o.duration, o.maxRequests/o.rounds, l.t)
			l.use.add(m.stop(0))
		}
		if round < o.rounds-1 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, l := range levels {
		p := phase{Concurrency: l.conc, Gateway: l.use}
		p.finish(l.t, l.el)
		p.Gateway.finish(p.Accepted)
		res.sweep = append(res.sweep, p)
	}
	return res, nil
}

// fixedRate posts doc at rate per second, open loop, to the intake-only
// route; then publishes messages of the same size at the same rate, open
// loop, to show how much of the tail is the durable publish alone.
func fixedRate(o *options, g *gatewayProc, pub *publisher, doc []byte, rate float64) (*phase, *phase, error) {
	const maxOutstanding = 1024
	c := newClient(g, intakeSender, 256)
	defer c.close()
	m, err := startMeter(g.pid())
	if err != nil {
		return nil, nil, err
	}
	t, el := openLoop(context.Background(), func() (int, string, error) { return c.post(doc) }, rate, o.fixedDuration, maxOutstanding)
	gw := &phase{TargetRate: rate, MaxOutstanding: maxOutstanding}
	gw.Gateway = m.stop(t.accepted)
	gw.finish(t, el)

	if m, err = startMeter(g.pid()); err != nil {
		return nil, nil, err
	}
	t, el = openLoop(context.Background(), func() (int, string, error) {
		if err := pub.publishOne(doc); err != nil {
			return 0, "", err
		}
		return http.StatusAccepted, "", nil
	}, rate, o.fixedDuration, maxOutstanding)
	raw := &phase{TargetRate: rate, MaxOutstanding: maxOutstanding}
	raw.Gateway = m.stop(0)
	raw.finish(t, el)
	return gw, raw, nil
}

// deliveryResult is a closed-loop phase on the route to filedrop, followed
// by waiting until everything accepted has been delivered.
type deliveryResult struct {
	Load phase `json:"load"`
	// DeliveredDuringLoad counts the submission directories that appeared
	// while the load ran.
	DeliveredDuringLoad      int     `json:"delivered_during_load"`
	DeliveriesPerSDuringLoad float64 `json:"deliveries_per_s_during_load"`
	// DrainS is the time from the end of the load until the last accepted
	// submission was delivered.
	DrainS          float64 `json:"drain_s"`
	AllDelivered    bool    `json:"all_delivered"`
	DeliveriesPerS  float64 `json:"deliveries_per_s"` // delivered / (load + drain)
	DrainDeliveries float64 `json:"deliveries_per_s_drain"`
	Gateway         usage   `json:"gateway"` // over load and drain
}

func deliveryPhase(o *options, g *gatewayProc, doc []byte, conc int) (*deliveryResult, error) {
	c := newClient(g, deliverSender, conc)
	defer c.close()
	before := g.delivered()
	m, err := startMeter(g.pid())
	if err != nil {
		return nil, err
	}
	lm, err := startMeter(g.pid())
	if err != nil {
		return nil, err
	}
	t := &tally{}
	el := closedLoop(c, doc, conc, o.deliveryDuration, o.deliveryMax, t)
	r := &deliveryResult{Load: phase{Concurrency: conc}}
	r.Load.Gateway = lm.stop(t.accepted)
	r.Load.finish(t, el)
	r.DeliveredDuringLoad = g.delivered() - before
	r.DeliveriesPerSDuringLoad = float64(r.DeliveredDuringLoad) / el.Seconds()
	drainStart := time.Now()
	n := r.DeliveredDuringLoad
	for n < t.accepted && time.Since(drainStart) < o.drainLimit {
		time.Sleep(20 * time.Millisecond)
		n = g.delivered() - before
	}
	drain := time.Since(drainStart)
	r.DrainS, r.AllDelivered = drain.Seconds(), n >= t.accepted
	r.DeliveriesPerS = float64(n) / (el + drain).Seconds()
	if drain > 0 {
		r.DrainDeliveries = float64(n-r.DeliveredDuringLoad) / drain.Seconds()
	}
	r.Gateway = m.stop(n)
	return r, nil
}
