#!/usr/bin/env bash
# make fuzz — run every fuzz target for FUZZTIME (default 15s) each. The
# seed corpora in */testdata/fuzz/ also run as ordinary tests in make test.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-15s}
status=0
for pkg in $(go list ./...); do
	for f in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "== $pkg $f ($t)"
		go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" -fuzzminimizetime 5s "$pkg" 2>&1 | tail -3 || status=1
	done
done
exit $status
