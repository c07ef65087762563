package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// maxLoggedBody is how much of an answer's body the request log keeps, to
// find the error message or the created resource's name in it.
const maxLoggedBody = 4 << 10

// logRequests returns a handler that serves with h and logs each request
// to logger (nil: discarded) when h returns, with its method, path, query,
// the name of the resource it is about, status and duration:
//
//   - a request that fails (status 400 or more) at warn, with the message
//     of its JSON error body (control.ErrorBody) as err;
//   - a request that changes state (not GET, HEAD or OPTIONS) at info;
//   - any other request at debug.
//
// The name is the path's {name} (h must be the ServeMux that matched the
// request), or the "name" of a 201 Created answer. A request upgraded to a
// stream (exec, attached run) is logged with status 101 when the stream
// ends, its duration the session's. The writer h gets passes Flush and
// Hijack through to the connection's, and buffers nothing.
func logRequests(h http.Handler, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		lw := &logWriter{w: w}
		h.ServeHTTP(lw, r)
		status := lw.status
		if status == 0 {
			status = http.StatusOK // what net/http sends for a handler that wrote nothing
		}
		level := slog.LevelDebug
		switch {
		case status >= 400:
			level = slog.LevelWarn
		case r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions:
			level = slog.LevelInfo
		}
		ctx := r.Context()
		if !logger.Enabled(ctx, level) {
			return
		}
		attrs := make([]slog.Attr, 0, 7)
		attrs = append(attrs, slog.String("method", r.Method), slog.String("path", r.URL.Path))
		if r.URL.RawQuery != "" {
			attrs = append(attrs, slog.String("query", r.URL.RawQuery))
		}
		name := r.PathValue("name")
		if name == "" && status == http.StatusCreated {
			name = jsonString(lw.body, "name")
		}
		if name != "" {
			attrs = append(attrs, slog.String("name", name))
		}
		attrs = append(attrs, slog.Int("status", status), slog.Duration("duration", time.Since(start)))
		msg := "api request"
		if status >= 400 {
			msg = "api request failed"
			attrs = append(attrs, slog.String("err", errorMessage(lw.body)))
		}
		logger.LogAttrs(ctx, level, msg, attrs...)
	})
}

// logWriter is the http.ResponseWriter logRequests gives its handler: it
// notes the status and keeps the start of the bodies the log reads.
type logWriter struct {
	w      http.ResponseWriter
	status int    // 0 until the header is written; 101 once hijacked
	body   []byte // at most maxLoggedBody bytes of a 201's or failure's body
}

var (
	_ http.Flusher  = (*logWriter)(nil)
	_ http.Hijacker = (*logWriter)(nil)
)

// Header implements http.ResponseWriter.
func (lw *logWriter) Header() http.Header { return lw.w.Header() }

// WriteHeader implements http.ResponseWriter.
func (lw *logWriter) WriteHeader(code int) {
	// Informational headers (103 Early Hints…) come before the status,
	// which is written once; 101 is final.
	if lw.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		lw.status = code
	}
	lw.w.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (lw *logWriter) Write(p []byte) (int, error) {
	if lw.status == 0 {
		lw.status = http.StatusOK
	}
	if (lw.status == http.StatusCreated || lw.status >= 400) && len(lw.body) < maxLoggedBody {
		lw.body = append(lw.body, p[:min(len(p), maxLoggedBody-len(lw.body))]...)
	}
	return lw.w.Write(p)
}

// Flush implements http.Flusher: it sends what was written so far, as the
// connection's writer does.
func (lw *logWriter) Flush() {
	if lw.status == 0 {
		lw.status = http.StatusOK
	}
	_ = http.NewResponseController(lw.w).Flush()
}

// Hijack implements http.Hijacker: it hands over the connection, as the
// connection's writer does, for a protocol upgrade.
func (lw *logWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(lw.w).Hijack()
	if err == nil && lw.status == 0 {
		lw.status = http.StatusSwitchingProtocols
	}
	return c, brw, err
}

// Unwrap returns the connection's writer, for http.ResponseController.
func (lw *logWriter) Unwrap() http.ResponseWriter { return lw.w }

// errorMessage returns the message of an error body: control.ErrorBody's,
// or the text of a plain one (the ServeMux's "404 page not found").
func errorMessage(body []byte) string {
	if m := jsonString(body, "message"); m != "" {
		return m
	}
	return strings.TrimSpace(string(body))
}

// jsonString returns the string value of key in the JSON object body, ""
// if there is none. body may be cut short after key's value.
func jsonString(body []byte, key string) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return ""
		}
		if k == key {
			t, err := dec.Token()
			if s, ok := t.(string); ok && err == nil {
				return s
			}
			return ""
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}
