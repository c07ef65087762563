#!/usr/bin/env bash
# make bench — vswitchd next to the kernel (and next to docker-proxy and
# Open vSwitch where they stand in for it), measured the same way in the
# same run, in namespaces this script creates and deletes. Traffic never
# leaves them.
#
# Topologies, all built first and kept up for the whole run:
#   bridge     two namespaces on a Linux bridge through veth pairs
#   vswitchd   two vswitchd endpoints on one network (TAPs, offloads); the
#              daemon runs in its --lab namespace, which plays the host
#   iptables   kernel routing + iptables MASQUERADE and DNAT in a router
#              namespace (which plays the host for the host → published
#              port rows: DNAT of 127.0.0.1 with route_localnet, and
#              docker-proxy, the userland proxy Docker runs per port)
#   vsw-nat    a vswitchd endpoint through the switch's masquerade and its
#              uplink (a veth) to a server namespace; published ports
#   ovs        Open vSwitch's userspace datapath (datapath_type=netdev)
#              with two TAP ports, when ovs-vswitchd is installed
#   overlay    two hosts joined by a veth underlay: kernel vxlan devices on
#              Linux bridges, and two vswitchd daemons on an overlay network
#
# Every metric is measured BENCH_RUNS times (default 3) for BENCH_SECONDS
# (default 3; BENCH_ONLY="sw nat pub host dns vx" picks groups) and the kernel's and vswitchd's runs are interleaved run by
# run, alternating which goes first, so that noise from the rest of the
# machine hits both. Reported: median and min–max per row, the ratio of
# the medians, the switch's CPU per Gbit/s (its /proc/PID/stat time) next
# to the kernel's softirq time per Gbit/s (/proc/stat), one summary line of
# ratios, and every row in a TSV file (BENCH_TSV, default bin/bench.tsv).
# Then the in-process Go benchmarks (ns and allocations per frame).
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

SECS=${BENCH_SECONDS:-3}
RUNS=${BENCH_RUNS:-3}
TSV=${BENCH_TSV:-bin/bench.tsv}
case "$SECS$RUNS" in *[!0-9]*) echo "BENCH_SECONDS and BENCH_RUNS must be whole numbers" >&2; exit 2 ;; esac
[ "$SECS" -ge 1 ] && [ "$RUNS" -ge 1 ] || { echo "BENCH_SECONDS and BENCH_RUNS must be at least 1" >&2; exit 2; }
LIMIT=$((SECS + 20)) # bound on any one client command
ID=$$
DIR=$(mktemp -d /tmp/vswitchd-bench.XXXXXX)
NSES=()
PIDS=()
export VSWITCHD_SOCKET="$DIR/vswitchd.sock"
CTL="$PWD/bin/vswitchctl"
OVS=""

cleanup() {
	if [ -n "$OVS" ]; then
		for f in "$DIR"/ovs/*.pid; do [ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null || true; done
	fi
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
# bg NS CMD… starts CMD in namespace NS in the background (stopped at exit)
# (fd 3 open: docker-proxy reports readiness on it and closes it)
bg() { local ns="$1"; shift; ip netns exec "$ns" "$@" >/dev/null 2>&1 3>/dev/null & PIDS+=($!); }
# inns NS CMD… runs a client command in NS, bounded by LIMIT seconds
inns() { local ns="$1"; shift; timeout -k 2 "$LIMIT" ip netns exec "$ns" "$@"; }

# --- results: VALS[ROW] holds the runs' values, space separated
declare -A VALS UNIT
ROWS=()
add() { # ROW UNIT VALUE
	[ -n "${3:-}" ] || return 0
	[ -n "${UNIT[$1]:-}" ] || { UNIT[$1]=$2; ROWS+=("$1"); }
	VALS[$1]="${VALS[$1]:-} $3"
}
# stat ROW → "median min max n" (nan when no run succeeded)
stat() {
	printf '%s\n' ${VALS[$1]:-} | sort -g | awk 'NF {a[++n]=$1} END {if (!n) print "nan nan nan 0"; else print (n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2), a[1], a[n], n}'
}
m() { local row="$1" unit="$2"; shift 2; add "$row" "$unit" "$("$@")"; } # m ROW UNIT CMD…
med() { local m; read -r m _ < <(stat "$1"); echo "$m"; }

# --- clients; each prints one number or nothing
tcp() { # NS ADDR PORT [iperf3 args…] → Gbit/s received
	local ns="$1" addr="$2" port="$3"; shift 3
	inns "$ns" iperf3 -c "$addr" -p "$port" -t "$SECS" -J "$@" 2>/dev/null |
		awk '/"sum_received"/{f=1} f && /"bits_per_second"/{gsub(/[,]/,""); print $2/1e9; exit}' || true
}
udp64() { # NS ADDR PORT → 64-byte datagrams received per second (sender-bound)
	inns "$1" iperf3 -c "$2" -p "$3" -t "$SECS" -u -l 64 -b 0 -J 2>/dev/null |
		awk '/"sum_received"/{f=1} f && /"bits_per_second"/{gsub(/[,]/,""); print $2/512; exit}' || true
}
rtt() { # NS ADDR → mean RTT in ms of 100 pings 10 ms apart
	inns "$1" ping -q -c 100 -i 0.01 "$2" 2>/dev/null | awk -F/ '/^rtt|^round-trip/{print $5}' || true
}
# conns ROW NS ADDR:PORT [connrate args…] adds new connections per second
# (32 clients) to ROW and their 99th percentile time to open, get one
# byte and close to ROW/p99
conns() {
	local row="$1" ns="$2" addr="$3" out; shift 3
	out=$(inns "$ns" "$CONNRATE" load "$addr" -c 32 -t "${SECS}s" "$@" 2>/dev/null) || true
	add "$row" conn/s "$(awk '{print $1}' <<<"$out")"
	add "$row/p99" ms "$(awk '{print $3}' <<<"$out")"
}
dns() { # NS SERVER FILE → queries per second answered
	inns "$1" dnsperf -s "$2" -d "$3" -l "$SECS" -c 4 -q 200 2>/dev/null | awk '/Queries per second/{print $4}' || true
}

# --- CPU accounting: the switch's process time and the kernel's softirq
# time, in cores, over what a function call measures.
CLK=$(getconf CLK_TCK)
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # utime + stime
softirq_ticks() { awk '/^cpu /{print $8}' /proc/stat; }
# cpu ROW-PREFIX PID CMD… runs CMD (which prints Gbit/s), adds the value to
# ROW-PREFIX and the cores per Gbit/s to ROW-PREFIX/cpu (the process's,
# PID 0 for none) and ROW-PREFIX/softirq
cpu() {
	local row="$1" pid="$2" v p0 p1 s0 s1 t0 t1; shift 2
	p0=0; [ "$pid" = 0 ] || p0=$(proc_ticks "$pid")
	s0=$(softirq_ticks); t0=$(date +%s.%N)
	v=$("$@")
	t1=$(date +%s.%N); s1=$(softirq_ticks)
	p1=0; [ "$pid" = 0 ] || p1=$(proc_ticks "$pid")
	add "$row" Gbit/s "$v"
	[ -n "$v" ] || return 0
	if [ "$pid" != 0 ]; then
		add "$row/cpu" core·s/Gbit "$(awk -v d=$((p1 - p0)) -v c="$CLK" -v t0="$t0" -v t1="$t1" -v g="$v" 'BEGIN{if (g > 0) printf "%.4f", d/c/(t1-t0)/g}')"
	fi
	add "$row/softirq" core·s/Gbit "$(awk -v d=$((s1 - s0)) -v c="$CLK" -v t0="$t0" -v t1="$t1" -v g="$v" 'BEGIN{if (g > 0) printf "%.4f", d/c/(t1-t0)/g}')"
}

# want GROUP: whether BENCH_ONLY (groups separated by spaces: sw nat pub
# host dns vx; empty: all) includes GROUP.
want() { [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]]; }

# pair RUN A-CMD… -- B-CMD… runs the two commands in an order that
# alternates with the run number: the first of a pair goes first in odd
# runs, second in even runs.
pair() {
	local run="$1" a=() b=(); shift
	while [ "$1" != -- ]; do a+=("$1"); shift; done
	shift
	b=("$@")
	if [ $((run % 2)) = 1 ]; then "${a[@]}"; "${b[@]}"; else "${b[@]}"; "${a[@]}"; fi
}

"$GO" build -o "$DIR/connrate" ./scripts/connrate
CONNRATE="$DIR/connrate"

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
bg "$A2" iperf3 -s -p 5201

# --- vswitchd, two endpoints, an uplink, published ports, DNS upstream
LAB=vbl$ID
./bin/vswitchd --lab "$LAB" --socket "$VSWITCHD_SOCKET" --state-dir "$DIR/state" --netns-prefix "vb$ID-" \
	--dns-upstream 127.0.0.1:5353 --log-level warn >"$DIR/vswitchd.log" 2>&1 &
VSW=$!
PIDS+=("$VSW")
for _ in $(seq 100); do "$CTL" version >/dev/null 2>&1 && break; sleep 0.1; done
# --lab runs the daemon as a child inside the namespace: its CPU is what counts.
VSWD=$(cat /proc/"$VSW"/task/*/children 2>/dev/null | awk '{print $1; exit}')
[ -n "$VSWD" ] || VSWD=$VSW
"$CTL" network create --subnet 10.78.0.0/24 --gateway 10.78.0.1 bench >/dev/null
"$CTL" run -d --net bench --name c1 --ip 10.78.0.11 >/dev/null
"$CTL" run -d --net bench --name c2 --ip 10.78.0.12 >/dev/null
E1=vb$ID-c1; E2=vb$ID-c2
S2=vbt$ID
mkns "$S2"
ip -n "$LAB" link add up0 type veth peer name eth0 netns "$S2"
ip -n "$LAB" link set up0 up
ip -n "$S2" addr add 198.18.0.1/24 dev eth0; ip -n "$S2" link set eth0 up
"$CTL" uplink set up0 --address 198.18.0.2/24 --gateway 198.18.0.1 >/dev/null
bg "$E2" iperf3 -s -p 5201
bg "$E1" iperf3 -s -p 5201
bg "$S2" iperf3 -s -p 5201
bg "$E2" "$CONNRATE" serve 0.0.0.0:8081
"$CTL" publish c1 5301:5201 >/dev/null  # outside → c1 (8 streams)
"$CTL" publish c2 5401:5201 >/dev/null  # host → c2 (bulk)
"$CTL" publish c2 8081:8081 >/dev/null  # host and outside → c2 (connections)

# --- kernel routing + iptables MASQUERADE / DNAT; docker-proxy
RT=vbr$ID; C=vbk$ID; S=vbs$ID
mkns "$RT"; mkns "$C"; mkns "$S"
ip -n "$RT" link add in0 type veth peer name eth0 netns "$C"
ip -n "$RT" link add out0 type veth peer name eth0 netns "$S"
ip -n "$RT" addr add 10.79.0.1/24 dev in0; ip -n "$RT" link set in0 up
ip -n "$RT" addr add 203.0.113.1/24 dev out0; ip -n "$RT" link set out0 up
ip -n "$C" addr add 10.79.0.2/24 dev eth0; ip -n "$C" link set eth0 up; ip -n "$C" route add default via 10.79.0.1
ip -n "$S" addr add 203.0.113.2/24 dev eth0; ip -n "$S" link set eth0 up
ip netns exec "$RT" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$RT" sysctl -qw net.ipv4.conf.all.route_localnet=1
# The host → published port connections are masqueraded to 10.79.0.1, and
# each leaves a conntrack entry in TIME_WAIT for 120 s: a 3 s run at 8,000
# connections/s takes most of the 28,000 source ports, and the next run's
# DNAT then finds none free (it measured 800/s). 1 s frees them between runs.
ip netns exec "$RT" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1
ipt() { ip netns exec "$RT" iptables "$@"; }
ipt -t nat -A POSTROUTING -o out0 -j MASQUERADE
for p in 5301:5201 8081:8081; do # outside → C, as Docker's DNAT
	ipt -t nat -A PREROUTING -i out0 -p tcp --dport "${p%:*}" -j DNAT --to-destination "10.79.0.2:${p#*:}"
done
for p in 5401:5201 8081:8081; do # host's 127.0.0.1 → C, as Docker without its userland proxy
	ipt -t nat -A OUTPUT -d 127.0.0.1 -p tcp --dport "${p%:*}" -j DNAT --to-destination "10.79.0.2:${p#*:}"
done
ipt -t nat -A POSTROUTING -o in0 -s 127.0.0.0/8 -j MASQUERADE
bg "$C" iperf3 -s -p 5201
bg "$S" iperf3 -s -p 5201
bg "$C" "$CONNRATE" serve 10.79.0.2:8081
for p in 5402:5201 8082:8081; do # host's 127.0.0.1 → C through docker-proxy
	bg "$RT" docker-proxy -proto tcp -host-ip 127.0.0.1 -host-port "${p%:*}" -container-ip 10.79.0.2 -container-port "${p#*:}"
done

# --- DNS: an upstream dnsmasq answering bench.test on 127.0.0.1:5353 of
# each host; the kernel side's forwarder is dnsmasq on the router's inside
# address, vswitchd's its gateway DNS. The 100 hot names h1…h100 have a TTL
# of 600 s, so both forwarders cache them; every other name gets dnsmasq's
# local TTL of 0, which neither caches: the forwarded row measures
# forwarding, not cache churn.
dnsmasq_args=(-k -C /dev/null -u root --no-resolv --no-hosts --bind-interfaces)
up_args=(--port=5353 --listen-address=127.0.0.1 --address=/bench.test/192.0.2.7
	--host-record="$(seq -f 'h%g.bench.test' 1 100 | paste -sd,),192.0.2.7,600")
bg "$LAB" dnsmasq "${dnsmasq_args[@]}" "${up_args[@]}" --pid-file="$DIR/up1.pid"
bg "$RT" dnsmasq "${dnsmasq_args[@]}" "${up_args[@]}" --pid-file="$DIR/up2.pid"
bg "$RT" dnsmasq "${dnsmasq_args[@]}" --listen-address=10.79.0.1 --server=127.0.0.1#5353 --cache-size=10000 --pid-file="$DIR/fwd.pid"
# 100 names asked over and over (answered from the caches) and 300,000
# distinct names (all forwarded upstream).
for i in $(seq 100); do echo "h$i.bench.test A"; done >"$DIR/dns-hot"
awk 'BEGIN {for (i = 0; i < 300000; i++) printf "u%d.bench.test A\n", i}' >"$DIR/dns-cold"

# --- Open vSwitch userspace datapath with TAP ports
if command -v ovs-vswitchd >/dev/null && command -v ovsdb-server >/dev/null && [ -f /usr/share/openvswitch/vswitch.ovsschema ]; then
	O=vbo$ID; O1=vbp$ID; O2=vbq$ID
	mkns "$O"; mkns "$O1"; mkns "$O2"
	mkdir -p "$DIR/ovs"
	ovs() { OVS_RUNDIR="$DIR/ovs" OVS_DBDIR="$DIR/ovs" OVS_LOGDIR="$DIR/ovs" OVS_SYSCONFDIR="$DIR/ovs" "$@"; }
	vsctl() { ovs timeout 20 ovs-vsctl --db="unix:$DIR/ovs/db.sock" "$@"; }
	ovs ovsdb-tool create "$DIR/ovs/conf.db" /usr/share/openvswitch/vswitch.ovsschema
	ovs ip netns exec "$O" ovsdb-server "$DIR/ovs/conf.db" --remote="punix:$DIR/ovs/db.sock" --pidfile="$DIR/ovs/ovsdb.pid" \
		--unixctl="$DIR/ovs/ovsdb.ctl" --log-file="$DIR/ovs/ovsdb.log" -vconsole:off --detach >/dev/null 2>&1
	vsctl --no-wait init
	ovs ip netns exec "$O" ovs-vswitchd "unix:$DIR/ovs/db.sock" --pidfile="$DIR/ovs/vswitchd.pid" --unixctl="$DIR/ovs/vswitchd.ctl" \
		--log-file="$DIR/ovs/vswitchd.log" -vconsole:off --detach >/dev/null 2>&1
	OVS=$(cat "$DIR/ovs/vswitchd.pid")
	vsctl set Open_vSwitch . other_config:userspace-tso-enable=true
	vsctl add-br br0 -- set Bridge br0 datapath_type=netdev
	for i in 1 2; do
		vsctl add-port br0 ot$i -- set Interface ot$i type=tap
	done
	for i in 1 2; do
		ns=$([ $i = 1 ] && echo "$O1" || echo "$O2")
		ip -n "$O" link set ot$i netns "$ns"
		ip -n "$ns" addr add 10.76.0.$i/24 dev ot$i
		ip -n "$ns" link set ot$i up
	done
	bg "$O2" iperf3 -s -p 5201
	if ! inns "$O1" ping -c1 -W3 10.76.0.2 >/dev/null 2>&1; then
		echo "  (Open vSwitch: TAP ports do not pass traffic; its rows are left out)"
		OVS=""
	fi
fi

# --- overlay across two hosts, each host a namespace, the two joined by a
# veth "underlay". Kernel: on each host a vxlan device (VNI 4242, port
# 4789) on a Linux bridge with a namespace behind it (MTU 1450, as a
# vxlan device's). vswitchd: two --lab daemons with an overlay network
# (the same VNI and port; MTU 1450 by default) and an endpoint each.
if want vx; then
	KA=vxka$ID; KB=vxkb$ID; K1=vxkc$ID; K2=vxkd$ID
	mkns "$KA"; mkns "$KB"; mkns "$K1"; mkns "$K2"
	ip -n "$KA" link add ul0 type veth peer name ul0 netns "$KB"
	for h in 1 2; do
		hn=$([ $h = 1 ] && echo "$KA" || echo "$KB"); cn=$([ $h = 1 ] && echo "$K1" || echo "$K2")
		ip -n "$hn" addr add 10.98.0.$h/24 dev ul0; ip -n "$hn" link set ul0 up
		ip -n "$hn" link add vx0 type vxlan id 4242 local 10.98.0.$h remote 10.98.0.$((3 - h)) dstport 4789
		ip -n "$hn" link add br0 type bridge
		ip -n "$hn" link set vx0 master br0 up; ip -n "$hn" link set br0 up
		ip -n "$hn" link add p0 type veth peer name eth0 netns "$cn"
		ip -n "$hn" link set p0 master br0 up
		ip -n "$cn" link set eth0 mtu 1450
		ip -n "$cn" addr add 10.73.0.$h/24 dev eth0; ip -n "$cn" link set eth0 up
	done
	bg "$K2" iperf3 -s -p 5201
	VXPIDS=()
	for h in a b; do
		./bin/vswitchd --lab "vxv$h$ID" --socket "$DIR/vx$h.sock" --state-dir "$DIR/vx$h.state" \
			--netns-prefix "vx$h$ID-" --log-level warn >"$DIR/vx$h.log" 2>&1 &
		PIDS+=($!); VXPIDS+=($!)
	done
	VXA="$CTL --socket $DIR/vxa.sock"; VXB="$CTL --socket $DIR/vxb.sock"
	for _ in $(seq 100); do $VXA version >/dev/null 2>&1 && $VXB version >/dev/null 2>&1 && break; sleep 0.1; done
	ip -n "vxva$ID" link add ul0 type veth peer name ul0 netns "vxvb$ID"
	ip -n "vxva$ID" addr add 10.97.0.1/24 dev ul0; ip -n "vxva$ID" link set ul0 up
	ip -n "vxvb$ID" addr add 10.97.0.2/24 dev ul0; ip -n "vxvb$ID" link set ul0 up
	$VXA network create ov --subnet 10.72.0.0/24 --vni 4242 --peer 10.97.0.2 >/dev/null
	$VXB network create ov --subnet 10.72.0.0/24 --vni 4242 --peer 10.97.0.1 >/dev/null
	$VXA run -d --net ov --name o1 --ip 10.72.0.11 >/dev/null
	$VXB run -d --net ov --name o2 --ip 10.72.0.12 >/dev/null
	V1=vxa$ID-o1; V2=vxb$ID-o2
	bg "$V2" iperf3 -s -p 5201
	# Both daemons work for the overlay; the CPU column counts host A's.
	VXD=$(cat /proc/"${VXPIDS[0]}"/task/*/children 2>/dev/null | awk '{print $1; exit}')
	[ -n "$VXD" ] || VXD=${VXPIDS[0]}
	sleep 1
	inns "$K1" ping -c1 -W2 10.73.0.2 >/dev/null
	inns "$V1" ping -c1 -W2 10.72.0.12 >/dev/null
fi

sleep 1
inns "$A1" ping -c1 -W2 10.77.0.2 >/dev/null
inns "$E1" ping -c1 -W2 10.78.0.12 >/dev/null
inns "$E1" ping -c1 -W2 198.18.0.1 >/dev/null
inns "$C" ping -c1 -W2 203.0.113.2 >/dev/null
# Warm both DNS caches with the hot names.
dns "$C" 10.79.0.1 "$DIR/dns-hot" >/dev/null
dns "$E1" 10.78.0.1 "$DIR/dns-hot" >/dev/null

echo "== $RUNS runs × ${SECS} s, kernel and vswitchd interleaved; median [min–max]"
set +e # a failed measurement leaves its row short; the report still comes
for run in $(seq "$RUNS"); do
	echo "  run $run/$RUNS"
	# Switching: one TCP stream (with CPU), 64-byte UDP, RTT.
	want sw && pair "$run" cpu "sw/tcp/kernel" 0 tcp "$A1" 10.77.0.2 5201 -- cpu "sw/tcp/vswitchd" "$VSWD" tcp "$E1" 10.78.0.12 5201
	want sw && [ -n "$OVS" ] && cpu "sw/tcp/ovs" "$OVS" tcp "$O1" 10.76.0.2 5201
	want sw && pair "$run" m sw/udp64/kernel pkt/s udp64 "$A1" 10.77.0.2 5201 -- m sw/udp64/vswitchd pkt/s udp64 "$E1" 10.78.0.12 5201
	want sw && [ -n "$OVS" ] && m sw/udp64/ovs pkt/s udp64 "$O1" 10.76.0.2 5201
	want sw && pair "$run" m sw/rtt/kernel ms rtt "$A1" 10.77.0.2 -- m sw/rtt/vswitchd ms rtt "$E1" 10.78.0.12
	want sw && [ -n "$OVS" ] && m sw/rtt/ovs ms rtt "$O1" 10.76.0.2
	# Masquerade: one TCP stream, 8 streams, 64-byte UDP, RTT.
	want nat && pair "$run" cpu nat/tcp/kernel 0 tcp "$C" 203.0.113.2 5201 -- cpu nat/tcp/vswitchd "$VSWD" tcp "$E1" 198.18.0.1 5201
	want nat && pair "$run" cpu nat/tcp8/kernel 0 tcp "$C" 203.0.113.2 5201 -P 8 -- cpu nat/tcp8/vswitchd "$VSWD" tcp "$E1" 198.18.0.1 5201 -P 8
	want nat && pair "$run" m nat/udp64/kernel pkt/s udp64 "$C" 203.0.113.2 5201 -- m nat/udp64/vswitchd pkt/s udp64 "$E1" 198.18.0.1 5201
	want nat && pair "$run" m nat/rtt/kernel ms rtt "$C" 203.0.113.2 -- m nat/rtt/vswitchd ms rtt "$E1" 198.18.0.1
	# Published ports from outside: 8 streams, new connections/s.
	want pub && pair "$run" cpu pub/tcp8/kernel 0 tcp "$S" 203.0.113.1 5301 -P 8 -- cpu pub/tcp8/vswitchd "$VSWD" tcp "$S2" 198.18.0.2 5301 -P 8
	want pub && pair "$run" conns pub/conn/kernel "$S" 203.0.113.1:8081 -- conns pub/conn/vswitchd "$S2" 198.18.0.2:8081
	# The host's 127.0.0.1 → a published port: kernel DNAT, docker-proxy, vswitchd.
	want host && pair "$run" cpu host/tcp/kernel 0 tcp "$RT" 127.0.0.1 5401 -- cpu host/tcp/vswitchd "$VSWD" tcp "$LAB" 127.0.0.1 5401
	want host && cpu host/tcp/relay "$VSWD" tcp "$LAB" 127.0.0.1 5401 -B 127.0.0.1
	want host && cpu host/tcp/docker-proxy 0 tcp "$RT" 127.0.0.1 5402
	# vswitchd's connections are redirected to the endpoint by its
	# cgroup/connect4 program; a client bound to 127.0.0.1 is relayed.
	want host && pair "$run" conns host/conn/kernel "$RT" 127.0.0.1:8081 -- conns host/conn/vswitchd "$LAB" 127.0.0.1:8081
	want host && conns host/conn/relay "$LAB" 127.0.0.1:8081 -s 127.0.0.1
	want host && conns host/conn/docker-proxy "$RT" 127.0.0.1:8082
	# DNS at the gateway: dnsmasq vs vswitchd, cached and forwarded.
	want dns && pair "$run" m dns/cached/kernel query/s dns "$C" 10.79.0.1 "$DIR/dns-hot" -- m dns/cached/vswitchd query/s dns "$E1" 10.78.0.1 "$DIR/dns-hot"
	want dns && pair "$run" m dns/forwarded/kernel query/s dns "$C" 10.79.0.1 "$DIR/dns-cold" -- m dns/forwarded/vswitchd query/s dns "$E1" 10.78.0.1 "$DIR/dns-cold"
	# Overlay: one TCP stream and RTT between two hosts over VXLAN.
	want vx && pair "$run" cpu vx/tcp/kernel 0 tcp "$K1" 10.73.0.2 5201 -- cpu vx/tcp/vswitchd "$VXD" tcp "$V1" 10.72.0.12 5201
	want vx && pair "$run" m vx/rtt/kernel ms rtt "$K1" 10.73.0.2 -- m vx/rtt/vswitchd ms rtt "$V1" 10.72.0.12
	:
done
set -e

# --- report
declare -A LABEL=(
	[sw]="switching: Linux bridge vs vswitchd" [nat]="masquerade: iptables vs vswitchd"
	[pub]="published port from outside: iptables DNAT vs vswitchd"
	[host]="host 127.0.0.1 → published port: DNAT (route_localnet), docker-proxy, vswitchd"
	[dns]="DNS at the gateway: dnsmasq vs vswitchd"
	[vx]="overlay between two hosts: kernel vxlan on Linux bridges vs two vswitchd daemons"
)
declare -A KNAME=([sw]=bridge [nat]=iptables [pub]=iptables [host]="kernel DNAT" [dns]=dnsmasq [vx]="kernel vxlan")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "nan" && b != "nan" && b > 0) printf "%.2f", a/b; else print "-" }'; }
mkdir -p "$(dirname "$TSV")"
printf 'row\tunit\tmedian\tmin\tmax\truns\tratio_to_kernel\n' >"$TSV"
group=""
for row in "${ROWS[@]}"; do
	IFS=/ read -r g metric sys extra <<<"$row"
	if [ "$g" != "$group" ]; then group=$g; echo; echo "== ${LABEL[$g]}"; fi
	read -r m lo hi n < <(stat "$row")
	r="-"
	if [ -z "$extra" ] && [ "$sys" != kernel ]; then r=$(ratio "$m" "$(med "$g/$metric/kernel")"); fi
	name=$sys; [ "$sys" = kernel ] && name=${KNAME[$g]}
	[ -z "$extra" ] || name="$name $extra"
	fmt='%.2f'
	case "${UNIT[$row]}" in pkt/s | conn/s | query/s) fmt='%.0f' ;; ms) fmt='%.3f' ;; core*) fmt='%.3f' ;; esac
	printf "  %-9s %-22s $fmt %-12s [$fmt–$fmt]%s\n" "$metric" "$name" "$m" "${UNIT[$row]}" "$lo" "$hi" \
		"$([ "$r" = - ] || echo "   ${r}× kernel")" 2>/dev/null || printf '  %-8s %-24s %s\n' "$metric" "$name" "$m"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "${UNIT[$row]}" "$m" "$lo" "$hi" "$n" "$r" >>"$TSV"
done
echo
echo "  (cpu: the switch process's user+system time; softirq: the whole machine's kernel softirq time;"
echo "   both in cores per Gbit/s received — lower is better; the bridge's work is all softirq)"

r() { ratio "$(med "$1/vswitchd")" "$(med "$1/${2:-kernel}")"; }
known() { if [ "$1" = nan ]; then echo -; else echo "$1"; fi; } # a group BENCH_ONLY left out
echo
echo "summary (vswitchd ÷ kernel; RTT lower is better, the rest higher): " \
	"switch TCP $(r sw/tcp) UDP64 $(r sw/udp64) RTT $(r sw/rtt) |" \
	"masq TCP $(r nat/tcp) 8-streams $(r nat/tcp8) UDP64 $(r nat/udp64) RTT $(r nat/rtt) |" \
	"published 8-streams $(r pub/tcp8) conn/s $(r pub/conn) |" \
	"host→published TCP $(r host/tcp) (relay $(ratio "$(med host/tcp/relay)" "$(med host/tcp/kernel)"), ÷docker-proxy $(r host/tcp docker-proxy))" \
	"conn/s $(r host/conn) (relay $(ratio "$(med host/conn/relay)" "$(med host/conn/kernel)"), ÷docker-proxy $(r host/conn docker-proxy)) |" \
	"DNS cached $(r dns/cached) forwarded $(r dns/forwarded) |" \
	"overlay TCP $(r vx/tcp) RTT $(r vx/rtt) |" \
	"switch CPU $(known "$(med sw/tcp/vswitchd/cpu)") core/Gbit/s (bridge softirq $(known "$(med sw/tcp/kernel/softirq)"))"
echo "TSV: $TSV"

if [ -n "${BENCH_NO_GO:-}" ]; then exit 0; fi
echo
echo "== in-process (go test -bench): ns and allocations per operation"
"$GO" test -run '^$' -bench 'BenchmarkDecode|BenchmarkForward$|BenchmarkForward/|BenchmarkInputMasquerade|BenchmarkCreate|BenchmarkEstablished$|BenchmarkEstablished/|BenchmarkPush|BenchmarkPop|BenchmarkGRO|BenchmarkEncap|BenchmarkDecap' \
	-benchtime 1s ./header/ ./bridge/ ./datapath/ ./router/ ./nat/ ./vlan/ ./offload/ ./vxlan/ 2>/dev/null |
	awk '/^Benchmark/ {printf "  %-52s %12s %s", $1, $3, $4; for (i=5;i<=NF;i++) printf " %s", $i; print ""} /^ok|^FAIL/ {print "  " $0}'
