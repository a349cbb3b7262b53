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

.PHONY: all deps build run test test-short vet bench fuzz fuzz-short hostile clean

# The fuzz targets, package:function. `make fuzz-short` (part of `make test`)
# runs each for FUZZTIME_SHORT, `make fuzz` for FUZZTIME. A crasher the fuzzer
# finds lands in <package>/testdata/fuzz/<function>/ and stays there as a
# regression test once fixed.
FUZZ_TARGETS   := ./gateway/identify:FuzzIdentify ./gateway/identify:FuzzParseMetadata \
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

# bench reports; it never fails on a number. See docs/benchmarks.md.
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./schemas/ ./gateway/...
	$(GO) test -run '^$$' -bench XTALargeContainerMemory -benchtime 3x -count 1 ./test/bench/
	DREHSCHEIBE_BENCH_XMLLINT=1 $(GO) test ./schemas -run TestCompareXmllint -v -count=1 -timeout 30m

fuzz-short: deps
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_SHORT)

fuzz: deps
	@for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; echo "fuzz $$fn ($$pkg) for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

# hostile prints the table of the crafted requests: answer, CPU, wall time, memory.
hostile: deps
	$(GO) test -count=1 -run TestHostile -v ./test/hostile

clean:
	rm -rf bin data
