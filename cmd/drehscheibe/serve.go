package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/drehscheibe/drehscheibe/gateway"
	"github.com/drehscheibe/drehscheibe/gateway/config"
)

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("serve", "[--config FILE] [--cpuprofile FILE] [--trace FILE]", stderr)
	cfgPath := fs.String("config", "", "configuration file (default $DREHSCHEIBE_CONFIG or ./"+defaultConfig+")")
	cpuProfile := fs.String("cpuprofile", "", "diagnosis: write a CPU profile of the process (go tool pprof) to FILE, complete when serve stops")
	traceFile := fs.String("trace", "", "diagnosis: write an execution trace of the process (go tool trace) to FILE, complete when serve stops; about 1 MB per second under load")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	for _, d := range []struct {
		flag, path string
		start      func(io.Writer) error
		stop       func()
	}{
		{"--cpuprofile", *cpuProfile, pprof.StartCPUProfile, pprof.StopCPUProfile},
		{"--trace", *traceFile, trace.Start, trace.Stop},
	} {
		if d.path == "" {
			continue
		}
		stop, err := startDiagnosis(d.path, d.start, d.stop)
		if err != nil {
			fmt.Fprintf(stderr, "drehscheibe: %s: %v\n", d.flag, err)
			return exitUsage
		}
		defer stop()
	}
	cfg, err := config.Load(configPath(*cfgPath))
	if err != nil {
		fmt.Fprintf(stderr, "drehscheibe: invalid configuration:\n%v\n", err)
		return exitUsage
	}
	log, err := newLogger(cfg.Log.Level, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "drehscheibe: log.level: %v\n", err)
		return exitUsage
	}
	defer func() { _ = log.Sync() }()
	log = log.With(zap.String("version", version))
	procs := serveProcs(os.Getenv("GOMAXPROCS"), defaultProcs)
	runtime.GOMAXPROCS(procs)
	log.Info("go runtime", zap.Int("gomaxprocs", procs), zap.Int("cpus", runtime.NumCPU()))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	g, err := gateway.New(ctx, cfg, log)
	if err != nil {
		log.Error("start failed", zap.Error(err))
		fmt.Fprintf(stderr, "drehscheibe: %v\n", err)
		return exitUsage
	}
	errc, err := g.Start(ctx)
	if err != nil {
		log.Error("start failed", zap.Error(err))
		_ = g.Shutdown(context.Background())
		return exitUsage
	}
	for running := true; running; {
		select {
		case <-hup:
			// SIGHUP reloads the TLS certificate; a failure keeps the old one.
			switch err := g.ReloadTLS(); {
			case errors.Is(err, gateway.ErrNoTLS):
				log.Info("SIGHUP: " + err.Error())
			case err != nil:
				log.Error("tls reload failed; the certificate in use stays", zap.Error(err))
			}
		case <-ctx.Done():
			log.Info("shutting down", zap.Duration("timeout", cfg.Server.ShutdownTimeout))
			running = false
		case err := <-errc:
			log.Error("http server failed", zap.Error(err))
			running = false
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := g.Shutdown(sctx); err != nil {
		log.Warn("shutdown incomplete", zap.Error(err))
	}
	log.Info("stopped")
	return exitOK
}

// startDiagnosis creates path and starts the runtime's CPU profiler or
// tracer on it; the function it returns stops it and closes the file. Both
// are for finding where the time goes in a benchmark or a test system
// (docs/benchmarks.md), not for production: the tracer costs CPU.
func startDiagnosis(path string, start func(io.Writer) error, stop func()) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		stop()
		_ = f.Close()
	}, nil
}

// newLogger makes the JSON logger on w (stderr).
func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), lvl)
	return zap.New(core), nil
}

// defaultProcs is the runtime's GOMAXPROCS at start: the cores available to
// the process (cgroup limits included) or the GOMAXPROCS variable.
var defaultProcs = runtime.GOMAXPROCS(0)

// serveProcs is the GOMAXPROCS of serve: what the environment variable
// GOMAXPROCS says if it is set, else twice the runtime's default (one per
// core available). The gateway spends much of its time in system calls
// (JetStream's fsync, network) and in libxml2 (cgo); a goroutine that
// such a call parks waits for a P until the runtime takes one back, and
// with two spare Ps per core it rarely waits: measured on 2 cores, 7–20 %
// more submissions per second (docs/decisions/0005-scheduling-for-the-stream-writer.md).
func serveProcs(env string, def int) int {
	if env != "" {
		return def
	}
	return 2 * def
}
