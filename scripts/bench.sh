#!/usr/bin/env bash
# make bench — vswitchd next to the kernel, measured the same way in the
# same run, in namespaces this script creates and deletes:
#
#   bridge     two namespaces on a Linux bridge through veth pairs
#   vswitchd   two vswitchd endpoints on one network (TAP, offloads)
#   iptables   kernel routing + iptables MASQUERADE in a router namespace
#   vsw-nat    a vswitchd endpoint through the switch's masquerade and its
#              uplink (a veth) to a server namespace
#
# For each: TCP single-stream throughput (iperf3), UDP 64-byte packets
# received per second (iperf3 -u -l 64 -b 0: sender-bound), ping RTT.
# Medians of BENCH_RUNS runs of BENCH_SECONDS each (defaults 3 × 5 s; the
# DESIGN reference numbers use 3 × 10 s). Then the in-process Go
# benchmarks (ns and allocs per frame). Traffic never leaves the
# namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "make bench needs root: sudo make bench" >&2; exit 1; }
# Go: as the Makefile finds it ($GO, else /usr/local/go/bin/go, else PATH),
# for this script and the go commands and tests it runs.
if [ -z "${GO:-}" ]; then
	if [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; else GO=$(command -v go || true); fi
fi
[ -n "$GO" ] || { echo "Go not found: install Go 1.26 or newer from https://go.dev/dl/ into /usr/local/go" >&2; exit 1; }
case "$GO" in */*) PATH="${GO%/*}:$PATH" ;; esac
export GO PATH
./scripts/deps.sh bench

SECS=${BENCH_SECONDS:-5}
RUNS=${BENCH_RUNS:-3}
ID=$$
DIR=$(mktemp -d /tmp/vswitchd-bench.XXXXXX)
NSES=()
PIDS=()
export VSWITCHD_SOCKET="$DIR/vswitchd.sock"
CTL="$PWD/bin/vswitchctl"

cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	for ns in "${NSES[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$DIR"
}
trap cleanup EXIT

mkns() { ip netns add "$1"; NSES+=("$1"); ip -n "$1" link set lo up; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print a[int((NR+1)/2)]}'; }

# measure SERVER_CMD_PREFIX CLIENT_CMD_PREFIX ADDR → sets TCP (Gbit/s), PPS, RTT (ms)
measure() {
	local srv="$1" cli="$2" addr="$3" t u r
	local tcps=() ppss=() rtts=()
	$srv iperf3 -s -D -I "$DIR/iperf.pid" >/dev/null 2>&1 || $srv iperf3 -s -D >/dev/null
	sleep 0.5
	for _ in $(seq "$RUNS"); do
		t=$($cli iperf3 -c "$addr" -t "$SECS" -J | awk '/"sum_received"/{f=1} f && /"bits_per_second"/{gsub(/[,]/,""); print $2/1e9; exit}')
		tcps+=("$t")
		# Received payload bits per second over 64-byte datagrams.
		u=$($cli iperf3 -c "$addr" -t "$SECS" -u -l 64 -b 0 -J | awk '/"sum_received"/{f=1} f && /"bits_per_second"/{gsub(/[,]/,""); print $2/512; exit}')
		ppss+=("$u")
		r=$($cli ping -q -c 200 -i 0.01 "$addr" | awk -F/ '/^rtt|^round-trip/{print $5}')
		rtts+=("$r")
	done
	[ -f "$DIR/iperf.pid" ] && kill "$(cat "$DIR/iperf.pid")" 2>/dev/null || true
	rm -f "$DIR/iperf.pid"
	TCP=$(printf '%s\n' "${tcps[@]}" | median)
	PPS=$(printf '%s\n' "${ppss[@]}" | median)
	RTT=$(printf '%s\n' "${rtts[@]}" | median)
}

declare -A R_TCP R_PPS R_RTT
record() { R_TCP[$1]=$TCP; R_PPS[$1]=$PPS; R_RTT[$1]=$RTT; printf '  %-9s TCP %6.2f Gbit/s   UDP-64 %8.0f pps   RTT %.3f ms\n' "$1" "$TCP" "$PPS" "$RTT"; }

echo "== $RUNS × ${SECS}s per measurement, medians"

# --- Linux bridge + veth
B=vbb$ID; A1=vba$ID; A2=vbc$ID
mkns "$B"; mkns "$A1"; mkns "$A2"
ip -n "$B" link add br0 type bridge
ip -n "$B" link set br0 up
for i in 1 2; do
	ns=$([ $i = 1 ] && echo "$A1" || echo "$A2")
	ip -n "$B" link add p$i type veth peer name eth0 netns "$ns"
	ip -n "$B" link set p$i master br0 up
	ip -n "$ns" addr add 10.77.0.$i/24 dev eth0
	ip -n "$ns" link set eth0 up
done
ip netns exec "$A1" ping -c1 -W2 10.77.0.2 >/dev/null
measure "ip netns exec $A2" "ip netns exec $A1" 10.77.0.2
record bridge

# --- vswitchd, two endpoints
LAB=vbl$ID
./bin/vswitchd --lab "$LAB" --socket "$VSWITCHD_SOCKET" --state-dir "$DIR/state" --netns-prefix "vb$ID-" \
	--dns-upstream 127.0.0.1:53 --log-level warn &
PIDS+=($!)
for _ in $(seq 50); do "$CTL" version >/dev/null 2>&1 && break; sleep 0.1; done
"$CTL" network create --subnet 10.78.0.0/24 bench >/dev/null
"$CTL" run -d --net bench --name c1 --ip 10.78.0.11 >/dev/null
"$CTL" run -d --net bench --name c2 --ip 10.78.0.12 >/dev/null
ip netns exec "vb$ID-c1" ping -c1 -W2 10.78.0.12 >/dev/null
measure "ip netns exec vb$ID-c2" "ip netns exec vb$ID-c1" 10.78.0.12
record vswitchd

# --- kernel routing + iptables MASQUERADE
RT=vbr$ID; C=vbk$ID; S=vbs$ID
mkns "$RT"; mkns "$C"; mkns "$S"
ip -n "$RT" link add in0 type veth peer name eth0 netns "$C"
ip -n "$RT" link add out0 type veth peer name eth0 netns "$S"
ip -n "$RT" addr add 10.79.0.1/24 dev in0; ip -n "$RT" link set in0 up
ip -n "$RT" addr add 203.0.113.1/24 dev out0; ip -n "$RT" link set out0 up
ip -n "$C" addr add 10.79.0.2/24 dev eth0; ip -n "$C" link set eth0 up; ip -n "$C" route add default via 10.79.0.1
ip -n "$S" addr add 203.0.113.2/24 dev eth0; ip -n "$S" link set eth0 up
ip netns exec "$RT" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$RT" iptables -t nat -A POSTROUTING -o out0 -j MASQUERADE
ip netns exec "$C" ping -c1 -W2 203.0.113.2 >/dev/null
measure "ip netns exec $S" "ip netns exec $C" 203.0.113.2
record iptables

# --- vswitchd masquerade through its uplink
S2=vbt$ID
mkns "$S2"
ip -n "$LAB" link add up0 type veth peer name eth0 netns "$S2"
ip -n "$LAB" link set up0 up
ip -n "$S2" addr add 198.18.0.1/24 dev eth0; ip -n "$S2" link set eth0 up
"$CTL" uplink set up0 --address 198.18.0.2/24 --gateway 198.18.0.1 >/dev/null
ip netns exec "vb$ID-c1" ping -c1 -W2 198.18.0.1 >/dev/null
measure "ip netns exec $S2" "ip netns exec vb$ID-c1" 198.18.0.1
record vsw-nat

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f×", a/b; else print "-" }'; }
echo
echo "== vswitchd ÷ kernel (throughput: higher is better; RTT: lower is better)"
printf '  %-28s TCP %s   UDP-64 %s   RTT %s\n' "switching vs Linux bridge" \
	"$(ratio "${R_TCP[vswitchd]}" "${R_TCP[bridge]}")" "$(ratio "${R_PPS[vswitchd]}" "${R_PPS[bridge]}")" "$(ratio "${R_RTT[vswitchd]}" "${R_RTT[bridge]}")"
printf '  %-28s TCP %s   UDP-64 %s   RTT %s\n' "NAT vs iptables MASQUERADE" \
	"$(ratio "${R_TCP[vsw-nat]}" "${R_TCP[iptables]}")" "$(ratio "${R_PPS[vsw-nat]}" "${R_PPS[iptables]}")" "$(ratio "${R_RTT[vsw-nat]}" "${R_RTT[iptables]}")"

echo
echo "== in-process (go test -bench): ns and allocations per operation"
"$GO" test -run '^$' -bench 'BenchmarkDecode|BenchmarkForward$|BenchmarkForward/|BenchmarkInputMasqueradedTCP|BenchmarkEstablished$|BenchmarkEstablished/|BenchmarkPush|BenchmarkPop' \
	-benchtime 1s ./header/ ./bridge/ ./datapath/ ./router/ ./nat/ ./vlan/ 2>/dev/null |
	awk '/^Benchmark/ {printf "  %-52s %12s %s", $1, $3, $4; for (i=5;i<=NF;i++) printf " %s", $i; print ""} /^ok|^FAIL/ {print "  " $0}'
