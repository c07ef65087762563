package control

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// The stdio stream of `exec` and attached `run`. After the HTTP upgrade
// both sides exchange frames: a type byte, a big-endian uint32 payload
// length, the payload. The client sends stdin, stdin-EOF and resize frames;
// the server sends stdout, stderr, then one exit (or error) frame and
// closes.
const (
	frameStdin    byte = 0
	frameStdout   byte = 1
	frameStderr   byte = 2
	frameExit     byte = 3 // payload: int32 exit code
	frameResize   byte = 4 // payload: uint16 rows, uint16 cols
	frameStdinEOF byte = 5
	frameError    byte = 6 // payload: message
)

// maxFramePayload bounds a frame so a broken peer cannot make the other
// side allocate without limit.
const maxFramePayload = 1 << 20

// upgradeProto is the protocol named in the Upgrade header.
const upgradeProto = "vswitchd-stdio/1"

// frameWriter writes frames; it is safe for concurrent use.
type frameWriter struct {
	mu sync.Mutex // serialises frames on w
	w  *bufio.Writer
}

func newFrameWriter(w io.Writer) *frameWriter {
	return &frameWriter{w: bufio.NewWriter(w)}
}

func (fw *frameWriter) frame(typ byte, p []byte) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	var hdr [5]byte
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	if _, err := fw.w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := fw.w.Write(p); err != nil {
		return err
	}
	return fw.w.Flush()
}

// stream returns an io.Writer that sends everything as frames of typ.
func (fw *frameWriter) stream(typ byte) io.Writer { return streamWriter{fw, typ} }

type streamWriter struct {
	fw  *frameWriter
	typ byte
}

func (s streamWriter) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		n := min(len(p)-written, maxFramePayload)
		if err := s.fw.frame(s.typ, p[written:written+n]); err != nil {
			return written, err
		}
		written += n
	}
	return written, nil
}

var errFrameTooBig = errors.New("stdio frame too large")

// readFrame reads one frame. The payload is valid until the next call with
// the same buf.
func readFrame(r *bufio.Reader, buf []byte) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFramePayload {
		return 0, nil, fmt.Errorf("%w: %d bytes", errFrameTooBig, n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the header promised a payload
		}
		return 0, nil, err
	}
	return hdr[0], buf, nil
}
