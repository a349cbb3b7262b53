// Package gateway assembles drehscheibe from its parts: the schema catalog,
// the router, the JetStream store, the delivery dispatcher and the REST API.
// cmd/drehscheibe and the end-to-end tests start it the same way.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/gateway/api"
	"github.com/drehscheibe/drehscheibe/gateway/certs"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/gateway/delivery"
	"github.com/drehscheibe/drehscheibe/gateway/dispatch"
	"github.com/drehscheibe/drehscheibe/gateway/intake"
	"github.com/drehscheibe/drehscheibe/gateway/metrics"
	"github.com/drehscheibe/drehscheibe/gateway/routing"
	"github.com/drehscheibe/drehscheibe/gateway/store"
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
	certs    *certs.Store // nil without TLS
	ln       net.Listener
	stopPoll context.CancelFunc
}

// KnownTargetType reports whether typ is a registered adapter or "external".
func KnownTargetType(typ string) bool {
	_, ok := delivery.Lookup(typ)
	return ok || typ == ExternalType
}

// XMLLimits returns the validator's limits of the limits section.
func XMLLimits(l config.Limits) schemas.Limits {
	return schemas.Limits{
		MaxDepth: l.MaxXMLDepth, MaxAttributes: l.MaxXMLAttributes,
		MaxAttributeBytes: int(l.MaxXMLAttributeBytes), MaxNamespaces: l.MaxXMLNamespaces,
	}
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
	if err = g.Catalog.SetLimits(XMLLimits(cfg.Limits)); err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}

	router, err := routing.New(cfg.Routes, cfg.Targets)
	if err != nil {
		return nil, err
	}

	targets := make([]dispatch.Target, 0, len(cfg.Targets))
	for _, t := range cfg.Targets {
		dt := dispatch.Target{Name: t.Name, Type: t.Type, Concurrency: t.Concurrency, MaxAttempts: t.MaxAttempts, AckWait: t.AckWait}
		if t.Type != ExternalType {
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
	g.disp = dispatch.New(g.Store, log, g.Metrics, targets)

	senders := make(map[string]string, len(cfg.Senders))
	for _, s := range cfg.Senders {
		senders[s.APIKeySHA256] = s.Name
	}
	apiSrv := &api.Server{
		Pipeline: &intake.Pipeline{Catalog: g.Catalog, Router: router, Store: g.Store, Obs: g.Metrics},
		Store:    g.Store, Metrics: g.Metrics, Log: log, Senders: senders, PublicURL: cfg.Server.PublicURL,
		Limits: api.Limits{MaxBodyBytes: int64(cfg.Server.MaxBodyBytes), MaxAttachments: cfg.Server.MaxAttachments,
			MaxAttachmentBytes: int64(cfg.Server.MaxAttachmentBytes)},
		Ready: g.Ready,
	}
	if t := cfg.Server.TLS; t.CertFile != "" {
		if g.certs, err = certs.Load(certs.Files{Cert: t.CertFile, Key: t.KeyFile, ClientCA: t.ClientCAFile}); err != nil {
			return nil, fmt.Errorf("server.tls: %w", err)
		}
		log.Info("tls certificate loaded", zap.String("subject", g.certs.Leaf().Subject.String()), zap.Time("expires", g.certs.Expires()))
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
	if g.certs != nil {
		g.http.TLSConfig = g.certs.TLSConfig()
	}
	if g.ln, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
		return nil, fmt.Errorf("server.listen: %w", err)
	}
	return g, nil
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
	errc := make(chan error, 1)
	serve := g.http.Serve
	if g.certs != nil {
		serve = func(ln net.Listener) error { return g.http.ServeTLS(ln, "", "") }
	}
	go func() {
		if err := serve(g.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
		close(errc)
	}()
	g.log.Info("drehscheibe ready", zap.String("listen", g.Addr()))
	return errc, nil
}

// ErrNoTLS is returned by ReloadTLS when the listener has no TLS configured.
var ErrNoTLS = errors.New("server.tls is not configured; nothing to reload")

// ReloadTLS reads the certificate files of server.tls again: new handshakes
// get the new certificate, open connections keep theirs. If the files cannot
// be read, the certificate in use stays and the error says why.
func (g *Gateway) ReloadTLS() error {
	if g.certs == nil {
		return ErrNoTLS
	}
	if err := g.certs.Reload(); err != nil {
		return fmt.Errorf("server.tls: %w", err)
	}
	g.log.Info("tls certificate reloaded", zap.String("subject", g.certs.Leaf().Subject.String()), zap.Time("expires", g.certs.Expires()))
	return nil
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
