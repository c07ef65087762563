package port

// ID identifies a port of a datapath for the port's whole life. The MAC
// table, the router and the datapath's port table all key on it.
type ID uint16

// Sentinel IDs; no real port has them (datapath.MaxPorts is far below).
const (
	// None stands for no port: a MAC table answer with nothing learned.
	None ID = 0xffff
	// Router is the pseudo-port of the switch's router: each network's
	// gateway MAC is a static MAC table entry pointing at it.
	Router ID = 0xfffe
)
