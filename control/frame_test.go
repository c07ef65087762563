package control

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The seed corpus in testdata/fuzz/FuzzReadFrame is written from
// frameSeeds by
//
//	go test ./control/ -run TestFuzzReadFrameCorpus -write-corpus
//
// TestFuzzReadFrameCorpus fails when a seed is missing or stale.
var writeCorpus = flag.Bool("write-corpus", false, "rewrite the fuzz seed corpus in testdata/fuzz")

// frameBytes encodes frames as frameWriter writes them.
func frameBytes(frames ...any) []byte {
	var b bytes.Buffer
	fw := newFrameWriter(&b)
	for i := 0; i < len(frames); i += 2 {
		fw.frame(frames[i].(byte), frames[i+1].([]byte))
	}
	return b.Bytes()
}

func exitPayload(code int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(code)) }

// frameSeeds are streams as the client and the server send them, whole and
// broken.
func frameSeeds() map[string][]byte {
	huge := []byte{frameStdout, 0, 0x10, 0, 1} // maxFramePayload + 1
	return map[string][]byte{
		"server-stream": frameBytes(frameStdout, []byte("hello\n"), frameStderr, []byte("warning\n"), frameExit, exitPayload(3)),
		"client-stream": frameBytes(frameResize, []byte{0, 24, 0, 80}, frameStdin, []byte("ls -l\n"), frameStdinEOF, []byte{}),
		"error":         frameBytes(frameStdout, []byte("partial"), frameError, []byte(`start "nope": executable file not found`)),
		"exit-negative": frameBytes(frameExit, exitPayload(-1)),
		"empty-payload": frameBytes(frameStdout, []byte{}),
		"short-header":  {frameStdout, 0, 0},
		"short-payload": {frameStdout, 0, 0, 0, 10, 'a', 'b'},
		"header-only":   {frameStdout, 0, 0, 0, 0x30},
		"too-big":       huge,
		"unknown-type":  frameBytes(byte(0x7f), []byte("?")),
	}
}

func TestFuzzReadFrameCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReadFrame")
	if *writeCorpus {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range frameSeeds() {
		path := filepath.Join(dir, name)
		want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b)
		if *writeCorpus {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("seed %s is missing or stale (%v); run go test ./control/ -run TestFuzzReadFrameCorpus -write-corpus", path, err)
		}
	}
}

// FuzzReadFrame reads a stream of frames: readFrame never panics, returns
// payloads within maxFramePayload, fails only with EOF, a short read or
// errFrameTooBig, and the frames it returns re-encode to the bytes read.
func FuzzReadFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		buf := make([]byte, 16) // small, so large payloads take the allocating path
		var out bytes.Buffer
		fw := newFrameWriter(&out)
		for {
			typ, p, err := readFrame(r, buf)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errFrameTooBig) {
					t.Fatalf("readFrame(%x) error %v is not EOF, a short read or errFrameTooBig", data, err)
				}
				if errors.Is(err, io.EOF) && out.Len() != len(data) {
					t.Fatalf("readFrame(%x) = EOF after %d of %d bytes", data, out.Len(), len(data))
				}
				break
			}
			if len(p) > maxFramePayload {
				t.Fatalf("readFrame(%x) returned %d bytes, more than %d", data, len(p), maxFramePayload)
			}
			if err := fw.frame(typ, p); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.HasPrefix(data, out.Bytes()) {
			t.Fatalf("frames read from %x re-encode to %x, not a prefix", data, out.Bytes())
		}
	})
}

// TestStreamWriterSplits: writes longer than maxFramePayload go out as
// several frames that read back whole.
func TestStreamWriterSplits(t *testing.T) {
	var b bytes.Buffer
	fw := newFrameWriter(&b)
	data := bytes.Repeat([]byte("0123456789"), (2*maxFramePayload+maxFramePayload/2)/10)
	n, err := fw.stream(frameStdout).Write(data)
	if n != len(data) || err != nil {
		t.Fatalf("Write(%d bytes) = %d, %v", len(data), n, err)
	}
	r := bufio.NewReader(&b)
	var got []byte
	frames := 0
	for {
		typ, p, err := readFrame(r, nil)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || typ != frameStdout || len(p) > maxFramePayload {
			t.Fatalf("frame %d: type %d, %d bytes, %v", frames, typ, len(p), err)
		}
		got = append(got, p...)
		frames++
	}
	if frames != 3 || !bytes.Equal(got, data) {
		t.Errorf("read back %d frames, %d bytes, want 3 frames, the %d bytes written", frames, len(got), len(data))
	}
}
