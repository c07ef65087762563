package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/vswitchd/vswitchd/control"
)

// Peer is who is at the other end of an API connection, as the kernel
// says (SO_PEERCRED at connect time).
type Peer struct {
	PID int
	UID int
}

// PeerCheck decides whether a peer may use the API: nil lets it in, an
// error (its message) refuses each of its requests with 403.
type PeerCheck func(Peer) error

// SetPeerCheck makes the server ask check about the peer of every
// connection before serving its requests; a connection whose peer the
// kernel cannot name is refused. Call it before Serve.
func (s *Server) SetPeerCheck(check PeerCheck) {
	// ConnContext runs in the accept loop: only the cheap getsockopt
	// there; the check runs with each request.
	s.http.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		p, err := peerOf(c)
		return context.WithValue(ctx, peerKey{}, peerResult{p: p, err: err})
	}
	next := s.http.Handler
	s.http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, ok := r.Context().Value(peerKey{}).(peerResult)
		err := res.err
		switch {
		case !ok:
			err = errors.New("who is calling is not known")
		case err != nil:
			err = fmt.Errorf("who is calling is not known: %w", err)
		default:
			err = check(res.p)
		}
		if err != nil {
			s.log.Warn("API request refused", "method", r.Method, "path", r.URL.Path, "pid", res.p.PID, "uid", res.p.UID, "err", err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(control.ErrorBody{Message: "forbidden: " + err.Error()})
			return
		}
		next.ServeHTTP(w, r)
	})
}

type peerKey struct{}

// peerResult is a connection's peer, or why it is not known.
type peerResult struct {
	p   Peer
	err error
}
