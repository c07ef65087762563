package control

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrorBody is the JSON body of an error response: {"message": "..."}.
type ErrorBody struct {
	Message string `json:"message"`
}

// apiError is the name the client's decoder uses.
type apiError = ErrorBody

// ServeStdio is the server's side of the stdio stream: it upgrades the
// request's connection (the client sent Upgrade: vswitchd-stdio/1), runs f
// with the stream as the command's stdio, and sends f's exit code (or
// error) as the last frame. tty says stderr goes to stdout; stdin says the
// client sends stdin. It answers a request that did not ask to upgrade
// with 400 and errBody's JSON. The stream's context ends when the client
// goes away.
func ServeStdio(w http.ResponseWriter, r *http.Request, tty, stdin bool, replyErr func(http.ResponseWriter, error), f func(context.Context, *IO) (int, error)) {
	if r.Header.Get("Upgrade") != upgradeProto {
		replyErr(w, Errorf(ErrInvalid, "attach needs Upgrade: %s", upgradeProto))
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		replyErr(w, errors.New("connection cannot be upgraded"))
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", upgradeProto)
	if brw.Flush() != nil {
		return
	}
	// The stream outlives the request's context, which ends at Hijack:
	// this one ends when the client goes away.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fw := newFrameWriter(conn)
	resize := make(chan WinSize, 4)
	stdio := &IO{Stdout: fw.stream(frameStdout), Resize: resize}
	if !tty {
		stdio.Stderr = fw.stream(frameStderr)
	}
	var stdinW *io.PipeWriter
	if stdin {
		var pr *io.PipeReader
		pr, stdinW = io.Pipe()
		stdio.Stdin = pr
		// Once f returns, stdin nobody reads must not block the
		// goroutine below in stdinW.Write forever.
		defer pr.Close()
	}
	go func() {
		defer cancel()
		defer close(resize) // its only sender; backends may range over it
		defer func() {
			if stdinW != nil {
				stdinW.Close()
			}
		}()
		buf := make([]byte, 32<<10)
		for {
			typ, p, err := readFrame(brw.Reader, buf)
			if err != nil {
				return
			}
			switch typ {
			case frameStdin:
				if stdinW != nil {
					stdinW.Write(p)
				}
			case frameStdinEOF:
				if stdinW != nil {
					stdinW.Close()
				}
			case frameResize:
				if len(p) == 4 {
					select {
					case resize <- WinSize{Rows: binary.BigEndian.Uint16(p), Cols: binary.BigEndian.Uint16(p[2:])}:
					default:
					}
				}
			}
		}
	}()
	code, err := f(ctx, stdio)
	if err != nil {
		fw.frame(frameError, []byte(err.Error()))
		return
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(int32(code)))
	fw.frame(frameExit, b[:])
}
