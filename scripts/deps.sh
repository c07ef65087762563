#!/usr/bin/env bash
# scripts/deps.sh [--check | --list] TARGET... — the tools a make target
# needs, checked on PATH and installed when missing.
#
#   TARGET    demo, test, bench or race (the make targets that run real
#             tools; race needs a C compiler for -race, and test's tools)
#   (none)    install what is missing with apt-get when run as root on
#             Debian or Ubuntu; otherwise print the apt-get command and fail
#   --check   only report: print what is missing and the apt-get command,
#             exit 1 if anything is; install nothing
#   --list    print the TOOL PACKAGE pairs TARGET needs, one a line
#
# The table below is the one list of what the tests, make demo and make
# bench run (.ci/run uses it too). The check uses bash builtins only, so it
# works, and can be tested, with any PATH.
set -euo pipefail

# tool            Debian/Ubuntu package   make targets that need it
TABLE='
make              make                    demo test bench race
gcc               gcc                     race
ip                iproute2                demo test bench
ss                iproute2                test
tc                iproute2                test
nstat             iproute2                test
ping              iputils-ping            demo test bench
nc                netcat-openbsd          demo test
nsenter           util-linux              test
setpriv           util-linux              test
ps                procps                  test
sleep             coreutils               demo test bench
cat               coreutils               test
id                coreutils               test
grep              grep                    test
iperf3            iperf3                  test bench
tcpdump           tcpdump                 test
tshark            tshark                  test
podman            podman                  test
runc              runc                    test
busybox           busybox-static          test
dig               dnsutils                test
arping            arping                  test
socat             socat                   test
traceroute        traceroute              test
tracepath         iputils-tracepath       test
scapy             python3-scapy           test
python3           python3-minimal         test
ethtool           ethtool                 test
dnsmasq           dnsmasq-base            test bench
ovs-vswitchd      openvswitch-switch      test
ovs-vsctl         openvswitch-switch      test
ovsdb-server      openvswitch-switch      test
ovsdb-tool        openvswitch-switch      test
ovs-appctl        openvswitch-switch      test
iptables          iptables                test bench
docker-proxy      docker.io               bench
dnsperf           dnsperf                 bench
chromium          chromium                test
'

mode=install
case "${1:-}" in
--check) mode=check; shift ;;
--list) mode=list; shift ;;
esac
if [ $# = 0 ]; then
	echo "usage: scripts/deps.sh [--check | --list] demo|test|bench|race..." >&2
	exit 2
fi
for target in "$@"; do
	case "$target" in
	demo | test | bench | race) ;;
	*) echo "deps.sh: unknown target $target (demo, test, bench or race)" >&2; exit 2 ;;
	esac
done
what="make $*"

# needed prints "TOOL PACKAGE" for every tool the targets need, in table
# order, each once.
needed() {
	local tool pkg targets t
	declare -A seen=()
	while read -r tool pkg targets; do
		[ -n "$tool" ] || continue
		for t in "$@"; do
			if [[ " $targets " == *" $t "* ]] && [ -z "${seen[$tool]:-}" ]; then
				seen[$tool]=1
				echo "$tool $pkg"
			fi
		done
	done <<<"$TABLE"
}

# missing sets MISSING_TOOLS and MISSING_PKGS (each package once) from
# what is not on PATH.
missing() {
	local tool pkg
	declare -A seen=()
	MISSING_TOOLS=()
	MISSING_PKGS=()
	while read -r tool pkg; do
		command -v "$tool" >/dev/null 2>&1 && continue
		MISSING_TOOLS+=("$tool")
		if [ -z "${seen[$pkg]:-}" ]; then
			seen[$pkg]=1
			MISSING_PKGS+=("$pkg")
		fi
	done < <(needed "$@")
}

if [ "$mode" = list ]; then
	needed "$@"
	exit 0
fi

missing "$@"
[ ${#MISSING_TOOLS[@]} = 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${MISSING_PKGS[*]}"
report() {
	echo "$what needs: ${MISSING_TOOLS[*]} (not on PATH)" >&2
	echo "install them with: $1$cmd" >&2
}

if [ "$mode" = check ]; then
	report ""
	exit 1
fi
if [ "$EUID" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	if [ "$EUID" != 0 ]; then
		report "sudo "
	else
		report ""
		echo "(Debian/Ubuntu package names; this system has no apt-get)" >&2
	fi
	[ "$*" = test ] && echo "make test-unit runs the unit tests alone, without these tools" >&2
	exit 1
fi

echo "== $what: installing ${MISSING_PKGS[*]} (for ${MISSING_TOOLS[*]})"
export DEBIAN_FRONTEND=noninteractive
# Installing a package must not start its service (openvswitch-switch, for
# instance): the tests start what they need, by hand, in namespaces.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	made_policy=1
	trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${MISSING_PKGS[@]}" >/dev/null
if [ "$made_policy" = 1 ]; then
	rm -f "$policy"
	trap - EXIT
fi

missing "$@"
if [ ${#MISSING_TOOLS[@]} != 0 ]; then
	echo "apt-get installed ${cmd##*recommends }, but these are still not on PATH ($PATH): ${MISSING_TOOLS[*]}" >&2
	exit 1
fi
