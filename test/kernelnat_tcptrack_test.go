//go:build linux

package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vswitchd/vswitchd/internal/testutil"
)

// trackScript replays the segment sequences of nat/testdata/
// tcp_sequences.json through a kernel router namespace (argv: the JSON
// file, the router namespace, its MACs on the original and the reply
// side). Original segments go 10.9.1.2:PORT → 10.9.2.2:443 out of ha,
// replies the other way out of hb, each sequence on its own port, each
// segment with its own IP ID; after each one the script reads the
// router's conntrack state of the sequence's connection. It prints, per
// sequence, per segment, whether the router forwarded it (the router drops
// what conntrack finds INVALID) and the state.
const trackScript = `
import json, subprocess, time
seqs = json.load(open(sys.argv[1]))
rns, rmac_o, rmac_r = sys.argv[2], sys.argv[3], sys.argv[4]
sn = AsyncSniffer(iface=['ha', 'hb'], filter='tcp', store=True)
sn.start()
time.sleep(0.5)
def state(port):
    out = subprocess.run(['ip', 'netns', 'exec', rns, 'cat', '/proc/net/nf_conntrack'], capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) > 5 and f[2] == 'tcp' and ('sport=%d ' % port) in line:
            return f[5]
    return ''
ipid, sent = 0, []
for i, sq in enumerate(seqs):
    port = 40000 + i
    loose = '0' if sq.get('no_loose') else '1'
    subprocess.run(['ip', 'netns', 'exec', rns, 'sysctl', '-qw', 'net.netfilter.nf_conntrack_tcp_loose=' + loose], check=True)
    res = []
    for g in sq['segs']:
        ipid += 1
        tcp = dict(flags=g['flags'], seq=g['seq'], ack=g.get('ack', 0), window=g.get('win') or 64240)
        if g['dir'] == 'original':
            p = Ether(dst=rmac_o)/IP(src='10.9.1.2', dst='10.9.2.2', id=ipid)/TCP(sport=port, dport=443, **tcp)
            iface = 'ha'
        else:
            p = Ether(dst=rmac_r)/IP(src='10.9.2.2', dst='10.9.1.2', id=ipid)/TCP(sport=443, dport=port, **tcp)
            iface = 'hb'
        if g.get('len'):
            p = p/Raw(b'x' * g['len'])
        sendp(p, iface=iface, verbose=0)
        time.sleep(0.05)
        res.append({'id': ipid, 'state': state(port)})
    sent.append(res)
time.sleep(0.5)
pkts = sn.stop()
fwd = set(p[IP].id for p in pkts if IP in p and p[Ether].src in (rmac_o, rmac_r))
print(json.dumps([[{'forwarded': r['id'] in fwd, 'state': r['state']} for r in res] for res in sent]))
`

// TestPrivilegedKernelTCPTracking is the differential test of vswitchd's
// TCP tracker: the table of segment sequences its unit test (nat
// TestTCPWindow) runs, replayed by scapy through a kernel router whose
// conntrack drops INVALID segments (nf_conntrack_tcp_be_liberal=0, the
// default). For every segment, the kernel must forward exactly those the
// table says are valid and leave the connection in the state the table
// says, so the table is the kernel's behaviour.
func TestPrivilegedKernelTCPTracking(t *testing.T) {
	testutil.Privileged(t)
	testutil.RequireTools(t, "scapy", "iptables")
	l := &lab{name: "vsl-" + randHex(3)}
	h, r := l.newNS(t, "th"), l.newNS(t, "tr")
	veth(t, h.name, "ha", r.name, "ra")
	veth(t, h.name, "hb", r.name, "rb")
	addAddr(t, r.name, "ra", "10.9.1.1/24")
	addAddr(t, r.name, "rb", "10.9.2.1/24")
	mac := func(ns, ifname string) string {
		t.Helper()
		res := nsRun(ns, "cat", "/sys/class/net/"+ifname+"/address")
		if res.code != 0 {
			t.Fatal(res)
		}
		return strings.TrimSpace(res.stdout)
	}
	for _, c := range [][]string{
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"ip", "neigh", "replace", "10.9.1.2", "lladdr", mac(h.name, "ha"), "dev", "ra", "nud", "permanent"},
		{"ip", "neigh", "replace", "10.9.2.2", "lladdr", mac(h.name, "hb"), "dev", "rb", "nud", "permanent"},
		{"iptables", "-A", "FORWARD", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"},
	} {
		if res := r.run(c...); res.code != 0 {
			t.Fatalf("%s: %v", strings.Join(c, " "), res)
		}
	}
	if res := r.run("sysctl", "-n", "net.netfilter.nf_conntrack_tcp_be_liberal"); strings.TrimSpace(res.stdout) != "0" {
		t.Fatalf("nf_conntrack_tcp_be_liberal: %v", res)
	}

	file, err := filepath.Abs("../nat/testdata/tcp_sequences.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var table []struct {
		Name string `json:"name"`
		Segs []struct {
			Name    string `json:"name"`
			Invalid bool   `json:"invalid"`
			State   string `json:"state"`
		} `json:"segs"`
	}
	if err := json.Unmarshal(b, &table); err != nil {
		t.Fatal(err)
	}
	res := scapy(t, h.name, trackScript, file, r.name, mac(r.name, "ra"), mac(r.name, "rb"))
	var got [][]struct {
		Forwarded bool   `json:"forwarded"`
		State     string `json:"state"`
	}
	if res.code != 0 || json.Unmarshal([]byte(lastLine(res.stdout)), &got) != nil || len(got) != len(table) {
		t.Fatalf("scapy: %v", res)
	}
	for i, sq := range table {
		if len(got[i]) != len(sq.Segs) {
			t.Fatalf("%s: %d results for %d segments", sq.Name, len(got[i]), len(sq.Segs))
		}
		for j, g := range sq.Segs {
			k := got[i][j]
			if k.Forwarded == g.Invalid || k.State != g.State {
				t.Errorf("%s, %s: the kernel forwarded=%v state=%q; the table says invalid=%v state=%q",
					sq.Name, g.Name, k.Forwarded, k.State, g.Invalid, g.State)
			}
		}
	}
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	return ls[len(ls)-1]
}
