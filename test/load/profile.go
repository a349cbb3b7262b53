package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// profileTopN is how many functions profileTop keeps.
const profileTopN = 12

// profileTop reads the CPU profile at path with go tool pprof and returns
// the path relative to root and what it shows: the share of the samples
// under each entry point of profileParts (cumulative), then the profile's
// duration and total samples and its top functions by CPU of their own
// ("flat"). A missing or unreadable profile gives the reason as its only
// line.
func profileTop(goBin, root, path string) (rel string, top []string) {
	rel = path
	if r, err := filepath.Rel(root, path); err == nil {
		rel = r
	}
	if _, err := os.Stat(path); err != nil {
		return rel, []string{"no profile: " + err.Error()}
	}
	out, err := exec.Command(goBin, "tool", "pprof", "-top", "-nodecount", "12", path).CombinedOutput()
	if err != nil {
		return rel, []string{"go tool pprof: " + firstLine(err.Error()+": "+string(out))}
	}
	if cum, err := exec.Command(goBin, "tool", "pprof", "-top", "-cum", "-nodecount", "400", path).Output(); err == nil {
		top = append(parts(string(cum)), "")
	}
	keep, n := false, 0
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "Duration:"), strings.HasPrefix(l, "Showing nodes"):
			top = append(top, l)
		case strings.Contains(l, "flat%"):
			keep = true
			top = append(top, l)
		case keep && n < profileTopN:
			n++
			top = append(top, l)
		}
	}
	return rel, top
}

// profileParts are the goroutines' entry points whose cumulative CPU
// profileTop reports, by what they are in the gateway.
var profileParts = []struct{ name, fn string }{
	{"validation (lowprio workers, libxml2)", "gateway/lowprio.(*Pool).work"},
	{"JetStream stream writer (store, write, fsync)", "server.(*stream).internalLoop"},
	{"HTTP requests (net/http, the handler)", "net/http.(*conn).serve"},
	{"NATS server reading clients", "server.(*client).readLoop"},
	{"garbage collector (background)", "runtime.gcBgMarkWorker"},
}

// parts returns, from the output of go tool pprof -top -cum, a line per
// entry of profileParts with its share of the samples.
func parts(cum string) []string {
	var out []string
	for _, p := range profileParts {
		for _, l := range strings.Split(cum, "\n") {
			f := strings.Fields(l)
			if len(f) == 6 && strings.HasSuffix(f[5], p.fn) {
				out = append(out, fmt.Sprintf("%-50s %s of the samples", p.name+":", f[4]))
				break
			}
		}
	}
	return out
}

// slug is name with everything but letters, digits, dots and dashes
// replaced by a dash, for a file name.
func slug(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, name)
}
