# vswitchd — see README.md.
GO      ?= go
BIN     := bin
GOFLAGS ?=
export CGO_ENABLED := 0

.PHONY: all build demo test test-unit test-privileged race bench fuzz lint clean

all: build

build:
	$(GO) build $(GOFLAGS) -o $(BIN)/vswitchd ./cmd/vswitchd
	$(GO) build $(GOFLAGS) -o $(BIN)/vswitchctl ./cmd/vswitchctl

# The seed walkthrough in a throwaway lab namespace (needs root).
demo: build
	./scripts/demo.sh

# Unit tests (no root) and privileged tests (real namespaces, TAPs, kernel
# stacks; they skip without root and fail instead when VSWITCHD_PRIVILEGED=1).
test: build
	./scripts/test.sh

test-unit:
	$(GO) test -count=1 -short ./...

test-privileged: build
	VSWITCHD_PRIVILEGED=1 $(GO) test -count=1 -run Privileged -v ./...

# Benchmarks: in-process (ns/frame) and end to end against the Linux bridge
# and iptables, printing ratios.
bench: build
	./scripts/bench.sh

fuzz:
	./scripts/fuzz.sh

lint:
	gofmt -l . | (! grep .)
	$(GO) vet ./...
	staticcheck ./...

# The race detector: unit tests, then the end-to-end tests against race-built
# binaries (needs root and cgo for -race; make test builds without cgo).
race:
	CGO_ENABLED=1 $(GO) test -race -count=1 $$($(GO) list ./... | grep -v /test$$)
	VSWITCHD_TEST_RACE=1 $(GO) test -count=1 ./test/

clean:
	rm -rf $(BIN) test.out
