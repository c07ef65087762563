#!/usr/bin/env bash
# make test: go vet, then every test — unit tests, and the privileged
# TestPrivileged* tests, which skip without root (and fail instead when
# VSWITCHD_PRIVILEGED=1) — with the go test summary at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
out=${TEST_OUT:-test.out}

echo "== go vet ./..."
$GO vet ./... || exit 1

echo "== go test ./... (full log in $out)"
start=$(date +%s)
$GO test -count=1 -timeout 20m -v ./... 2>&1 | tee "$out" |
	grep --line-buffered -E '^(ok|FAIL|panic:)|^\s*--- (FAIL|SKIP)|^\s+\S+_test\.go:[0-9]+: '
status=${PIPESTATUS[0]}
secs=$(( $(date +%s) - start ))

pass=$(grep -cE '^\s*--- PASS' "$out")
fail=$(grep -cE '^\s*--- FAIL' "$out")
skip=$(grep -cE '^\s*--- SKIP' "$out")
pkgs_ok=$(grep -cE '^ok\s' "$out")
pkgs_fail=$(grep -cE '^FAIL\s' "$out")
echo
echo "== go test summary: $pass passed, $fail failed, $skip skipped (tests and subtests); $pkgs_ok packages ok, $pkgs_fail failed; ${secs}s"
if [ "$skip" != 0 ]; then
	echo "skipped:"
	# go test -v prints a test's log (the reason) just before its --- SKIP line.
	grep -E -B1 '^\s*--- SKIP' "$out" | grep -vE '^(--|=== .*)?$' | sed 's/^/  /'
fi
if [ "$fail" != 0 ] || [ "$status" != 0 ]; then
	echo "failed:"
	grep -E '^\s*--- FAIL|^FAIL\s' "$out" | sed 's/^/  /'
fi
exit "$status"
