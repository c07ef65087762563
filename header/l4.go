package header

import "encoding/binary"

// TCP flag bits (RFC 793 §3.1, RFC 3168 §6.1).
const (
	TCPFlagFIN uint8 = 0x01
	TCPFlagSYN uint8 = 0x02
	TCPFlagRST uint8 = 0x04
	TCPFlagPSH uint8 = 0x08
	TCPFlagACK uint8 = 0x10
	TCPFlagURG uint8 = 0x20
	TCPFlagECE uint8 = 0x40
	TCPFlagCWR uint8 = 0x80
)

// TCPMinLen is the length of a TCP header without options.
const TCPMinLen = 20

// TCPChecksumOffset is the offset of the checksum within the TCP header.
const TCPChecksumOffset = 16

// TCP is an RFC 793 TCP header.
type TCP []byte

// TCPFields holds the values Encode writes (no options; the checksum field
// is set to Checksum as given).
type TCPFields struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
	Window           uint16
	Checksum         uint16
	Urgent           uint16
}

// IsValid reports whether b holds a header whose data offset fits.
func (b TCP) IsValid() bool {
	if len(b) < TCPMinLen {
		return false
	}
	n := b.DataOffset()
	return n >= TCPMinLen && n <= len(b)
}

// SrcPort returns the source port.
func (b TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[0:]) }

// DstPort returns the destination port.
func (b TCP) DstPort() uint16 { return binary.BigEndian.Uint16(b[2:]) }

// Seq returns the sequence number.
func (b TCP) Seq() uint32 { return binary.BigEndian.Uint32(b[4:]) }

// Ack returns the acknowledgement number.
func (b TCP) Ack() uint32 { return binary.BigEndian.Uint32(b[8:]) }

// DataOffset returns the header length in bytes.
func (b TCP) DataOffset() int { return int(b[12]>>4) * 4 }

// Flags returns the eight flag bits.
func (b TCP) Flags() uint8 { return b[13] }

// Window returns the receive window field.
func (b TCP) Window() uint16 { return binary.BigEndian.Uint16(b[14:]) }

// Checksum returns the checksum field.
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[TCPChecksumOffset:]) }

// SetSrcPort sets the source port.
func (b TCP) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(b[0:], p) }

// SetDstPort sets the destination port.
func (b TCP) SetDstPort(p uint16) { binary.BigEndian.PutUint16(b[2:], p) }

// SetSeq sets the sequence number.
func (b TCP) SetSeq(s uint32) { binary.BigEndian.PutUint32(b[4:], s) }

// SetFlags sets the flag bits.
func (b TCP) SetFlags(f uint8) { b[13] = f }

// SetChecksum sets the checksum field.
func (b TCP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[TCPChecksumOffset:], c) }

// Encode writes a 20-byte header from f into b.
func (b TCP) Encode(f *TCPFields) {
	binary.BigEndian.PutUint16(b[0:], f.SrcPort)
	binary.BigEndian.PutUint16(b[2:], f.DstPort)
	binary.BigEndian.PutUint32(b[4:], f.Seq)
	binary.BigEndian.PutUint32(b[8:], f.Ack)
	b[12] = 5 << 4
	b[13] = f.Flags
	binary.BigEndian.PutUint16(b[14:], f.Window)
	binary.BigEndian.PutUint16(b[16:], f.Checksum)
	binary.BigEndian.PutUint16(b[18:], f.Urgent)
}

// UDPLen is the length of a UDP header.
const UDPLen = 8

// UDPChecksumOffset is the offset of the checksum within the UDP header.
const UDPChecksumOffset = 6

// Offsets of the ports in a TCP or UDP header (RFC 793, RFC 768): both
// start with them.
const (
	SrcPortOffset = 0
	DstPortOffset = 2
)

// UDP is an RFC 768 UDP header.
type UDP []byte

// UDPFields holds the values Encode writes.
type UDPFields struct {
	SrcPort, DstPort uint16
	Length           uint16
	Checksum         uint16
}

// IsValid reports whether b holds a header whose length field fits in b.
func (b UDP) IsValid() bool {
	return len(b) >= UDPLen && int(b.Length()) >= UDPLen && int(b.Length()) <= len(b)
}

// SrcPort returns the source port.
func (b UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[0:]) }

// DstPort returns the destination port.
func (b UDP) DstPort() uint16 { return binary.BigEndian.Uint16(b[2:]) }

// Length returns the length field (header and payload).
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[4:]) }

// Checksum returns the checksum field; 0 means none was computed (IPv4).
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[UDPChecksumOffset:]) }

// SetSrcPort sets the source port.
func (b UDP) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(b[0:], p) }

// SetDstPort sets the destination port.
func (b UDP) SetDstPort(p uint16) { binary.BigEndian.PutUint16(b[2:], p) }

// SetLength sets the length field.
func (b UDP) SetLength(n uint16) { binary.BigEndian.PutUint16(b[4:], n) }

// SetChecksum sets the checksum field.
func (b UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[UDPChecksumOffset:], c) }

// Encode writes the header from f into b.
func (b UDP) Encode(f *UDPFields) {
	binary.BigEndian.PutUint16(b[0:], f.SrcPort)
	binary.BigEndian.PutUint16(b[2:], f.DstPort)
	binary.BigEndian.PutUint16(b[4:], f.Length)
	binary.BigEndian.PutUint16(b[6:], f.Checksum)
}

// ICMPv4 types (RFC 792).
const (
	ICMPv4EchoReply      uint8 = 0
	ICMPv4DstUnreachable uint8 = 3
	ICMPv4Redirect       uint8 = 5
	ICMPv4Echo           uint8 = 8
	ICMPv4TimeExceeded   uint8 = 11
	ICMPv4ParamProblem   uint8 = 12
)

// ICMPv4 destination-unreachable codes (RFC 792, RFC 1122 §3.2.2.1).
const (
	ICMPv4NetUnreachable  uint8 = 0
	ICMPv4HostUnreachable uint8 = 1
	ICMPv4PortUnreachable uint8 = 3
	ICMPv4FragNeeded      uint8 = 4
	ICMPv4AdminProhibited uint8 = 13
)

// ICMPv4TTLExceeded is the time-exceeded code for a TTL that expired in
// transit.
const ICMPv4TTLExceeded uint8 = 0

// ICMPv4MinLen is the length of the ICMPv4 header (type, code, checksum and
// the 4-byte rest-of-header).
const ICMPv4MinLen = 8

// Offsets within an ICMPv4 header of the checksum and of the echo
// identifier (RFC 792), for raw-word checksum updates.
const (
	ICMPv4ChecksumOffset = 2
	ICMPv4IdentOffset    = 4
)

// ICMPv4 is an RFC 792 ICMP message.
type ICMPv4 []byte

// ICMPv4Fields holds the values Encode writes (the checksum is not computed).
type ICMPv4Fields struct {
	Type, Code uint8
	Checksum   uint16
	Rest       uint32 // identifier<<16|sequence for echo; next-hop MTU for frag-needed
}

// IsValid reports whether b holds at least the 8-byte header.
func (b ICMPv4) IsValid() bool { return len(b) >= ICMPv4MinLen }

// Type returns the message type.
func (b ICMPv4) Type() uint8 { return b[0] }

// Code returns the message code.
func (b ICMPv4) Code() uint8 { return b[1] }

// Checksum returns the checksum field.
func (b ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[2:]) }

// Ident returns the echo identifier (bytes 4–5).
func (b ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(b[4:]) }

// Seq returns the echo sequence number (bytes 6–7).
func (b ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(b[6:]) }

// IsError reports whether the type is an error message that quotes the
// offending datagram (RFC 792, RFC 1122 §3.2.2).
func (b ICMPv4) IsError() bool {
	switch b.Type() {
	case ICMPv4DstUnreachable, ICMPv4Redirect, ICMPv4TimeExceeded, ICMPv4ParamProblem, 4:
		return true
	}
	return false
}

// SetType sets the message type.
func (b ICMPv4) SetType(t uint8) { b[0] = t }

// SetIdent sets the echo identifier.
func (b ICMPv4) SetIdent(id uint16) { binary.BigEndian.PutUint16(b[4:], id) }

// SetChecksum sets the checksum field.
func (b ICMPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[2:], c) }

// Encode writes the header from f into b.
func (b ICMPv4) Encode(f *ICMPv4Fields) {
	b[0] = f.Type
	b[1] = f.Code
	binary.BigEndian.PutUint16(b[2:], f.Checksum)
	binary.BigEndian.PutUint32(b[4:], f.Rest)
}
