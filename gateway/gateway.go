// Package gateway assembles drehscheibe from its parts: the schema catalog,
// the router, the JetStream store, the delivery dispatcher, the REST API and,
// when configured, the XTA server and the XTA pull intake.
// cmd/drehscheibe and the end-to-end tests start it the same way.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/gateway/api"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/gateway/delivery"
	"github.com/drehscheibe/drehscheibe/gateway/dispatch"
	"github.com/drehscheibe/drehscheibe/gateway/intake"
	"github.com/drehscheibe/drehscheibe/gateway/metrics"
	"github.com/drehscheibe/drehscheibe/gateway/routing"
	"github.com/drehscheibe/drehscheibe/gateway/store"
	"github.com/drehscheibe/drehscheibe/gateway/xtapull"
	"github.com/drehscheibe/drehscheibe/gateway/xtaserver"
	"github.com/drehscheibe/drehscheibe/schemas"
)

// ExternalType is the target type for adapters that run outside the gateway
// and consume the target's JetStream consumer themselves (docs/adapters.md).
const ExternalType = "external"

// Gateway is a running drehscheibe.
type Gateway struct {
	cfg      *config.Config
	log      *zap.Logger
	Catalog  *schemas.Catalog
	Store    *store.Store
	Metrics  *metrics.Metrics
	disp     *dispatch.Dispatcher
	http     *http.Server
	ln       net.Listener
	stopPoll context.CancelFunc
	// XTA server (nil unless xta.enabled) on a listener of its own.
	XTA     *xtaserver.Server
	xtaHTTP *http.Server
	xtaLn   net.Listener
	// pull polls remote XTA message boxes (nil without xta.pull).
	pull *xtapull.Puller
}

// KnownTargetType reports whether typ is a registered adapter, "external"
// or the gateway's own XTA message box "xta-box".
func KnownTargetType(typ string) bool {
	_, ok := delivery.Lookup(typ)
	return ok || typ == ExternalType || typ == xtaserver.BoxType
}

// New builds every part and binds the listener, but delivers and serves
// nothing until Start. Everything it opened is closed again if it fails.
func New(ctx context.Context, cfg *config.Config, log *zap.Logger) (g *Gateway, err error) {
	if err := cfg.ValidateTargetTypes(KnownTargetType); err != nil {
		return nil, err
	}
	g = &Gateway{cfg: cfg, log: log, Metrics: metrics.New()}
	defer func() {
		if err != nil {
			g.close()
		}
	}()

	start := time.Now()
	if g.Catalog, err = schemas.Load(cfg.Schemas.Dirs...); err != nil {
		return nil, fmt.Errorf("schemas: %w", err)
	}
	log.Info("schemas compiled", zap.Int("namespaces", len(g.Catalog.Packages())), zap.Duration("took", time.Since(start)))

	router, err := routing.New(cfg.Routes, cfg.Targets)
	if err != nil {
		return nil, err
	}

	targets := make([]dispatch.Target, 0, len(cfg.Targets))
	for _, t := range cfg.Targets {
		dt := dispatch.Target{Name: t.Name, Type: t.Type, Concurrency: t.Concurrency, MaxAttempts: t.MaxAttempts, AckWait: t.AckWait}
		if t.Type != ExternalType && t.Type != xtaserver.BoxType {
			f, _ := delivery.Lookup(t.Type)
			a, err := f(t.Name, t.DecodeOptions)
			if err != nil {
				closeAdapters(targets)
				return nil, t.OptionsError(err)
			}
			dt.Adapter = a
		}
		targets = append(targets, dt)
	}

	n := cfg.NATS
	g.Store, err = store.Open(ctx, store.Options{
		Embedded: n.Embedded, DataDir: n.DataDir, Listen: n.Listen, URL: n.URL, SyncAlways: n.SyncAlways,
		Replicas: n.Replicas, DuplicateWindow: n.DuplicateWindow, MaxAge: n.MaxAge,
	})
	if err != nil {
		closeAdapters(targets)
		return nil, err
	}
	if u := g.Store.ClientURL(); u != "" {
		log.Info("embedded nats accepts clients", zap.String("url", u))
	}

	senders := make(map[string]string, len(cfg.Senders))
	for _, s := range cfg.Senders {
		senders[s.APIKeySHA256] = s.Name
	}
	pipeline := &intake.Pipeline{Catalog: g.Catalog, Router: router, Store: g.Store, Obs: g.Metrics}
	apiSrv := &api.Server{
		Pipeline: pipeline,
		Store:    g.Store, Metrics: g.Metrics, Log: log, Senders: senders, PublicURL: cfg.Server.PublicURL,
		Limits: api.Limits{MaxBodyBytes: int64(cfg.Server.MaxBodyBytes), MaxAttachments: cfg.Server.MaxAttachments},
		Ready:  g.Ready,
	}
	g.http = &http.Server{
		Handler:           apiSrv.Handler(),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	if g.ln, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
		return nil, fmt.Errorf("server.listen: %w", err)
	}
	if cfg.XTA.Enabled {
		if err := g.newXTA(ctx, pipeline, router); err != nil {
			return nil, err
		}
		for i := range targets {
			if targets[i].Type == xtaserver.BoxType {
				targets[i].Adapter = g.XTA.Box(targets[i].Name)
			}
		}
	}
	if len(cfg.XTA.Pull) > 0 {
		if g.pull, err = xtapull.New(cfg.XTA.Pull, pipeline, g.Metrics, log); err != nil {
			return nil, err
		}
	}
	g.disp = dispatch.New(g.Store, log, g.Metrics, targets)
	return g, nil
}

// newXTA builds the XTA server and binds its listener.
func (g *Gateway) newXTA(ctx context.Context, p *intake.Pipeline, r *routing.Router) error {
	var err error
	g.XTA, err = xtaserver.New(ctx, xtaserver.Options{
		Config: g.cfg.XTA, Targets: g.cfg.Targets, Pipeline: p, Router: r, Store: g.Store, Log: g.log,
	})
	if err != nil {
		return err
	}
	s := g.cfg.Server
	g.xtaHTTP = &http.Server{
		Handler:           g.XTA,
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		ReadTimeout:       s.ReadTimeout,
		WriteTimeout:      s.WriteTimeout,
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zap.NewStdLog(g.log.Named("xta-http")),
	}
	g.xtaLn, err = xtaserver.Listen(g.cfg.XTA)
	return err
}

// XTAAddr is the address the XTA server listens on ("" if XTA is off).
func (g *Gateway) XTAAddr() string {
	if g.xtaLn == nil {
		return ""
	}
	return g.xtaLn.Addr().String()
}

// Addr is the address the API listens on.
func (g *Gateway) Addr() string { return g.ln.Addr().String() }

// Start starts delivering and serving. Serving errors go to the returned channel.
func (g *Gateway) Start(ctx context.Context) (<-chan error, error) {
	if err := g.disp.Start(ctx); err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(context.Background())
	g.stopPoll = cancel
	go g.Metrics.PollQueueDepth(pctx, 5*time.Second, g.queueDepth)
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	serve := func(srv *http.Server, ln net.Listener) {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}
	wg.Add(1)
	go serve(g.http, g.ln)
	if g.xtaHTTP != nil {
		wg.Add(1)
		go serve(g.xtaHTTP, g.xtaLn)
		g.log.Info("xta server ready", zap.String("listen", g.XTAAddr()), zap.Bool("tls", !g.cfg.XTA.AllowPlainHTTP))
	}
	go func() { wg.Wait(); close(errc) }()
	if g.pull != nil {
		g.pull.Start()
	}
	g.log.Info("drehscheibe ready", zap.String("listen", g.Addr()))
	return errc, nil
}

// Ready reports whether the gateway can accept submissions.
func (g *Gateway) Ready(ctx context.Context) error {
	if g.Catalog == nil || len(g.Catalog.Packages()) == 0 {
		return errors.New("no schemas compiled")
	}
	return g.Store.Ready(ctx)
}

func (g *Gateway) queueDepth(ctx context.Context) map[string]float64 {
	out := map[string]float64{}
	for _, t := range g.cfg.Targets {
		c, err := g.Store.JetStream().Consumer(ctx, store.SubmissionsStream, dispatch.ConsumerName(t.Name))
		if err != nil {
			continue
		}
		info, err := c.Info(ctx)
		if err != nil {
			continue
		}
		out[t.Name] = float64(info.NumPending) + float64(info.NumAckPending)
	}
	return out
}

// Shutdown stops accepting requests, lets requests and deliveries in flight
// finish (bounded by ctx), and closes the store.
func (g *Gateway) Shutdown(ctx context.Context) error {
	err := g.http.Shutdown(ctx)
	if g.xtaHTTP != nil {
		err = errors.Join(err, g.xtaHTTP.Shutdown(ctx))
	}
	if g.pull != nil {
		g.pull.Stop(ctx)
	}
	g.disp.Stop(ctx)
	if g.stopPoll != nil {
		g.stopPoll()
	}
	g.close()
	return err
}

func (g *Gateway) close() {
	if g.ln != nil {
		_ = g.ln.Close()
	}
	if g.xtaLn != nil {
		_ = g.xtaLn.Close()
	}
	if g.Store != nil {
		g.Store.Close()
	}
	if g.Catalog != nil {
		g.Catalog.Close()
	}
}

func closeAdapters(ts []dispatch.Target) {
	for _, t := range ts {
		if t.Adapter != nil {
			_ = t.Adapter.Close()
		}
	}
}
