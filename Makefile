# vswitchd — see README.md.
#
# `sudo make demo` and `sudo make test` work on a fresh Debian or Ubuntu:
# Go is found without PATH (sudo's secure_path has no Go), the tools a
# target runs are installed by scripts/deps.sh, and files made as root are
# given back to the owner of the checkout.

# Go: $(GO) if set, else GO_FALLBACK, else go on PATH.
GO_FALLBACK ?= /usr/local/go/bin/go
ifeq ($(origin GO),undefined)
GO := $(firstword $(wildcard $(GO_FALLBACK)) $(shell command -v go 2>/dev/null))
endif
ifeq ($(GO),)
ifneq ($(filter-out clean,$(or $(MAKECMDGOALS),all)),)
$(error Go not found (looked for $(GO_FALLBACK) and go on PATH): install Go 1.26 or newer from https://go.dev/dl/ into /usr/local/go)
endif
endif
# The scripts and tests run the same Go, and whatever it runs itself.
export GO
ifneq ($(findstring /,$(GO)),)
export PATH := $(patsubst %/,%,$(dir $(GO))):$(PATH)
endif
export CGO_ENABLED := 0

BIN     := bin
GOFLAGS ?=
# The commit goes into the binaries (vswitchd --version) from git, which is
# asked to trust the checkout (root's git refuses another user's by
# default); the go command's own VCS stamping is off, as it fails there.
VERSION_PKG := github.com/vswitchd/vswitchd/internal/version
GIT      = git -c safe.directory='*' -C $(CURDIR)
# Computed once, when a build first needs it.
COMMIT   = $(eval COMMIT := $(shell $(GIT) rev-parse --short=12 HEAD 2>/dev/null)$(shell \
	$(GIT) status --porcelain 2>/dev/null | grep -q . && echo -dirty))$(COMMIT)
LDFLAGS  = $(if $(COMMIT),-X $(VERSION_PKG).Commit=$(COMMIT))

# keep_owner runs a recipe's command and, when run as root (sudo make …)
# in a checkout owned by someone else, gives every root-owned file in the
# checkout (bin/, test.out, …; not .git) back to that owner, whatever the
# command's outcome, so a later make without sudo can overwrite them.
keep_owner = status=0; $(1) || status=$$?; \
	owner=$$(stat -c %u:%g .); \
	if [ "$$(id -u)" = 0 ] && [ "$$owner" != 0:0 ]; then \
		find . -path ./.git -prune -o -user 0 -exec chown -h "$$owner" {} +; \
	fi; \
	exit $$status

.PHONY: all build install demo test test-unit test-privileged race bench fuzz lint clean

all: build

build:
	@echo "$(GO) build -o $(BIN)/vswitchd ./cmd/vswitchd (commit $(or $(COMMIT),unknown))"
	@$(call keep_owner,$(GO) build -buildvcs=false -ldflags '$(LDFLAGS)' $(GOFLAGS) -o $(BIN)/vswitchd ./cmd/vswitchd && \
		$(GO) build -buildvcs=false -ldflags '$(LDFLAGS)' $(GOFLAGS) -o $(BIN)/vswitchctl ./cmd/vswitchctl && \
		$(GO) build -buildvcs=false -ldflags '$(LDFLAGS)' $(GOFLAGS) -o $(BIN)/vswitchd-cni ./cmd/vswitchd-cni)

# Install the binaries, and the CNI plugin under the name network
# configurations use ("type": "vswitchd") in CNI's plugin directory.
# The systemd unit (dist/vswitchd.service, Restart=always) goes to
# SYSTEMD_DIR with the installed binary's path; enable it with
# `systemctl daemon-reload && systemctl enable --now vswitchd`.
PREFIX  ?= /usr/local
CNI_BIN ?= /opt/cni/bin
SYSTEMD_DIR ?= /etc/systemd/system
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(CNI_BIN) $(DESTDIR)$(SYSTEMD_DIR)
	install -m 0755 $(BIN)/vswitchd $(BIN)/vswitchctl $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(BIN)/vswitchd-cni $(DESTDIR)$(CNI_BIN)/vswitchd
	sed 's|@BINDIR@|$(PREFIX)/bin|g' dist/vswitchd.service > $(DESTDIR)$(SYSTEMD_DIR)/vswitchd.service
	chmod 0644 $(DESTDIR)$(SYSTEMD_DIR)/vswitchd.service

# The seed walkthrough in a throwaway lab namespace (needs root; installs
# the tools it runs).
demo: build
	@$(call keep_owner,./scripts/demo.sh)

# go vet, unit tests and privileged tests (real namespaces, TAPs, kernel
# stacks). As root the privileged tests are mandatory (VSWITCHD_PRIVILEGED=1)
# and the tools they run are installed first; without root they skip.
test: build
	@$(call keep_owner,./scripts/test.sh)

test-unit:
	@$(call keep_owner,$(GO) test -count=1 -short ./...)

test-privileged: build
	@$(call keep_owner,VSWITCHD_PRIVILEGED=1 $(GO) test -count=1 -run Privileged -v ./...)

# Benchmarks: in-process (ns/frame) and end to end against the Linux bridge
# and iptables, printing ratios.
bench: build
	@$(call keep_owner,./scripts/bench.sh)

fuzz:
	@$(call keep_owner,./scripts/fuzz.sh)

# staticcheck from PATH, else where `go install` puts it.
STATICCHECK = $(or $(shell command -v staticcheck 2>/dev/null),$(shell $(GO) env GOPATH)/bin/staticcheck)

lint:
	gofmt -l . | (! grep .)
	$(GO) vet ./...
	$(STATICCHECK) ./...

# The race detector: unit tests, then the end-to-end tests against race-built
# binaries (needs root and cgo for -race; make test builds without cgo).
race:
	@$(call keep_owner,./scripts/deps.sh race test && CGO_ENABLED=1 $(GO) test -race -count=1 $$($(GO) list ./... | grep -v /test$$) && \
		VSWITCHD_TEST_RACE=1 $(GO) test -count=1 ./test/)

clean:
	rm -rf $(BIN) test.out
