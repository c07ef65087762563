// Package capture writes what a datapath.Tap catches: a pcapng file (one
// interface block per port, named after it, each packet with its direction
// in the epb_flags option and a timestamp from the switch), or one summary
// line per packet. Offloaded super-frames are written as they crossed the
// switch, at their real length, with a comment saying so.
//
// It is off the forwarding path: workers only copy frames into the tap's
// ring, and this package drains it at its own pace.
//
// The entry points are NewPcapng, for a pcapng stream, and Summary, for
// the text form.
package capture

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vswitchd/vswitchd/datapath"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/port"
)

// Interface is a port as the capture file names it.
type Interface struct {
	Port port.ID
	Name string
	// Description says what the port is ("tap of endpoint web", "the
	// router").
	Description string
}

// Pcapng writes records as pcapng.
type Pcapng struct {
	w     *pcapgo.NgWriter
	index map[port.ID]int
	ports []Interface
	start time.Time
	count uint64
}

// NewPcapng writes a pcapng section header and one interface block per
// port to w, and returns the writer for the packets. snaplen is recorded
// in the interface blocks (0: none). filter, if not empty, is recorded as
// the interfaces' capture filter.
func NewPcapng(w io.Writer, ifaces []Interface, snaplen int, filter string) (*Pcapng, error) {
	if len(ifaces) == 0 {
		return nil, fmt.Errorf("capture: no interfaces")
	}
	opts := pcapgo.DefaultNgWriterOptions
	opts.SectionInfo.Application = "vswitchd"
	first := toNg(ifaces[0], snaplen, filter)
	ng, err := pcapgo.NewNgWriterInterface(w, first, opts)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	p := &Pcapng{w: ng, index: map[port.ID]int{ifaces[0].Port: 0}, ports: ifaces, start: time.Now()}
	for _, it := range ifaces[1:] {
		id, err := ng.AddInterface(toNg(it, snaplen, filter))
		if err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
		p.index[it.Port] = id
	}
	return p, ng.Flush()
}

func toNg(it Interface, snaplen int, filter string) pcapgo.NgInterface {
	return pcapgo.NgInterface{
		Name: it.Name, Description: it.Description, Filter: filter, OS: "Linux",
		LinkType: layers.LinkTypeEthernet, SnapLength: uint32(snaplen),
		TimestampResolution: 9, // nanoseconds
	}
}

// Write writes one record.
func (p *Pcapng) Write(r *datapath.Record) error {
	id, ok := p.index[r.Port]
	if !ok {
		return nil // a port the file has no block for
	}
	ci := gopacket.CaptureInfo{Timestamp: r.Time, CaptureLength: len(r.Data), Length: r.Len, InterfaceIndex: id}
	flags := pcapgo.NgEpbFlags{Direction: pcapgo.NgEpbFlagDirectionInbound}
	if r.Dir == datapath.Out {
		flags.Direction = pcapgo.NgEpbFlagDirectionOutbound
	}
	opts := pcapgo.NgPacketOptions{Flags: &flags}
	if c := offloadComment(r); c != "" {
		opts.Comments = []string{c}
	}
	p.count++
	return p.w.WritePacketWithOptions(ci, r.Data, opts)
}

// Flush flushes what was written to the underlying writer.
func (p *Pcapng) Flush() error { return p.w.Flush() }

// Close writes each interface's statistics — the frames the switch could
// not give the capture (dropped) go to the first — and flushes.
func (p *Pcapng) Close(dropped uint64) error {
	now := time.Now()
	for i := range p.ports {
		st := pcapgo.NgInterfaceStatistics{LastUpdate: now, StartTime: p.start, EndTime: now,
			PacketsReceived: pcapgo.NgNoValue64, PacketsDropped: pcapgo.NgNoValue64}
		if i == 0 {
			st.PacketsReceived, st.PacketsDropped = p.count, dropped
		}
		if err := p.w.WriteInterfaceStats(i, st); err != nil {
			return err
		}
	}
	return p.w.Flush()
}

// offloadComment describes an offloaded frame, or returns "".
func offloadComment(r *datapath.Record) string {
	vh := header.VirtioNet(r.Virtio[:])
	var parts []string
	if vh.IsGSO() {
		parts = append(parts, fmt.Sprintf("offloaded super-frame: %s, %d-byte segments", gsoName(vh.GSOType()), vh.GSOSize()))
	}
	if vh.NeedsCsum() {
		parts = append(parts, "checksum left to the receiver (CHECKSUM_PARTIAL)")
	}
	return strings.Join(parts, "; ")
}

func gsoName(t uint8) string {
	switch t {
	case header.VirtioNetGSOTCPv4:
		return "TCPv4 segmentation"
	case header.VirtioNetGSOTCPv6:
		return "TCPv6 segmentation"
	case header.VirtioNetGSOUDPL4:
		return "UDP segmentation"
	}
	return fmt.Sprintf("GSO type %d", t)
}

// Summary returns one line describing a record: time, port, direction and
// the decoded headers, as tcpdump would print them.
func Summary(r *datapath.Record, portName string) string {
	pk := gopacket.NewPacket(r.Data, layers.LayerTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %-3s ", r.Time.Format("15:04:05.000000"), portName, r.Dir)
	if eth, ok := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok {
		fmt.Fprintf(&b, "%s > %s", eth.SrcMAC, eth.DstMAC)
	}
	for _, l := range pk.Layers() {
		switch l := l.(type) {
		case *layers.Dot1Q:
			fmt.Fprintf(&b, ", vlan %d", l.VLANIdentifier)
		case *layers.ARP:
			if l.Operation == layers.ARPRequest {
				fmt.Fprintf(&b, ", ARP who-has %v tell %v", ipString(l.DstProtAddress), ipString(l.SourceProtAddress))
			} else {
				fmt.Fprintf(&b, ", ARP %v is-at %v", ipString(l.SourceProtAddress), hwString(l.SourceHwAddress))
			}
		case *layers.IPv4:
			fmt.Fprintf(&b, ", IP %v > %v ttl %d", l.SrcIP, l.DstIP, l.TTL)
		case *layers.IPv6:
			fmt.Fprintf(&b, ", IP6 %v > %v", l.SrcIP, l.DstIP)
		case *layers.TCP:
			fmt.Fprintf(&b, ", TCP %d > %d [%s] seq %d", l.SrcPort, l.DstPort, tcpFlags(l), l.Seq)
			if l.ACK {
				fmt.Fprintf(&b, " ack %d", l.Ack)
			}
		case *layers.UDP:
			fmt.Fprintf(&b, ", UDP %d > %d", l.SrcPort, l.DstPort)
		case *layers.ICMPv4:
			fmt.Fprintf(&b, ", ICMP %s", l.TypeCode)
		case *layers.DNS:
			if len(l.Questions) > 0 {
				kind := "query"
				if l.QR {
					kind = "answer " + l.ResponseCode.String()
				}
				fmt.Fprintf(&b, ", DNS %s %s %s", kind, l.Questions[0].Type, l.Questions[0].Name)
			}
		}
	}
	fmt.Fprintf(&b, ", length %d", r.Len)
	if c := offloadComment(r); c != "" {
		b.WriteString(" (" + c + ")")
	}
	return b.String()
}

func tcpFlags(t *layers.TCP) string {
	var f []byte
	for _, x := range []struct {
		on bool
		c  byte
	}{{t.SYN, 'S'}, {t.FIN, 'F'}, {t.RST, 'R'}, {t.PSH, 'P'}, {t.ACK, '.'}, {t.URG, 'U'}} {
		if x.on {
			f = append(f, x.c)
		}
	}
	return string(f)
}

func ipString(b []byte) string {
	if len(b) == 4 {
		return fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], b[3])
	}
	return fmt.Sprintf("%x", b)
}

func hwString(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(parts, ":")
}

// SortInterfaces orders interfaces by name, the router last.
func SortInterfaces(its []Interface) {
	sort.SliceStable(its, func(i, j int) bool {
		if (its[i].Port == port.Router) != (its[j].Port == port.Router) {
			return its[j].Port == port.Router
		}
		return its[i].Name < its[j].Name
	})
}
