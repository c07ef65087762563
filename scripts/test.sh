#!/usr/bin/env bash
# make test: go vet, then every test — unit tests, and the privileged
# TestPrivileged* tests, which skip without root (and fail instead when
# VSWITCHD_PRIVILEGED=1) — with the go test summary at the end.
#
# As root, the privileged tests are mandatory (VSWITCHD_PRIVILEGED=1 unless
# set otherwise) and the tools they run are installed first
# (scripts/deps.sh test); a test may then skip only for a kernel feature
# this kernel lacks.
set -uo pipefail
cd "$(dirname "$0")/.."
# Go: as the Makefile finds it ($GO, else /usr/local/go/bin/go, else PATH),
# for this script and the go commands and tests it runs.
if [ -z "${GO:-}" ]; then
	if [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; else GO=$(command -v go || true); fi
fi
[ -n "$GO" ] || { echo "Go not found: install Go 1.26 or newer from https://go.dev/dl/ into /usr/local/go" >&2; exit 1; }
case "$GO" in */*) PATH="${GO%/*}:$PATH" ;; esac
export GO PATH
out=${TEST_OUT:-test.out}

if [ "$EUID" = 0 ]; then
	export VSWITCHD_PRIVILEGED=${VSWITCHD_PRIVILEGED:-1}
fi
./scripts/deps.sh test || exit 1
./scripts/gotools.sh || exit 1

echo "== $("$GO" version)"
echo "== go vet ./..."
"$GO" vet ./... || exit 1

echo "== go test ./... (full log in $out)"
start=$(date +%s)
"$GO" test -count=1 -timeout 20m -v ./... 2>&1 | tee "$out" |
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
