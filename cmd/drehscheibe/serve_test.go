package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// lockedBuffer is the stderr of a serve running in a goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// selfSigned writes a certificate for 127.0.0.1 named cn and its key.
func selfSigned(t *testing.T, cn, certFile, keyFile string) *x509.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

// TestServeReloadsTLSOnSIGHUP runs `drehscheibe serve` with TLS, swaps the
// certificate files and sends the process SIGHUP: new handshakes get the
// new certificate while a keep-alive connection opened before goes on.
func TestServeReloadsTLSOnSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole gateway")
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	a := selfSigned(t, "cert-a", certFile, keyFile)
	cfg := filepath.Join(dir, "drehscheibe.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`
server:
  listen: 127.0.0.1:0
  tls: {cert_file: %q, key_file: %q}
nats:
  data_dir: %q
schemas:
  dirs: [%q]
`, certFile, keyFile, filepath.Join(dir, "nats"), filepath.Join(root(t), "schemas", "demo"))), 0o600))

	stderr := &lockedBuffer{}
	done := make(chan int, 1)
	go func() { done <- run([]string{"serve", "--config", cfg}, io.Discard, stderr) }()
	var addr string
	require.Eventually(t, func() bool {
		m := regexp.MustCompile(`"msg":"drehscheibe ready".*"listen":"([^"]+)"`).FindStringSubmatch(stderr.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	}, 60*time.Second, 20*time.Millisecond, "serve did not get ready: %s", stderr)
	// serve runs two scheduler slots and one validation worker per core.
	assert.Regexp(t, fmt.Sprintf(`"msg":"go runtime".*"gomaxprocs":%d,`, serveProcs(os.Getenv("GOMAXPROCS"), defaultProcs)), stderr.String())
	assert.Regexp(t, fmt.Sprintf(`"msg":"validation workers started".*"workers":%d,"nice":10`, defaultProcs), stderr.String())
	stopped := false
	defer func() {
		if !stopped {
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
			<-done
		}
	}()

	url := "https://" + addr + "/healthz"
	get := func(c *http.Client) (cn string, reused bool) { return testenv.ServerCN(t, c, url) }
	old := testenv.TLSClient(a)
	cn, _ := get(old)
	require.Equal(t, "cert-a", cn)

	b := selfSigned(t, "cert-b", certFile, keyFile)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`"msg":"tls certificate reloaded".*CN=cert-b`).MatchString(stderr.String())
	}, 10*time.Second, 10*time.Millisecond, "no reload logged: %s", stderr)
	cn, _ = get(testenv.TLSClient(b))
	assert.Equal(t, "cert-b", cn, "a new handshake gets the new certificate")
	cn, reused := get(old)
	assert.True(t, reused, "the keep-alive connection survives the reload")
	assert.Equal(t, "cert-a", cn)

	stopped = true
	stopServe(t, done, stderr)
}

// stopServe sends the process SIGTERM and waits for the serve running in a
// goroutine (its exit code on done) to stop with exitOK.
func stopServe(t *testing.T, done <-chan int, stderr *lockedBuffer) {
	t.Helper()
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case code := <-done:
		require.Equal(t, exitOK, code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}

// TestServeProcs checks serve's GOMAXPROCS: twice the default, unless the
// operator set GOMAXPROCS (which the runtime has already applied).
func TestServeProcs(t *testing.T) {
	assert.Equal(t, 4, serveProcs("", 2))
	assert.Equal(t, 2, serveProcs("2", 2))
	assert.Equal(t, 16, serveProcs("", 8))
}

// TestServeWritesDiagnosis runs serve with --cpuprofile and --trace: both
// files are complete when serve stops on SIGTERM, and a path that cannot be
// created is refused before the gateway starts.
func TestServeWritesDiagnosis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole gateway")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "drehscheibe.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`
server:
  listen: 127.0.0.1:0
nats:
  data_dir: %q
schemas:
  dirs: [%q]
`, filepath.Join(dir, "nats"), filepath.Join(root(t), "schemas", "demo"))), 0o600))

	stderr := &lockedBuffer{}
	code := run([]string{"serve", "--config", cfg, "--trace", filepath.Join(dir, "missing", "trace.out")}, io.Discard, stderr)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr.String(), "drehscheibe: --trace: open "+filepath.Join(dir, "missing", "trace.out"))
	assert.NotContains(t, stderr.String(), "drehscheibe ready")

	profile, traceOut := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "trace.out")
	stderr = &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"serve", "--config", cfg, "--cpuprofile", profile, "--trace", traceOut}, io.Discard, stderr)
	}()
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`"msg":"drehscheibe ready"`).MatchString(stderr.String())
	}, 60*time.Second, 20*time.Millisecond, "serve did not get ready: %s", stderr)
	stopServe(t, done, stderr)
	p, err := os.ReadFile(profile)
	require.NoError(t, err)
	require.Greater(t, len(p), 100, "the profile was written")
	assert.Equal(t, []byte{0x1f, 0x8b}, p[:2], "a pprof profile is gzip-compressed protobuf")
	tr, err := os.ReadFile(traceOut)
	require.NoError(t, err)
	assert.Regexp(t, `^go 1\.\d+ trace`, string(tr[:16]), "an execution trace starts with its header")
	assert.Greater(t, len(tr), 1000, "the trace holds the start of the gateway")
}
