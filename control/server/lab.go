package server

import (
	"net/http"

	"github.com/vswitchd/vswitchd/control"
)

// Labber is the part of Backend that brings labs up and down.
type Labber interface {
	LabUp(t control.Topology, dryRun bool) (control.LabPlan, error)
	LabDown(name string) (control.LabPlan, error)
	Labs() []control.Lab
	Lab(name string) (control.Lab, error)
}

func (s *Server) labRoutes(p string) {
	s.mux.HandleFunc("GET "+p+"/labs", func(w http.ResponseWriter, r *http.Request) { reply(w, s.b.Labs(), nil) })
	s.mux.HandleFunc("GET "+p+"/labs/{name}", func(w http.ResponseWriter, r *http.Request) {
		l, err := s.b.Lab(r.PathValue("name"))
		reply(w, l, err)
	})
	up := func(dry bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var t control.Topology
			if !decode(w, r, &t) {
				return
			}
			if t.Name != r.PathValue("name") {
				replyErr(w, control.Errorf(control.ErrInvalid, "topology names lab %q, not %q", t.Name, r.PathValue("name")))
				return
			}
			plan, err := s.b.LabUp(t, dry)
			reply(w, plan, err)
		}
	}
	s.mux.HandleFunc("PUT "+p+"/labs/{name}", up(false))
	s.mux.HandleFunc("POST "+p+"/labs/{name}/plan", up(true))
	s.mux.HandleFunc("DELETE "+p+"/labs/{name}", func(w http.ResponseWriter, r *http.Request) {
		plan, err := s.b.LabDown(r.PathValue("name"))
		reply(w, plan, err)
	})
}
