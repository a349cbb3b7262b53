package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 with the
// common name cn to certFile and keyFile and returns it.
func writeSelfSigned(t testing.TB, cn, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	// Write to a temporary name and rename, as an operator's tooling should,
	// so that a reload never sees half a file.
	for file, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: kder}} {
		require.NoError(t, os.WriteFile(file+".tmp", pem.EncodeToMemory(block), 0o600))
		require.NoError(t, os.Rename(file+".tmp", file))
	}
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

// serve runs an HTTPS server with the store's configuration on loopback.
func serve(t *testing.T, s *Store) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }),
		TLSConfig: s.TLSConfig(),
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + ln.Addr().String()
}

func TestReloadServesTheNewCertificateAndKeepsOpenConnections(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	a := writeSelfSigned(t, "cert-a", certFile, keyFile)
	s, err := Load(Files{Cert: certFile, Key: keyFile})
	require.NoError(t, err)
	url := serve(t, s)

	old := testenv.TLSClient(a)
	cn, _ := testenv.ServerCN(t, old, url)
	require.Equal(t, "cert-a", cn)

	b := writeSelfSigned(t, "cert-b", certFile, keyFile)
	require.NoError(t, s.Reload())
	assert.Equal(t, "cert-b", s.Leaf().Subject.CommonName)
	assert.Equal(t, b.NotAfter.Unix(), s.Expires().Unix())

	cn, _ = testenv.ServerCN(t, testenv.TLSClient(b), url)
	assert.Equal(t, "cert-b", cn, "a new handshake gets the new certificate")
	cn, reused := testenv.ServerCN(t, old, url)
	assert.True(t, reused, "the keep-alive connection survives the reload")
	assert.Equal(t, "cert-a", cn, "on the connection established before the reload")

	// A client that trusts only the old certificate fails on a new connection.
	_, err = testenv.TLSClient(a).Get(url)
	var verr *tls.CertificateVerificationError
	assert.True(t, errors.As(err, &verr), "%v", err)

	// Broken files are reported and the certificate in use stays.
	require.NoError(t, os.WriteFile(keyFile, []byte("not a key"), 0o600))
	assert.ErrorContains(t, s.Reload(), keyFile)
	cn, _ = testenv.ServerCN(t, testenv.TLSClient(b), url)
	assert.Equal(t, "cert-b", cn)
}

func TestModernDefaults(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	a := writeSelfSigned(t, "cert-a", certFile, keyFile)
	s, err := Load(Files{Cert: certFile, Key: keyFile})
	require.NoError(t, err)
	addr := serve(t, s)[len("https://"):]
	pool := x509.NewCertPool()
	pool.AddCert(a)
	dial := func(cfg *tls.Config) (tls.ConnectionState, error) {
		cfg.RootCAs = pool
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer conn.Close()
		return conn.ConnectionState(), nil
	}
	st, err := dial(&tls.Config{NextProtos: []string{"h2", "http/1.1"}})
	require.NoError(t, err)
	assert.Equal(t, uint16(tls.VersionTLS13), st.Version)
	assert.Equal(t, "h2", st.NegotiatedProtocol)

	for _, tc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}},
		{"TLS 1.2 with CBC", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}},
		{"TLS 1.2 with RSA key exchange", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}}},
	} {
		_, err := dial(tc.cfg)
		assert.Error(t, err, tc.name)
	}
	st, err = dial(&tls.Config{MaxVersion: tls.VersionTLS12})
	require.NoError(t, err)
	assert.Contains(t, CipherSuites, st.CipherSuite)
}

func TestClientCA(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeSelfSigned(t, "server", certFile, keyFile)
	caFile, caKey := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	writeSelfSigned(t, "client-ca", caFile, caKey)
	s, err := Load(Files{Cert: certFile, Key: keyFile, ClientCA: caFile})
	require.NoError(t, err)
	cfg := s.TLSConfig().GetConfigForClient
	got, err := cfg(nil)
	require.NoError(t, err)
	assert.Equal(t, tls.VerifyClientCertIfGiven, got.ClientAuth)
	assert.NotNil(t, got.ClientCAs)

	require.NoError(t, os.WriteFile(caFile, []byte("no pem here"), 0o600))
	assert.ErrorContains(t, s.Reload(), "holds no PEM certificate")
	_, err = Load(Files{Cert: certFile})
	assert.Error(t, err)
}
