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
	s.answer(w, r, func(st *control.State) (any, error) {
		all := make([]client.IP, 0, len(st.Config.IPs))
		for i := range st.Config.IPs {
			ip := &st.Config.IPs[i]
			all = append(all, toIPOut(st.Config, ip, st.Meta[control.IPPath(ip.Address)]))
		}
		out, total, err := page(r, all, func(ip client.IP) string { return ip.Address }, func(ip client.IP) int64 { return ip.CreatedAt.UnixNano() })
		if err != nil {
			return nil, err
		}
		return client.IPList{IPs: out, TotalCount: total}, nil
	})
}

// ipView shows IP address (in any spelling FindIP accepts).
func ipView(address string) view {
	return func(st *control.State) (any, error) {
		ip, err := control.FindIP(st.Config, address)
		if err != nil {
			return nil, err
		}
		return toIPOut(st.Config, ip, st.Meta[control.IPPath(ip.Address)]), nil
	}
}

func (s *Server) getIP(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, ipView(r.PathValue("address")))
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
	// A new IP is stored under the canonical form of its address.
	s.change(w, r, req, http.StatusOK, s.viewAt(r, created(w, "/v1/ips/"+config.CanonicalIP(addr), &existed, ipView(addr))))
}

func (s *Server) deleteIP(w http.ResponseWriter, r *http.Request) {
	s.remove(w, r, control.DeleteIP(r.PathValue("address")))
}
