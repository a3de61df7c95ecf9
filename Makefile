# cri-shim: build, run and test. Every target runs as root on Debian.

GO        ?= go
BIN       := bin/cri-shim
PKG       := github.com/cri-shim/cri-shim
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# grpcnotrace: gRPC without golang.org/x/net/trace (and html/template with it).
# nri_no_wasm: NRI without its WebAssembly plugin runtime (wazero, 2.5 MB of
# mapped code); binary and socket NRI plugins work, a WASM one is refused.
# netgo osusergo: the Go resolver and user lookup, so that the binary links
# statically (below).
TAGS      := seccomp grpcnotrace nri_no_wasm netgo osusergo
# -s -w and -trimpath: a smaller binary, mapped by the daemon and by every
# re-exec of it (__create, init). Linked statically (libc and libseccomp
# inside, as runc's release binaries): no dynamic loader on each of those
# execs (a start 35 -> 26 ms here) and no libc mapped in each process (the
# idle daemon 26.2 -> 25.4 MiB).
LDFLAGS   := -s -w -linkmode external -extldflags "-static" -X $(PKG)/pkg/version.Version=$(VERSION) -X $(PKG)/pkg/version.GitCommit=$(COMMIT)
PREFIX    ?= /usr/local
# Where critest results and logs go.
OUT       ?= _output

export CGO_ENABLED := 1

.PHONY: all deps build install run test test-unit fuzz test-integration critest bench lint fmt clean

all: build

## deps: install what a fresh machine lacks (Debian packages, crictl, critest, ginkgo, CNI plugins, staticcheck)
deps:
	./hack/deps.sh

## build: the one binary, bin/cri-shim
build:
	$(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/cri-shim

## install: copy the binary to $(PREFIX)/bin
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/cri-shim

## run: install what is missing, build, and start the daemon in the foreground with built-in defaults
run: deps build
	exec ./$(BIN)

## test: unit tests, bounded fuzzing, integration tests with real daemons, the conformance harness, then a real kubelet
test: deps build lint test-unit fuzz test-integration critest e2e-kubelet

test-unit:
	$(GO) test -tags '$(TAGS)' -count=1 ./cmd/... ./pkg/...

# Each fuzz target runs a number of inputs on top of its checked-in corpus,
# sized to 5-15 s here (FUZZ_PROCS: a C monitor process per input). Counts, not durations: a -fuzztime duration races Go
# 1.26's fuzz coordinator on a loaded machine (golang/go#75804: a bare
# "context deadline exceeded" with no failing input). FUZZTIME=30s (or
# 10000x) sets one budget for every target.
FUZZ_FAST ?= 50000x
FUZZ_LAYERS ?= 5000x
FUZZ_PROCS ?= 600x
fuzz:
	$(GO) test -tags '$(TAGS)' -run '^$$' -fuzz '^FuzzApplyLayer$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_LAYERS)) ./pkg/images/
	$(GO) test -tags '$(TAGS)' -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_FAST)) ./pkg/config/
	$(GO) test -tags '$(TAGS)' -run '^$$' -fuzz '^FuzzValidateConfig$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_FAST)) ./pkg/sandbox/
	$(GO) test -tags '$(TAGS)' -run '^$$' -fuzz '^FuzzTranslateRequests$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_FAST)) ./pkg/cri/
	$(GO) test -tags '$(TAGS)' -run '^$$' -fuzz '^FuzzResolveLogPath$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_FAST)) ./pkg/container/
	$(GO) test -tags '$(TAGS)' -run '^$$' -fuzz '^FuzzLogWriter$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_PROCS)) ./pkg/monitor/

test-integration: build
	CRI_SHIM_BIN=$(abspath $(BIN)) $(GO) test -tags '$(TAGS)' -count=1 -timeout 15m ./test/...

.PHONY: soak

## soak: the load tests at full size (make test runs them at 20 pods, 100 cycles, 12 kills): 100 pods of 2 containers and 1000 pod run/stop/remove cycles, 10 at a time, no failed call, no leak, the daemon's fds, goroutines and memory flat; then 40 kill -9 of the daemon at increasing delays into a pod's life (about 9 min)
soak: build
	CRI_SHIM_SOAK=1 CRI_SHIM_BIN=$(abspath $(BIN)) $(GO) test -tags '$(TAGS)' -count=1 -timeout 60m -v -run '^(TestLoad|TestFaultKill9AtIncreasingDelays)' ./test/integration/

## critest: the CRI conformance suite against a private cri-shim and a local registry, then the streaming specs again over websockets
critest: build
	$(GO) run ./test/critest -cri-shim $(abspath $(BIN)) -out $(abspath $(OUT))/critest \
		-expected test/critest/expected-failures
	$(GO) run ./test/critest -cri-shim $(abspath $(BIN)) -out $(abspath $(OUT))/critest-websocket \
		-expected test/critest/expected-failures -focus Streaming \
		-critest-args '--websocket-exec --websocket-attach --websocket-portforward'

.PHONY: e2e-kubelet

## e2e-kubelet: a real kubelet v1.37.2 (built once from the Go module proxy, about 5-8 min) runs static pods on a private cri-shim
e2e-kubelet: build
	kubelet=$$(./hack/build-kubelet.sh) && \
	$(GO) run ./test/e2e/kubelet -cri-shim $(abspath $(BIN)) -kubelet "$$kubelet" \
		-kubelet-ns $(abspath hack/kubelet-in-ns.sh) -out $(abspath $(OUT))/e2e-kubelet

# Extra arguments of the benchmark harness, e.g. BENCH_ARGS='-rounds 2 -skip go'.
BENCH_ARGS ?=

.PHONY: bench-compare

## bench: critest -benchmark, pods one at a time and in parallel, memory, pull and exec latency, Go benchmarks (2-4 min on an idle machine); results in $(OUT)/bench
bench: build
	$(GO) run ./test/bench -cri-shim $(abspath $(BIN)) -out $(abspath $(OUT))/bench $(BENCH_ARGS)

## bench-compare: the same benchmarks against cri-shim and containerd v2.4.2 + runc v1.5.2 (built once into /opt/cri-shim-tools/compare, 3-9 min), alternating, two rounds (5-12 min); ratios in $(OUT)/bench-compare
bench-compare: build
	tools=$$(./hack/bench-compare-tools.sh) && \
	$(GO) run ./test/bench -cri-shim $(abspath $(BIN)) -out $(abspath $(OUT))/bench-compare \
		-compare -containerd-tools "$$tools" -rounds 2 $(BENCH_ARGS)

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l cmd pkg test); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags '$(TAGS)' ./...
	staticcheck -tags '$(TAGS)' ./...
	TAGS='$(TAGS)' ./hack/check-deadcode.sh

fmt:
	gofmt -w cmd pkg test

clean:
	rm -rf bin $(OUT)
