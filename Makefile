# cri-shim: build, run and test. Every target runs as root on Debian.

GO        ?= go
BIN       := bin/cri-shim
PKG       := github.com/cri-shim/cri-shim
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
TAGS      := seccomp
LDFLAGS   := -X $(PKG)/pkg/version.Version=$(VERSION) -X $(PKG)/pkg/version.GitCommit=$(COMMIT)
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
	$(GO) build -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/cri-shim

## install: copy the binary to $(PREFIX)/bin
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/cri-shim

## run: install what is missing, build, and start the daemon in the foreground with built-in defaults
run: deps build
	exec ./$(BIN)

## test: unit tests, bounded fuzzing, integration tests with real daemons, then the conformance harness
test: deps build lint test-unit fuzz test-integration critest

test-unit:
	$(GO) test -tags '$(TAGS)' -count=1 ./cmd/... ./pkg/...

# Each fuzz target runs for FUZZTIME on top of its checked-in corpus.
FUZZTIME ?= 20s
fuzz:
	$(GO) test -tags '$(TAGS)' -run '^$$' -fuzz '^FuzzApplyLayer$$' -fuzztime $(FUZZTIME) ./pkg/images/
	$(GO) test -tags '$(TAGS)' -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/config/

test-integration: build
	CRI_SHIM_BIN=$(abspath $(BIN)) $(GO) test -tags '$(TAGS)' -count=1 -timeout 15m ./test/...

## critest: the CRI conformance suite against a private cri-shim and a local registry
critest: build
	$(GO) run ./test/critest -cri-shim $(abspath $(BIN)) -out $(abspath $(OUT))/critest \
		-expected test/critest/expected-failures

## bench: critest benchmark mode (filled in as pods and containers land)
bench: build
	@echo "bench: no benchmarks yet: pods and containers are not implemented (issues 4, 5, 8)"

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l cmd pkg test); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags '$(TAGS)' ./...
	staticcheck -tags '$(TAGS)' ./...

fmt:
	gofmt -w cmd pkg test

clean:
	rm -rf bin $(OUT)
