package api

import (
	"fmt"
	"net/http"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/control"
)

// toIPOut shows an IP with the LB that binds it (the first, in config
// order, when several share it).
func toIPOut(cfg *config.Config, ip *config.IP, m control.ObjectMeta) client.IP {
	out := client.IP{Address: ip.Address, Reverse: ip.Reverse, Tags: nonNil(ip.Tags), CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	if users := cfg.IPUsers(ip.Address); len(users) > 0 {
		out.LB = &users[0]
	}
	return out
}

func (s *Server) listIPs(w http.ResponseWriter, r *http.Request) {
	st, err := s.state(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	all := make([]client.IP, 0, len(st.Config.IPs))
	for i := range st.Config.IPs {
		ip := &st.Config.IPs[i]
		all = append(all, toIPOut(st.Config, ip, st.Meta[control.IPPath(ip.Address)]))
	}
	out, total, err := page(r, all, func(ip client.IP) string { return ip.Address }, func(ip client.IP) int64 { return ip.CreatedAt.UnixNano() })
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, st.Revision, client.IPList{IPs: out, TotalCount: total})
}

func (s *Server) getIP(w http.ResponseWriter, r *http.Request) {
	st, err := s.state(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ip, err := control.FindIP(st.Config, r.PathValue("address"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, st.Revision, toIPOut(st.Config, ip, st.Meta[control.IPPath(ip.Address)]))
}

func (s *Server) putIP(w http.ResponseWriter, r *http.Request) {
	addr := r.PathValue("address")
	req, err := s.writeRequest(r, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in client.IPInput
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Address != "" && config.CanonicalIP(in.Address) != config.CanonicalIP(addr) {
		s.fail(w, r, &badRequest{"address", fmt.Sprintf("%q differs from the address in the path (%q)", in.Address, addr)})
		return
	}
	existed := false
	req.Mutate = control.PutIP(addr, func(cur *config.IP) (config.IP, error) {
		existed = cur != nil
		return config.IP{Reverse: in.Reverse, Tags: in.Tags}, nil
	})
	s.change(w, r, req, http.StatusOK, func(rev uint64) (any, error) {
		st, err := s.ctl.Get(r.Context(), rev)
		if err != nil {
			return nil, err
		}
		ip, err := control.FindIP(st.Config, addr)
		if err != nil {
			return nil, err
		}
		if !existed {
			w.Header().Set("Location", "/v1/ips/"+ip.Address)
		}
		return toIPOut(st.Config, ip, st.Meta[control.IPPath(ip.Address)]), nil
	})
}

func (s *Server) deleteIP(w http.ResponseWriter, r *http.Request) {
	req, err := s.writeRequest(r, control.DeleteIP(r.PathValue("address")))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.change(w, r, req, http.StatusNoContent, nil)
}
