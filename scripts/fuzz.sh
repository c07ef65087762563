#!/usr/bin/env bash
# make fuzz — run every fuzz target for FUZZTIME (default 15s) each. The
# seed corpora in */testdata/fuzz/ also run as ordinary tests in make test.
set -euo pipefail
cd "$(dirname "$0")/.."
# Go: as the Makefile finds it ($GO, else /usr/local/go/bin/go, else PATH),
# for this script and the go commands and tests it runs.
if [ -z "${GO:-}" ]; then
	if [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; else GO=$(command -v go || true); fi
fi
[ -n "$GO" ] || { echo "Go not found: install Go 1.26 or newer from https://go.dev/dl/ into /usr/local/go" >&2; exit 1; }
case "$GO" in */*) PATH="${GO%/*}:$PATH" ;; esac
export GO PATH
t=${FUZZTIME:-15s}
status=0
for pkg in $("$GO" list ./...); do
	for f in $("$GO" test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "== $pkg $f ($t)"
		"$GO" test -run '^$' -fuzz "^$f\$" -fuzztime "$t" -fuzzminimizetime 5s "$pkg" 2>&1 | tail -3 || status=1
	done
done
exit $status
