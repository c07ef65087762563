package server

import (
	"embed"
	"io/fs"
	"net/http"
	"sync"

	"github.com/vswitchd/vswitchd/control"
)

// The web view: static files embedded in the binary (no build step: plain
// HTML, CSS and JavaScript in ui/), served at /ui/ on the API socket and,
// read-only, on the daemon's --http address. The page polls the API once
// a second.

//go:embed ui
var uiFiles embed.FS

// uiState holds the HTTP address the web view is also served on.
type uiState struct {
	mu   sync.Mutex // guards http
	http string
}

// SetHTTPAddr records the address the web view is served on over TCP
// (--http), for GET /v1/ui.
func (s *Server) SetHTTPAddr(addr string) {
	s.ui.mu.Lock()
	defer s.ui.mu.Unlock()
	s.ui.http = addr
}

func (s *Server) uiRoutes(p string) {
	sub, _ := fs.Sub(uiFiles, "ui")
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	s.mux.Handle("GET /ui/", files)
	s.mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	s.mux.HandleFunc("GET "+p+"/ui", func(w http.ResponseWriter, r *http.Request) {
		s.ui.mu.Lock()
		addr := s.ui.http
		s.ui.mu.Unlock()
		info := control.UI{Path: "/ui/", HTTP: addr}
		if addr != "" {
			info.URL = "http://" + addr + "/ui/"
		}
		reply(w, info, nil)
	})
}

// ReadOnlyHandler returns the handler for the --http listener: the web
// view and the API's reads (GET), plus trace, which is a dry run. Nothing
// that changes the switch, runs commands, streams frames (capture, live
// trace, logs) or profiles the daemon is served there.
func (s *Server) ReadOnlyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !control.ReadOnlyAllowed(r.Method, r.URL.Path) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"message": "read-only: this address serves the web view and the API's reads; use the socket to change things"}` + "\n"))
			return
		}
		s.http.Handler.ServeHTTP(w, r)
	})
}
