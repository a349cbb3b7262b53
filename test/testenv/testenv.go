// Package testenv holds the helpers that tests across the repository share:
// where the repository and ../shared are, a log sink tests can read,
// multipart and JSON-lines helpers and generated large messages. Only tests
// and the load generator (test/load) import it. (Package schemas keeps its
// own, since it imports nothing of ours.)
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// RepoRoot is the directory holding go.mod, found upwards from the test's
// working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// FindRepoRoot is RepoRoot for code without a test at hand (TestMain,
// the load generator).
func FindRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		dir = parent
	}
}

// Shared is a path below ../shared beside the repository; the test is
// skipped, saying so, when it is not there (CI always has it).
func Shared(t testing.TB, sub ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{RepoRoot(t), "..", "shared"}, sub...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("../shared/%s not present: %v", filepath.Join(sub...), err)
	}
	return p
}

// LogBuffer collects log lines written from several goroutines.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Example returns the content of examples/demo/<name>, one of the demo
// standard's messages (antrag-valid.xml, antrag-test.xml,
// antrag-invalid.xml).
func Example(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(RepoRoot(t), "examples", "demo", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
