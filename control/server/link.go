package server

import (
	"net/http"
	"time"

	"github.com/vswitchd/vswitchd/control"
	"github.com/vswitchd/vswitchd/daemon"
	"github.com/vswitchd/vswitchd/impair"
	"github.com/vswitchd/vswitchd/state"
)

// Linker is the part of Backend that impairs links.
type Linker interface {
	SetLink(target string, dir impair.Direction, u impair.Update) ([]daemon.LinkInfo, error)
	ResetLink(target string, dir impair.Direction) ([]daemon.LinkInfo, error)
	Links(target string) ([]daemon.LinkInfo, error)
}

func (s *Server) linkRoutes(p string) {
	s.mux.HandleFunc("GET "+p+"/links", func(w http.ResponseWriter, r *http.Request) {
		ls, err := s.b.Links(r.URL.Query().Get("target"))
		reply(w, links(ls), err)
	})
	s.mux.HandleFunc("PATCH "+p+"/links/{target}", func(w http.ResponseWriter, r *http.Request) {
		var req control.LinkSet
		if !decode(w, r, &req) {
			return
		}
		dir, u, err := linkUpdate(req)
		if err != nil {
			replyErr(w, err)
			return
		}
		ls, err := s.b.SetLink(r.PathValue("target"), dir, u)
		reply(w, links(ls), err)
	})
	s.mux.HandleFunc("DELETE "+p+"/links/{target}", func(w http.ResponseWriter, r *http.Request) {
		dir, err := direction(r.URL.Query().Get("direction"), impair.Both)
		if err != nil {
			replyErr(w, err)
			return
		}
		ls, err := s.b.ResetLink(r.PathValue("target"), dir)
		reply(w, links(ls), err)
	})
}

// direction parses a direction, def when empty.
func direction(s string, def impair.Direction) (impair.Direction, error) {
	if s == "" {
		return def, nil
	}
	d, err := impair.ParseDirection(s)
	if err != nil {
		return 0, state.Errorf(state.ErrInvalid, "%w", err)
	}
	return d, nil
}

// linkUpdate parses a LinkSet into the direction and the update.
func linkUpdate(req control.LinkSet) (impair.Direction, impair.Update, error) {
	dir, err := direction(req.Direction, impair.Out)
	if err != nil {
		return 0, impair.Update{}, err
	}
	var u impair.Update
	for _, kv := range req.Settings() {
		if err := u.SetFlag(kv[0], kv[1]); err != nil {
			return 0, impair.Update{}, state.Errorf(state.ErrInvalid, "%w", err)
		}
	}
	if u.IsEmpty() {
		return 0, impair.Update{}, state.Errorf(state.ErrInvalid, "no setting to change (want one of delay, jitter, loss, rate, burst, duplicate, corrupt, reorder, gap, limit, distribution, seed)")
	}
	return dir, u, nil
}

func links(ls []daemon.LinkInfo) []control.Link {
	out := make([]control.Link, 0, len(ls))
	for _, l := range ls {
		out = append(out, control.Link{
			Port: l.Port, Endpoint: l.Endpoint, Interface: l.Interface,
			Out: linkImpairment(l.Out, l.OutStats), In: linkImpairment(l.In, l.InStats),
		})
	}
	return out
}

func linkImpairment(s impair.Settings, st impair.Stats) control.LinkImpairment {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	li := control.LinkImpairment{
		Summary: s.String(), DelayMS: ms(s.Delay), JitterMS: ms(s.Jitter), Distribution: s.Distribution.String(),
		Loss: s.Loss, Duplicate: s.Duplicate, Corrupt: s.Corrupt, Reorder: s.Reorder, Gap: s.Gap,
		Rate: s.Rate, Burst: s.Burst, Limit: s.Limit,
		Delayed: st.Delayed.Frames, Lost: st.Lost.Frames, Duplicated: st.Duplicated.Frames,
		Corrupted: st.Corrupted.Frames, Reordered: st.Reordered.Frames, QueueFull: st.QueueFull.Frames,
		Queued: st.Queued,
	}
	if s.Active() && (s.Jitter != 0 || s.Loss != 0 || s.Duplicate != 0 || s.Corrupt != 0 || s.Reorder != 0) {
		li.Seed = s.Seed
	}
	return li
}
