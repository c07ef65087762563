#!/usr/bin/env bash
# scripts/gotools.sh [--check | --path TOOL] — the test tools that come from
# the Go module proxy rather than apt: cnitool, the CNI project's reference
# runtime, at the version the CNI tests are written against. Installed with
# `go install` into Go's bin directory ($(go env GOPATH)/bin), outside the
# checkout, when missing; --check only reports; --path TOOL installs it if
# needed and prints its path.
set -euo pipefail
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
bindir=$("$GO" env GOPATH)/bin
TOOLS='
cnitool github.com/containernetworking/cni/cnitool@v1.3.1
'
want=""
if [ "${1:-}" = --path ]; then
	want=${2:?usage: scripts/gotools.sh --path TOOL}
fi
missing=0
while read -r tool pkg; do
	[ -n "$tool" ] || continue
	if [ -n "$want" ] && [ "$tool" != "$want" ]; then
		continue
	fi
	if [ -x "$bindir/$tool" ]; then
		[ -z "$want" ] || echo "$bindir/$tool"
		continue
	fi
	if [ "${1:-}" = --check ]; then
		echo "missing: $tool (GOBIN=$bindir $GO install $pkg)"
		missing=1
		continue
	fi
	echo "== installing $tool ($pkg) into $bindir" >&2
	GOBIN=$bindir GOFLAGS= "$GO" install "$pkg" >&2
	[ -z "$want" ] || echo "$bindir/$tool"
done <<<"$TOOLS"
exit $missing
