package daemon

import (
	"runtime"

	"github.com/vswitchd/vswitchd/host"
	"github.com/vswitchd/vswitchd/state"
)

// routerRuntime returns what the router's configuration needs beyond the
// state: the ports of the host leg and the uplink, the uplink's MTU as the
// kernel reports it now (the router's path MTU handling needs it; an
// interface whose MTU cannot be read counts as 1500 bytes), and the
// switches. Callers hold mu.
func (d *Daemon) routerRuntime() state.Runtime {
	hl := d.hostLeg
	rt := state.Runtime{Host: &hl, UplinkPort: d.uplinkPort, NoARPSuppression: d.cfg.NoARPSuppression, MSSClamp: !d.cfg.NoMSSClamp}
	if q, ok := d.host.(host.MTUQuerier); ok && d.st.Uplink != nil && d.uplinkPort != 0 {
		if mtu, err := q.LinkMTU(d.st.Uplink.Interface); err == nil {
			rt.UplinkMTU = mtu
		} else {
			d.log.Warn("read the uplink's MTU; assuming 1500", "interface", d.st.Uplink.Interface, "err", err)
		}
	}
	return rt
}

// uplinkQueues is how many receive queues the uplink gets: one worker per
// CPU, up to 4 (beyond that the single writer of each endpoint TAP
// dominates).
func uplinkQueues() int { return min(runtime.GOMAXPROCS(0), 4) }

// DefaultTAPQueues is the default of Config.TAPQueues: as many queues as
// the uplink's, one per CPU up to 4.
func DefaultTAPQueues() int { return uplinkQueues() }

// spreadUplink asks an uplink port that can (an AF_PACKET port) to receive
// on several PACKET_FANOUT_HASH sockets, so the datapath runs a worker per
// socket and flows through the masquerade or to published ports are
// handled on several cores, each flow in order. It is best effort: a port
// that cannot stays on one queue.
func (d *Daemon) spreadUplink(dev any, name string) {
	f, ok := dev.(interface{ EnableFanout(int) error })
	if !ok {
		return
	}
	if err := f.EnableFanout(uplinkQueues()); err != nil {
		d.log.Warn("uplink stays on one receive queue", "interface", name, "err", err)
	}
}
