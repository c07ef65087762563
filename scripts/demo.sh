#!/usr/bin/env bash
# sudo make demo — the seed walkthrough, in a throwaway lab namespace.
#
# vswitchd runs with --lab, in a private network namespace it creates and
# deletes, so nothing is configured in this machine's own namespace. The
# "host" of the walkthrough is that lab namespace; endpoints are named
# namespaces (see `ip netns list` while it runs). Traffic stays inside the
# namespaces this script makes.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "make demo needs root: sudo make demo" >&2
	exit 1
fi
./scripts/deps.sh demo

LAB="vswdemo-$$"
DIR="$(mktemp -d /tmp/vswitchd-demo.XXXXXX)"
export VSWITCHD_SOCKET="$DIR/vswitchd.sock"
CTL="$PWD/bin/vswitchctl"
DAEMON_PID=""
READER_PID=""
failures=0

cleanup() {
	[ -n "$READER_PID" ] && kill "$READER_PID" 2>/dev/null || true
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null || true
	fi
	rm -rf "$DIR"
	if ip netns list | grep -q -e "^demo$$-" -e "^$LAB\b"; then
		echo "!! namespaces left behind: $(ip netns list | grep -e "^demo$$-" -e "^$LAB\b" | tr '\n' ' ')"
	fi
}
trap cleanup EXIT

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# quote prints its arguments as a shell would need them typed.
quote() {
	local out=() a
	for a in "$@"; do
		if [[ "$a" =~ [^A-Za-z0-9_./:=@,+-] ]]; then out+=("'${a//\'/\'\\\'\'}'"); else out+=("$a"); fi
	done
	echo "${out[*]}"
}
# show runs and prints a command.
show() { echo "\$ $(quote "$@")"; "$@"; }
# ctl runs vswitchctl, printing the command as a user would type it.
ctl() { echo "\$ vswitchctl $(quote "$@")"; "$CTL" "$@"; }
# expect_ok / expect_fail run a check and print its verdict.
expect_ok() {
	local what="$1"; shift
	if "$@" >"$DIR/out" 2>&1; then echo "   ✓ $what"; else echo "   ✗ $what"; sed 's/^/     /' "$DIR/out"; failures=$((failures + 1)); fi
}
expect_fail() {
	local what="$1"; shift
	if "$@" >"$DIR/out" 2>&1; then echo "   ✗ $what (it succeeded)"; failures=$((failures + 1)); else echo "   ✓ $what"; fi
}
# host runs a command on the lab "host".
host() { ip netns exec "$LAB" "$@"; }

bold "Start vswitchd in a lab namespace ($LAB)"
# No DNS upstream is reachable from the lab: only local names resolve.
./bin/vswitchd --lab "$LAB" --socket "$VSWITCHD_SOCKET" --state-dir "$DIR/state" \
	--netns-prefix "demo$$-" --dns-upstream 127.0.0.1:53 --log-level warn &
DAEMON_PID=$!
for _ in $(seq 50); do "$CTL" version >/dev/null 2>&1 && break; sleep 0.1; done
ctl version

bold "Two endpoints on one network; ping by name"
ctl network create test-network
ctl run -d --net test-network --name apple-server
ctl run -d --net test-network --name orange-server
expect_ok "apple-server pings orange-server by name" "$CTL" exec apple-server -- ping -c1 -W2 orange-server

bold "A second network; apple-server joins it"
ctl network create applesonly
ctl network connect applesonly apple-server
ctl run -d --net applesonly --name red-apple
expect_ok "red-apple pings apple-server" "$CTL" exec red-apple -- ping -c1 -W2 apple-server
expect_fail "red-apple cannot ping orange-server" "$CTL" exec red-apple -- ping -c1 -W1 orange-server
ORANGE_IP=$("$CTL" ps --json | sed -n '/"name": "orange-server"/,/"ip"/s/.*"ip": "\([0-9.]*\)".*/\1/p' | head -1)
expect_fail "red-apple cannot ping orange-server's address $ORANGE_IP" "$CTL" exec red-apple -- ping -c1 -W1 "$ORANGE_IP"
ctl ps
show ip netns list

bold "A two-port echo server with published ports"
ctl run -d --net test-network --name echo-server -p 45678:45678 -p 45679:45679 -- sh -c 'nc -lp 45678 | nc -lp 45679'
sleep 0.5
echo "# the host reads from 127.0.0.1:45679 and sends a line into 127.0.0.1:45678"
host nc 127.0.0.1 45679 >"$DIR/from-host" &
READER_PID=$!
sleep 0.3
printf '$ echo "hello from the host" | nc -N 127.0.0.1 45678\n'
echo "hello from the host" | host nc -N -w 5 127.0.0.1 45678
for _ in $(seq 50); do grep -q "hello from the host" "$DIR/from-host" && break; sleep 0.1; done
expect_ok "the line came out of 127.0.0.1:45679: $(cat "$DIR/from-host")" grep -q "hello from the host" "$DIR/from-host"
kill "$READER_PID" 2>/dev/null || true; wait "$READER_PID" 2>/dev/null || true; READER_PID=""

echo "# again, between two other endpoints, through host.vswitchd.internal"
ctl rm -f echo-server
ctl run -d --net test-network --name echo-server -p 45678:45678 -p 45679:45679 -- sh -c 'nc -lp 45678 | nc -lp 45679'
ctl run -d --net applesonly --name green-apple
sleep 0.5
"$CTL" exec orange-server -- nc host.vswitchd.internal 45679 >"$DIR/from-endpoint" &
READER_PID=$!
sleep 0.5
printf '$ vswitchctl exec green-apple -- sh -c "echo hello from green-apple | nc -N host.vswitchd.internal 45678"\n'
"$CTL" exec green-apple -- sh -c 'echo "hello from green-apple" | nc -N -w 5 host.vswitchd.internal 45678'
for _ in $(seq 50); do grep -q "hello from green-apple" "$DIR/from-endpoint" && break; sleep 0.1; done
expect_ok "orange-server read it from host.vswitchd.internal:45679: $(cat "$DIR/from-endpoint")" grep -q "hello from green-apple" "$DIR/from-endpoint"
kill "$READER_PID" 2>/dev/null || true; wait "$READER_PID" 2>/dev/null || true; READER_PID=""

bold "What carried it"
ctl conntrack list
ctl nat show
ctl fdb show
ctl ports
ctl stats

bold "Clean up"
ctl rm -f apple-server orange-server red-apple green-apple echo-server
ctl network rm test-network applesonly
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" || true; DAEMON_PID=""
left=$(ip netns list | grep -c -e "^demo$$-" -e "^$LAB\b" || true)
if [ "$left" = 0 ]; then echo "   ✓ no namespace left behind"; else echo "   ✗ $left namespaces left behind"; failures=$((failures + 1)); fi

if [ "$failures" = 0 ]; then
	bold "Walkthrough done: every check passed"
else
	bold "Walkthrough done: $failures check(s) failed"
	exit 1
fi
