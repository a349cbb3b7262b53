// Package certs holds the TLS certificate of a listener (REST or XTA) and reloads
// it from its files on demand (the gateway does so on SIGHUP) without
// dropping a connection: every new handshake takes the certificate loaded
// last, connections already established keep theirs.
//
// The configuration is modern: TLS 1.2 or 1.3 only, and for TLS 1.2 only
// ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 (TLS 1.3 suites are
// all of that kind), as Mozilla's "intermediate" profile recommends.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// Files names the PEM files of the listener.
type Files struct {
	// Cert holds the certificate chain, leaf first; Key its private key.
	Cert, Key string
	// ClientCA, if set, holds the CA certificates that client certificates
	// are verified against. A client need not present one; one it presents
	// must verify. Which identity a certificate stands for is decided by
	// the caller.
	ClientCA string
	// RequireClientCert refuses a handshake without a client certificate
	// that verifies against ClientCA (the XTA listener); ClientCA is then
	// required.
	RequireClientCert bool
	// Protocols are the ALPN protocols offered; empty: HTTP/2 and HTTP/1.1.
	Protocols []string
}

// CipherSuites are the TLS 1.2 cipher suites offered.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Store serves the certificate loaded last. It is safe for concurrent use.
type Store struct {
	files Files
	cur   atomic.Pointer[tls.Config]
}

// Load reads the files once; an error names the file at fault.
func Load(f Files) (*Store, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, errors.New("certs: both a certificate and a key file are required")
	}
	if f.RequireClientCert && f.ClientCA == "" {
		return nil, errors.New("certs: a required client certificate needs a client CA file")
	}
	s := &Store{files: f}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads the files again. If they cannot be read or do not fit
// together, it returns the error and keeps serving what it had.
func (s *Store) Reload() error {
	cert, err := tls.LoadX509KeyPair(s.files.Cert, s.files.Key)
	if err != nil {
		return fmt.Errorf("certs: %s, %s: %w", s.files.Cert, s.files.Key, err)
	}
	cfg := s.base()
	cfg.Certificates = []tls.Certificate{cert}
	if s.files.ClientCA != "" {
		pem, err := os.ReadFile(s.files.ClientCA)
		if err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("certs: %s holds no PEM certificate", s.files.ClientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if s.files.RequireClientCert {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	s.cur.Store(cfg)
	return nil
}

// Leaf returns the certificate served now, for logging its subject and expiry.
func (s *Store) Leaf() *x509.Certificate {
	return s.cur.Load().Certificates[0].Leaf
}

// Expires returns when the certificate served now expires.
func (s *Store) Expires() time.Time {
	return s.Leaf().NotAfter
}

// TLSConfig returns the configuration for the listener: each handshake asks
// the store for the configuration loaded last.
func (s *Store) TLSConfig() *tls.Config {
	cfg := s.base()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return s.cur.Load(), nil
	}
	return cfg
}

func (s *Store) base() *tls.Config {
	protos := s.files.Protocols
	if len(protos) == 0 {
		protos = []string{"h2", "http/1.1"}
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: CipherSuites,
		NextProtos:   protos,
	}
}
