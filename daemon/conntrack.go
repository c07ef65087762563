package daemon

import (
	"strconv"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/nat"
)

// Conntrack implements control.Backend.
func (d *Daemon) Conntrack() []control.Conn {
	es := d.rt.NAT().Entries(d.dp.Now())
	out := make([]control.Conn, 0, len(es))
	for _, e := range es {
		c := control.Conn{
			Proto: protoName(e.Proto), Timeout: int(e.Timeout.Seconds()), Zone: int(e.Zone), ReplyZone: int(e.ReplyZone),
			Orig: tuple(e.Original), Reply: tuple(e.Reply), Assured: e.Assured,
			Packets: e.Packets[0] + e.Packets[1], Bytes: e.Bytes[0] + e.Bytes[1],
		}
		if e.Proto == header.ProtoTCP {
			c.State = e.State.String()
		}
		out = append(out, c)
	}
	return out
}

func tuple(t nat.Tuple) control.Tuple {
	return control.Tuple{Src: t.Src.String(), Dst: t.Dst.String(), SrcPort: int(t.SrcPort), DstPort: int(t.DstPort)}
}

func protoName(p uint8) string {
	switch p {
	case header.ProtoTCP:
		return "tcp"
	case header.ProtoUDP:
		return "udp"
	case header.ProtoICMP:
		return "icmp"
	}
	return strconv.Itoa(int(p))
}

// FlushConntrack implements control.Backend.
func (d *Daemon) FlushConntrack() int { return d.rt.NAT().Flush() }

func natStats(s nat.Stats) map[string]uint64 {
	return map[string]uint64{
		"created": s.Created, "expired": s.Expired, "early_dropped": s.EarlyDropped, "flushed": s.Flushed,
		"table_full": s.TableFull, "no_port": s.NoPort, "invalid": s.Invalid, "unsupported": s.Unsupported,
		"fragments_translated": s.FragmentsTranslated, "fragments_dropped": s.FragmentsDropped,
		"icmp_errors_translated": s.ICMPErrorsTranslated,
	}
}
