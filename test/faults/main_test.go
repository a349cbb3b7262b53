// Package faults runs the real drehscheibe binary through crashes, outages
// and restarts and checks what a user would notice: every submission that
// was answered 202 is delivered, once, byte for byte; nothing is half-stored.
//
// TestMain builds the binary (and, for the cluster test, nats-server from the
// module cache) into a temporary directory. Every server listens on
// 127.0.0.1 only. The slow tests skip themselves under -short.
package faults

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/drehscheibe/drehscheibe/test/testenv"
)

var (
	// binDir holds the binaries built for this run.
	binDir string
	// gatewayBin is the drehscheibe binary under test.
	gatewayBin string
	// natsOnce builds nats-server once, on first use.
	natsOnce sync.Once
	natsBin  string
	natsErr  error
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run() // every test here skips itself; no binary needed
	}
	var err error
	binDir, err = os.MkdirTemp("", "drehscheibe-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(binDir)
	gatewayBin = filepath.Join(binDir, "drehscheibe")
	if err := goBuild(gatewayBin, "./cmd/drehscheibe"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// natsServerBin builds nats-server from the version in go.mod.
func natsServerBin(t *testing.T) string {
	t.Helper()
	natsOnce.Do(func() {
		natsBin = filepath.Join(binDir, "nats-server")
		natsErr = goBuild(natsBin, "github.com/nats-io/nats-server/v2")
	})
	if natsErr != nil {
		t.Fatal(natsErr)
	}
	return natsBin
}

// goBuild builds pkg (relative to the module root, or an import path) to out.
func goBuild(out, pkg string) error {
	root, err := testenv.FindRepoRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}
