package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// goBenchPackages hold the testing.B benchmarks of the hot functions:
// validate, identify, route, store Put and the intake pipeline.
var goBenchPackages = []string{"./schemas/", "./gateway/identify/", "./gateway/routing/", "./gateway/store/", "./gateway/intake/"}

// goBench is one line of `go test -bench` output.
type goBench struct {
	Pkg         string  `json:"pkg"`
	Name        string  `json:"name"`
	N           int64   `json:"n"`
	NsPerOp     float64 `json:"ns_per_op"`
	MBPerS      float64 `json:"mb_per_s,omitempty"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
	// Metrics are the benchmark's own figures (b.ReportMetric), by unit.
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

// runGoBench runs the benchmarks once each, writes go test's output to
// txtPath (the input benchstat compares) and parses it.
func runGoBench(goBin, root, txtPath, benchtime string) ([]goBench, error) {
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1", "-benchtime", benchtime, "-timeout", "20m"}, goBenchPackages...)
	cmd := exec.Command(goBin, args...)
	cmd.Dir = root
	f, err := os.Create(txtPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	runErr := cmd.Run()
	if err := f.Close(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(txtPath)
	if err != nil {
		return nil, err
	}
	res := parseGoBench(string(b))
	if runErr != nil {
		return res, fmt.Errorf("go test -bench: %v\n%s", runErr, tail(txtPath, 30))
	}
	return res, nil
}

// parseGoBench reads the result lines of go test -bench output.
func parseGoBench(out string) []goBench {
	var res []goBench
	pkg := ""
	s := bufio.NewScanner(strings.NewReader(out))
	for s.Scan() {
		line := s.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = p
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		b := goBench{Pkg: pkg, Name: f[0], N: n}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				b.NsPerOp = v
			case "MB/s":
				b.MBPerS = v
			case "B/op":
				b.BytesPerOp = v
			case "allocs/op":
				b.AllocsPerOp = v
			default:
				if b.Metrics == nil {
					b.Metrics = map[string]float64{}
				}
				b.Metrics[f[i+1]] = v
			}
		}
		res = append(res, b)
	}
	return res
}
