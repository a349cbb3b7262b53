package store

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pki is a throwaway CA with one server and one client certificate, as PEM files.
type pki struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "drehscheibe test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	p := pki{caFile: write("ca.pem", "CERTIFICATE", caDER)}
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		kder, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	p.serverCert, p.serverKey = leaf(2, "nats", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf(3, "gateway", x509.ExtKeyUsageClientAuth)
	return p
}

// runServer starts a NATS server with JetStream on loopback; port 0 picks one.
func runServer(t *testing.T, dir string, port int, edit func(*server.Options)) *server.Server {
	t.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true}
	if port == 0 {
		o.Port = -1
	}
	if edit != nil {
		edit(o)
	}
	srv, err := server.NewServer(o)
	require.NoError(t, err)
	srv.Start()
	require.True(t, srv.ReadyForConnections(10*time.Second), "nats server not ready")
	t.Cleanup(srv.Shutdown)
	return srv
}

func TestExternalServerWithTLSClientCertificateAndPassword(t *testing.T) {
	p := newPKI(t)
	serverTLS, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: p.serverCert, KeyFile: p.serverKey, CaFile: p.caFile, Verify: true,
	})
	require.NoError(t, err)
	srv := runServer(t, t.TempDir(), 0, func(o *server.Options) {
		o.TLS, o.TLSVerify, o.TLSConfig = true, true, serverTLS
		o.Username, o.Password = "drehscheibe", "s3cr3t"
	})
	url := "tls://" + srv.Addr().String()
	clientTLS, err := TLSConfig(p.caFile, p.clientCert, p.clientKey)
	require.NoError(t, err)
	base := Options{URL: url, User: "drehscheibe", Password: "s3cr3t", TLS: clientTLS, DuplicateWindow: time.Hour, EventRetention: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	s, err := Open(ctx, base)
	require.NoError(t, err)
	_, err = s.Put(ctx, &Submission{Record: record("tls-1"), Message: []byte("<a/>")})
	require.NoError(t, err)
	e, err := s.Get(ctx, "tls-1")
	require.NoError(t, err)
	assert.Equal(t, "portal", e.Record.Sender)
	s.Close()

	wrong := base
	wrong.Password = "guessed"
	_, err = Open(ctx, wrong)
	assert.ErrorContains(t, err, "Authorization Violation")

	noCert := base
	noCert.TLS, err = TLSConfig(p.caFile, "", "")
	require.NoError(t, err)
	_, err = Open(ctx, noCert)
	assert.Error(t, err, "the server requires a client certificate")

	_, err = TLSConfig(p.serverKey, "", "")
	assert.ErrorContains(t, err, "no PEM certificate")
	_, err = TLSConfig("", p.clientCert, p.serverKey)
	assert.ErrorContains(t, err, "client certificate")
}

// TestStoppedServerRefusesThenRecovers stops the external server under the
// store: a submission fails with ErrUnavailable (the intake answers 503), is
// not stored later behind the caller's back, and once the server is back on
// the same port the store reconnects by itself.
func TestStoppedServerRefusesThenRecovers(t *testing.T) {
	dir := t.TempDir()
	srv := runServer(t, dir, 0, nil)
	port := srv.Addr().(*net.TCPAddr).Port
	ctx := context.Background()
	s, err := Open(ctx, Options{URL: srv.ClientURL(), DuplicateWindow: time.Hour, EventRetention: time.Hour})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Put(ctx, &Submission{Record: record("before"), Message: []byte("<a/>")})
	require.NoError(t, err)

	srv.Shutdown()
	srv.WaitForShutdown()
	require.Eventually(t, func() bool { return !s.Conn().IsConnected() }, 10*time.Second, 10*time.Millisecond)
	assert.Error(t, s.Ready(ctx))
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = s.Put(pctx, &Submission{Record: record("during"), Message: []byte("<a/>")})
	cancel()
	require.ErrorIs(t, err, ErrUnavailable)

	runServer(t, dir, port, nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = s.Put(pctx, &Submission{Record: record("after"), Message: []byte("<b/>")})
		cancel()
		if err == nil {
			break
		}
		require.ErrorIs(t, err, ErrUnavailable)
		require.True(t, time.Now().Before(deadline), "store did not recover within 30s: %v", err)
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, s.Ready(ctx))
	for id, want := range map[string]error{"before": nil, "during": ErrNotFound, "after": nil} {
		_, err := s.Get(ctx, id)
		if want == nil {
			assert.NoError(t, err, id)
		} else {
			assert.ErrorIs(t, err, want, id)
		}
	}
}
