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
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/gateway/api"
	"github.com/drehscheibe/drehscheibe/gateway/audit"
	"github.com/drehscheibe/drehscheibe/gateway/certs"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/gateway/delivery"
	"github.com/drehscheibe/drehscheibe/gateway/dispatch"
	"github.com/drehscheibe/drehscheibe/gateway/inflight"
	"github.com/drehscheibe/drehscheibe/gateway/intake"
	"github.com/drehscheibe/drehscheibe/gateway/lowprio"
	"github.com/drehscheibe/drehscheibe/gateway/mailbox"
	"github.com/drehscheibe/drehscheibe/gateway/metrics"
	"github.com/drehscheibe/drehscheibe/gateway/retention"
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
	cfg     *config.Config
	log     *zap.Logger
	Catalog *schemas.Catalog
	// validators validate on threads of lower priority (package lowprio).
	validators *lowprio.Pool
	Store      *store.Store
	Metrics    *metrics.Metrics
	audit      *audit.Log
	disp       *dispatch.Dispatcher
	janitor    *retention.Janitor
	http       *http.Server
	certs      *certs.Store // nil without TLS
	xtaCerts   *certs.Store // nil without XTA or with xta.allow_plain_http
	ln         net.Listener
	stopPoll   context.CancelFunc
	bg         sync.WaitGroup // the pollers and the janitor
	// boxes are the message boxes (nil without box targets, readers and XTA).
	boxes *mailbox.Boxes
	// XTA server (nil unless xta.enabled) on a listener of its own.
	XTA     *xtaserver.Server
	xtaHTTP *http.Server
	xtaLn   net.Listener
	// pull polls remote XTA message boxes (nil without xta.pull).
	pull *xtapull.Puller
}

// KnownTargetType reports whether typ is a registered adapter, "external"
// or the gateway's own message box ("box", or its older name "xta-box").
func KnownTargetType(typ string) bool {
	_, ok := delivery.Lookup(typ)
	return ok || typ == ExternalType || mailbox.IsType(typ)
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
	// The error returns set g to nil; close what was opened through gw.
	gw := g
	defer func() {
		if err != nil {
			gw.close()
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
	g.validators, err = lowprio.New(cfg.Schemas.ValidationWorkers, cfg.Schemas.ValidationNice)
	if err != nil {
		log.Warn("validation runs at normal priority", zap.Error(err))
	}
	log.Info("validation workers started", zap.Int("workers", g.validators.Workers), zap.Int("nice", g.validators.Nice))

	router, err := routing.New(cfg.Routes, cfg.Targets)
	if err != nil {
		return nil, err
	}

	targets := make([]dispatch.Target, 0, len(cfg.Targets))
	limits := make(map[string]retention.Target, len(cfg.Targets))
	for _, t := range cfg.Targets {
		dt := dispatch.Target{Name: t.Name, Type: t.Type, Concurrency: t.Concurrency, MaxAttempts: t.MaxAttempts, AckWait: t.AckWait,
			RetryInitial: t.Retry.Initial, RetryMax: t.Retry.Max, MaxAge: t.MaxAge}
		limits[t.Name] = retention.Target{Type: t.Type, MaxAge: t.MaxAge, Grace: 10 * t.AckWait, Box: mailbox.IsType(t.Type)}
		if t.Type != ExternalType && !mailbox.IsType(t.Type) {
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
	so, err := storeOptions(cfg.NATS, log)
	if err != nil {
		closeAdapters(targets)
		return nil, err
	}
	g.Store, err = store.Open(ctx, so)
	if err != nil {
		closeAdapters(targets)
		return nil, err
	}
	if needBoxes(cfg) {
		if g.boxes, err = mailbox.Open(ctx, g.Store, cfg.XTA.InstanceID); err != nil {
			closeAdapters(targets)
			return nil, err
		}
	}
	if u := g.Store.ClientURL(); u != "" {
		log.Info("embedded nats accepts clients", zap.String("url", u))
	}
	g.janitor = &retention.Janitor{
		Store: g.Store, Log: log.Named("janitor"), Obs: g.Metrics,
		PayloadRetention: n.PayloadRetention, Interval: n.JanitorInterval, Targets: limits,
		// Submissions for a target no longer configured; never before the
		// duplicate window has passed (see targets[].max_age).
		Default: retention.Target{MaxAge: max(dispatch.DefaultMaxAge, n.DuplicateWindow), Grace: 10 * time.Minute},
	}

	if g.audit, err = audit.Open(cfg.Log.AuditFile); err != nil {
		return nil, fmt.Errorf("log.audit_file: %w", err)
	}
	var principals []api.Principal
	perms := make(map[string]intake.Permissions, len(cfg.Senders))
	for _, s := range cfg.Senders {
		principals = append(principals, api.Principal{Name: s.Name, Role: api.RoleSender, KeySHA256: s.APIKeySHA256,
			CertSubjectCN: s.ClientCert.SubjectCN, CertSAN: s.ClientCert.SAN, RequireCert: s.RequireClientCert,
			PerSecond: cfg.Server.Limit(s.RateLimit).PerSecond, Burst: cfg.Server.Limit(s.RateLimit).Burst})
		perms[s.Name] = intake.Permissions{Services: s.Allow.Services, Standards: s.Allow.Standards,
			Readers: s.Allow.Readers, MessageTypes: s.Allow.MessageTypes}
	}
	for _, a := range cfg.Admins {
		principals = append(principals, api.Principal{Name: a.Name, Role: api.RoleAdmin, KeySHA256: a.APIKeySHA256,
			CertSubjectCN: a.ClientCert.SubjectCN, CertSAN: a.ClientCert.SAN, RequireCert: a.RequireClientCert,
			PerSecond: cfg.Server.Limit(a.RateLimit).PerSecond, Burst: cfg.Server.Limit(a.RateLimit).Burst})
	}
	for _, rd := range cfg.Readers {
		principals = append(principals, api.Principal{Name: rd.Name, Role: api.RoleReader, Identifiers: rd.Identifiers,
			KeySHA256: rd.APIKeySHA256, CertSubjectCN: rd.ClientCert.SubjectCN, CertSAN: rd.ClientCert.SAN, RequireCert: rd.RequireClientCert,
			PerSecond: cfg.Server.Limit(rd.RateLimit).PerSecond, Burst: cfg.Server.Limit(rd.RateLimit).Burst})
	}
	pipeline := &intake.Pipeline{Catalog: g.Catalog, Router: router, Store: g.Store, Obs: g.Metrics, Permissions: perms, Validators: g.validators}
	// One bound for the bodies of both listeners: memory is the process's.
	inFlight := inflight.New(cfg.Server.MaxInFlight, int64(cfg.Server.MaxInFlightBytes))
	apiSrv := &api.Server{
		Pipeline: pipeline,
		Store:    g.Store, Metrics: g.Metrics, Log: log, Principals: api.NewPrincipals(principals), Audit: g.audit, PublicURL: cfg.Server.PublicURL,
		Limits: api.Limits{MaxBodyBytes: int64(cfg.Server.MaxBodyBytes), MaxAttachments: cfg.Server.MaxAttachments,
			MaxAttachmentBytes: int64(cfg.Server.MaxAttachmentBytes)},
		Ready:    g.Ready,
		Boxes:    g.boxes,
		Targets:  func(name string) bool { _, ok := limits[name]; return ok },
		InFlight: inFlight,
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
	if cfg.XTA.Enabled {
		if err := g.newXTA(ctx, pipeline, router, inFlight); err != nil {
			return nil, err
		}
	}
	for i := range targets {
		if mailbox.IsType(targets[i].Type) {
			targets[i].Adapter = g.boxes.Adapter(targets[i].Name, targets[i].Type)
		}
	}
	if len(cfg.XTA.Pull) > 0 {
		if g.pull, err = xtapull.New(cfg.XTA.Pull, pipeline, g.Metrics, log); err != nil {
			return nil, err
		}
		g.pull.Audit = g.audit
	}
	g.disp = dispatch.New(g.Store, log, g.Metrics, targets)
	return g, nil
}

// needBoxes reports whether the gateway keeps message boxes: for box
// targets, REST readers or the XTA server (whose message id index lives there).
func needBoxes(cfg *config.Config) bool {
	if cfg.XTA.Enabled || len(cfg.Readers) > 0 {
		return true
	}
	for _, t := range cfg.Targets {
		if mailbox.IsType(t.Type) {
			return true
		}
	}
	return false
}

// newXTA builds the XTA server and binds its listener.
func (g *Gateway) newXTA(ctx context.Context, p *intake.Pipeline, r *routing.Router, inFlight *inflight.Limiter) error {
	var err error
	g.XTA, err = xtaserver.New(ctx, xtaserver.Options{
		Config: g.cfg.XTA, Targets: g.cfg.Targets, Pipeline: p, Router: r, Store: g.Store, Log: g.log, Audit: g.audit, Boxes: g.boxes,
		InFlight: inFlight, Observer: g.Metrics,
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
	if g.xtaCerts, err = xtaserver.LoadCerts(g.cfg.XTA); err != nil {
		return err
	}
	g.xtaLn, err = xtaserver.Listen(g.cfg.XTA, g.xtaCerts)
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
	g.bg.Go(func() { g.Metrics.PollQueueDepth(pctx, 5*time.Second, g.gauges) })
	g.bg.Go(func() { g.janitor.Run(pctx) })
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	serve := func(srv *http.Server, ln net.Listener) {
		defer wg.Done()
		run := srv.Serve
		if srv == g.http && g.certs != nil {
			run = func(ln net.Listener) error { return srv.ServeTLS(ln, "", "") }
		}
		if err := run(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
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

// ErrNoTLS is returned by ReloadTLS when no listener has TLS configured.
var ErrNoTLS = errors.New("neither server.tls nor xta.tls is configured; nothing to reload")

// ReloadTLS reads the certificate files of server.tls and xta.tls again:
// new handshakes get the new certificate, open connections keep theirs. A
// listener whose files cannot be read keeps the certificate in use, and the
// error says why; the other listener reloads all the same.
func (g *Gateway) ReloadTLS() error {
	if g.certs == nil && g.xtaCerts == nil {
		return ErrNoTLS
	}
	var errs []error
	for _, l := range []struct {
		key string
		st  *certs.Store
	}{{"server.tls", g.certs}, {"xta.tls", g.xtaCerts}} {
		if l.st == nil {
			continue
		}
		if err := l.st.Reload(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l.key, err))
			continue
		}
		g.log.Info("tls certificate reloaded", zap.String("listener", l.key), zap.String("subject", l.st.Leaf().Subject.String()), zap.Time("expires", l.st.Expires()))
	}
	return errors.Join(errs...)
}

// Ready reports whether the gateway can accept submissions.
func (g *Gateway) Ready(ctx context.Context) error {
	if g.Catalog == nil || len(g.Catalog.Packages()) == 0 {
		return errors.New("no schemas compiled")
	}
	return g.Store.Ready(ctx)
}

// gauges sets the dead letter gauge and returns the queue depth per target
// for drehscheibe_queue_depth.
func (g *Gateway) gauges(ctx context.Context) map[string]float64 {
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
	if n, err := g.Store.CountDeadLetters(ctx); err == nil {
		g.Metrics.DeadLetters.Set(float64(n))
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
	g.bg.Wait()
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
	g.validators.Close()
	if g.Catalog != nil {
		g.Catalog.Close()
	}
	_ = g.audit.Close()
}

// storeOptions turns the nats section into store options, reading the
// password from its environment variable and the TLS files.
func storeOptions(n config.NATS, log *zap.Logger) (o store.Options, err error) {
	o = store.Options{
		Embedded: n.Embedded, DataDir: n.DataDir, Listen: n.Listen, URL: n.URL, SyncAlways: n.SyncAlways,
		Replicas: n.Replicas, DuplicateWindow: n.DuplicateWindow, EventRetention: n.EventRetention,
		CredsFile: n.CredsFile, User: n.User, Log: log.Named("nats"),
	}
	if n.PasswordEnv != "" {
		if o.Password = os.Getenv(n.PasswordEnv); o.Password == "" {
			return o, fmt.Errorf("nats.password_env: the environment variable %s is not set or empty", n.PasswordEnv)
		}
	}
	if o.EncryptionKey, err = encryptionKey(n); err != nil {
		return o, err
	}
	o.Cipher = n.EncryptionCipher
	if n.TLS.Enabled() {
		tc, err := store.TLSConfig(n.TLS.CAFile, n.TLS.CertFile, n.TLS.KeyFile)
		if err != nil {
			return o, fmt.Errorf("nats.tls: %w", err)
		}
		o.TLS = tc
	}
	return o, nil
}

// minKeyLength is the shortest encryption key accepted: 32 characters, e.g.
// 128 bits as hex; "openssl rand -hex 32" gives 64.
const minKeyLength = 32

// encryptionKey reads the key for encryption at rest from its file or
// environment variable; "" when none is configured.
func encryptionKey(n config.NATS) (string, error) {
	var key, from string
	switch {
	case n.EncryptionKeyFile != "":
		b, err := os.ReadFile(n.EncryptionKeyFile)
		if err != nil {
			return "", fmt.Errorf("nats.encryption_key_file: %w", err)
		}
		key, from = strings.TrimSpace(string(b)), "nats.encryption_key_file "+n.EncryptionKeyFile
	case n.EncryptionKeyEnv != "":
		key, from = strings.TrimSpace(os.Getenv(n.EncryptionKeyEnv)), "nats.encryption_key_env: the environment variable "+n.EncryptionKeyEnv
	default:
		return "", nil
	}
	if len(key) < minKeyLength {
		return "", fmt.Errorf("%s: the key has %d characters, fewer than %d (make one with: openssl rand -hex 32)", from, len(key), minKeyLength)
	}
	return key, nil
}

func closeAdapters(ts []dispatch.Target) {
	for _, t := range ts {
		if t.Adapter != nil {
			_ = t.Adapter.Close()
		}
	}
}
