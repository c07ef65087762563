package nat

// Zone is a conntrack zone: the domain a packet arrived from (a network, the
// host leg, the uplink). Keys are per zone, so two networks may use the same
// addresses without their connections meeting.
type Zone uint16
