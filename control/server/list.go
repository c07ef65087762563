package server

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/header"
	"github.com/vswitchd/vswitchd/nat"
)

// listFlushEvery is how many elements a streamed listing writes between
// flushes: the client sees the listing arrive in chunks, and the server
// holds one chunk's bytes, whatever the listing's length.
const listFlushEvery = 1024

// listWriter streams a JSON array, element by element, in the indented
// form reply writes. The status and header go out with the first element,
// so an error before it still gets its own status (end); an error after
// it aborts the response, which the client sees as a truncated body.
type listWriter struct {
	w  http.ResponseWriter
	bw *bufio.Writer
	n  int
}

func newListWriter(w http.ResponseWriter) *listWriter { return &listWriter{w: w} }

// addRaw writes one element already encoded.
func (l *listWriter) addRaw(b []byte) error {
	if l.n == 0 {
		l.w.Header().Set("Content-Type", "application/json")
		l.w.WriteHeader(http.StatusOK)
		l.bw = bufio.NewWriterSize(l.w, 64<<10)
		l.bw.WriteString("[\n  ")
	} else {
		l.bw.WriteString(",\n  ")
	}
	l.n++
	if _, err := l.bw.Write(b); err != nil {
		return err
	}
	if l.n%listFlushEvery == 0 {
		if err := l.bw.Flush(); err != nil {
			return err
		}
		if f, ok := l.w.(http.Flusher); ok {
			f.Flush()
		}
	}
	return nil
}

// end closes the array, or answers err.
func (l *listWriter) end(err error) {
	switch {
	case l.n == 0 && err != nil:
		replyErr(l.w, err)
	case l.n == 0:
		reply(l.w, []struct{}{}, nil)
	case err != nil:
		l.bw.Flush()
		panic(http.ErrAbortHandler) // the client must not take a cut list for the whole
	default:
		l.bw.WriteString("\n]\n")
		l.bw.Flush()
	}
}

// appendConn appends c as the JSON of control.Conn (conn(c)), compact,
// without allocating: a listing of the whole table leaves no garbage
// behind each entry, so the daemon's memory does not grow with it.
func appendConn(b []byte, c *daemon.ConnInfo) []byte {
	b = append(b, `{"proto":`...)
	b = appendJSONString(b, protoName(c.Proto))
	b = append(b, `,"state":`...)
	if c.Proto == header.ProtoTCP {
		b = appendJSONString(b, c.State.String())
	} else {
		b = append(b, `""`...)
	}
	b = append(b, `,"timeout_seconds":`...)
	b = strconv.AppendInt(b, int64(c.Timeout.Seconds()), 10)
	b = append(b, `,"zone":`...)
	b = appendJSONString(b, c.ZoneName)
	b = append(b, `,"zone_id":`...)
	b = strconv.AppendInt(b, int64(c.Entry.Zone), 10)
	b = append(b, `,"reply_zone":`...)
	b = appendJSONString(b, c.ReplyZoneName)
	b = append(b, `,"reply_zone_id":`...)
	b = strconv.AppendInt(b, int64(c.Entry.ReplyZone), 10)
	b = append(b, `,"original":`...)
	b = appendTuple(b, &c.Original)
	b = append(b, `,"reply":`...)
	b = appendTuple(b, &c.Reply)
	b = append(b, `,"assured":`...)
	b = strconv.AppendBool(b, c.Assured)
	b = append(b, `,"packets":`...)
	b = strconv.AppendUint(b, c.Packets[0]+c.Packets[1], 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendUint(b, c.Bytes[0]+c.Bytes[1], 10)
	b = append(b, `,"tcp_windows":[`...)
	if c.Proto == header.ProtoTCP {
		for i, w := range c.Window {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"end":`...)
			b = strconv.AppendUint(b, uint64(w.End), 10)
			b = append(b, `,"max_end":`...)
			b = strconv.AppendUint(b, uint64(w.MaxEnd), 10)
			b = append(b, `,"max_win":`...)
			b = strconv.AppendUint(b, uint64(w.MaxWin), 10)
			b = append(b, `,"max_ack":`...)
			b = strconv.AppendUint(b, uint64(w.MaxAck), 10)
			b = append(b, `,"wscale":`...)
			b = strconv.AppendUint(b, uint64(w.Scale), 10)
			b = append(b, '}')
		}
	}
	return append(b, "]}"...)
}

func appendTuple(b []byte, t *nat.Tuple) []byte {
	b = append(b, `{"src":"`...)
	b = t.Src.AppendTo(b)
	b = append(b, `","dst":"`...)
	b = t.Dst.AppendTo(b)
	b = append(b, `","sport":`...)
	b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
	b = append(b, `,"dport":`...)
	b = strconv.AppendUint(b, uint64(t.DstPort), 10)
	return append(b, '}')
}

// appendJSONString appends s quoted; names are plain ASCII, anything else
// goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
