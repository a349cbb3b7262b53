package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// ensureTimeout bounds how long Open keeps trying to create the streams while
// a cluster is still electing its leaders.
const ensureTimeout = 60 * time.Second

// connectOptions are the client options for the gateway's connection.
//
// A submission must never be answered 202 unless JetStream stored it, and
// never be half-stored. Therefore nothing is buffered while the connection is
// down (ReconnectBufSize -1): a publish fails at once and intake answers 503,
// instead of the publish being sent later, after the client was told it
// failed. The connection itself reconnects forever.
func (o Options) connectOptions(log *zap.Logger) []nats.Option {
	opts := []nats.Option{
		nats.Name("drehscheibe"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, 2*time.Second),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			log.Warn("nats disconnected; reconnecting", zap.Error(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", zap.String("server", nc.ConnectedUrlRedacted()))
		}),
		nats.ClosedHandler(func(*nats.Conn) { log.Info("nats connection closed") }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn("nats asynchronous error", zap.Error(err))
		}),
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.TLS != nil {
		opts = append(opts, nats.Secure(o.TLS.Clone()))
	}
	return opts
}

// TLSConfig builds the client TLS configuration from PEM files: caFile, if
// set, replaces the system roots; certFile and keyFile, if set, are the
// client certificate. Errors name the file that failed.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := loadCAs(caFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s / key %s: %w", certFile, keyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// ensureRetrying creates the streams, retrying while the servers are not
// ready yet (a cluster still electing its meta leader, a server starting).
func (s *Store) ensureRetrying(ctx context.Context) error {
	deadline := time.Now().Add(ensureTimeout)
	wait := 250 * time.Millisecond
	for {
		err := s.ensure(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		s.log.Info("jetstream not ready; retrying", zap.Error(err), zap.Duration("in", wait))
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 4*time.Second)
	}
}

// loadCAs reads PEM certificates into a pool.
func loadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ca file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca file %s: no PEM certificate in it", file)
	}
	return pool, nil
}
