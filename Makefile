# drehscheibe — the two commands: `make run` and `make test`.
# Both install what is missing on a Debian machine (libxml2-dev, pkg-config, xmllint).

SHELL       := /bin/bash
GO          ?= go
BIN         := bin/drehscheibe
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
CONFIG      ?= deploy/examples/drehscheibe.yaml
SHARED_XOEV := $(wildcard ../shared/xoev)
DEB_PKGS    := libxml2-dev pkg-config libxml2-utils

.PHONY: all deps build run test test-short vet bench bench-profile fuzz fuzz-short hostile clean

# The fuzz targets, package:function. `make fuzz-short` (part of `make test`)
# runs each for FUZZTIME_SHORT, `make fuzz` for FUZZTIME. A crasher the fuzzer
# finds lands in <package>/testdata/fuzz/<function>/ and stays there as a
# regression test once fixed.
FUZZ_TARGETS   := ./gateway/identify:FuzzIdentify ./gateway/identify:FuzzQuick ./gateway/identify:FuzzParseMetadata \
                  ./gateway/api:FuzzMultipart ./schemas:FuzzValidate ./gateway/config:FuzzParse \
                  ./adapters/xta:FuzzRead
FUZZTIME_SHORT ?= 10s
FUZZTIME       ?= 5m

all: build

# deps installs the C toolchain pieces cgo needs for the schemas package.
deps:
	@missing=""; \
	pkg-config --exists libxml-2.0 2>/dev/null || missing="$$missing libxml2-dev pkg-config"; \
	command -v xmllint >/dev/null 2>&1 || missing="$$missing libxml2-utils"; \
	command -v gcc >/dev/null 2>&1 || missing="$$missing gcc"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null \
	    || { echo "could not install$$missing; install them with apt-get and retry" >&2; exit 1; }; \
	fi

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/drehscheibe

# run starts the gateway on http://localhost:8080 with the demo config, an embedded
# NATS server under ./data and the demo standard; ../shared/xoev is added when present.
run: build
	@mkdir -p data
	DREHSCHEIBE_SCHEMAS_DIRS="schemas/demo$(if $(SHARED_XOEV),$(comma)$(SHARED_XOEV))" \
	  ./$(BIN) serve --config $(CONFIG)

comma := ,

vet: deps
	$(GO) vet ./...

# test runs every test (end-to-end and hostile input included), the race
# detector in -short mode, and each fuzz target briefly.
test: deps vet fuzz-short
	$(GO) test -count=1 -timeout 30m ./...
	$(GO) test -count=1 -race -short -timeout 30m ./...

test-short: deps
	$(GO) test -count=1 -short ./...

# bench measures throughput, latency and memory of the real binary next to the
# limits of its parts, in one run (docs/benchmarks.md; about 5 minutes). It prints
# Markdown tables and writes test/bench/results/<date>-<host>.json and .bench.txt
# (the Go benchmarks, for benchstat). It reports; it never fails on a number.
bench: build
	$(GO) run ./test/load -go $(GO)
	$(GO) test -run '^$$' -bench XTALargeContainerMemory -benchtime 3x -count 1 ./test/bench/

# bench-profile shows where the intake spends its CPU: a CPU profile of the whole
# pipeline (validate, identify, route, durable publish) from 16 goroutines.
bench-profile: deps
	@mkdir -p test/bench/results
	$(GO) test ./gateway/intake -run '^$$' -bench 'Submit/.*/goroutines=16' -benchtime 3s \
	  -cpuprofile test/bench/results/intake.cpu.pprof -o test/bench/results/intake.test
	$(GO) tool pprof -top -cum test/bench/results/intake.test test/bench/results/intake.cpu.pprof | head -45

fuzz-short: deps
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_SHORT)

# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when -fuzztime ends while a worker is mid-input (golang/go#75804,
# fixed in Go 1.27). That is not a finding: a real one always writes
# "Failing input written to testdata/fuzz/...". Such a run is reported and
# passes; every other failure fails.
fuzz: deps
	@for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; echo "fuzz $$fn ($$pkg) for $(FUZZTIME)"; \
	  log=$$(mktemp); \
	  $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg 2>&1 | tee $$log; rc=$${PIPESTATUS[0]}; \
	  if [ $$rc -ne 0 ]; then \
	    if grep -q 'context deadline exceeded' $$log && ! grep -q 'Failing input written' $$log; then \
	      echo "fuzz $$fn: ended by the fuzz coordinator's deadline race (golang/go#75804), no failing input: not a finding"; \
	    else rm -f $$log; exit 1; fi; \
	  fi; \
	  rm -f $$log; \
	done

# hostile prints the table of the crafted requests: answer, CPU, wall time, memory.
hostile: deps
	$(GO) test -count=1 -run TestHostile -v ./test/hostile

clean:
	rm -rf bin data
