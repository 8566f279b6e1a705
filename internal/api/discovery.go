package api

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/discovery"
)

// This file holds what the API shows of service discovery: its status,
// the containers it sees and why each is or is not routed, and the routes
// and backends it made or read from the discovery file, all read-only
// (/v1/discovery/...); the refusal of writes to objects discovery owns
// (the entry point, discovered routes, the file's load balancers); the servers a backend with a Docker
// selector resolves to; and Rancher port rules as a way to write a route.

// Discovery is what the API reads of service discovery; internal/app
// implements it over the running data plane. Safe for concurrent use.
type Discovery interface {
	// Status is the state of discovery.
	Status() client.DiscoveryStatus
	// Containers are every container discovery sees, with why each is or
	// is not routed.
	Containers() []client.DiscoveredContainer
	// Explain returns the container whose ID, unique ID prefix (4+
	// characters) or name is ref, with a live TCP check of its ports, and
	// false when there is none.
	Explain(ctx context.Context, ref string) (*client.DiscoveredContainer, bool)
	// Routes are the routes discovery made, and those of the discovery
	// file, read-only.
	Routes() []client.DiscoveredRoute
	// Backends are the backends with servers from discovery, and those of
	// the discovery file.
	Backends() []client.DiscoveredBackend
	// Resolved are the servers discovery gives backend of lb now (nil
	// when none).
	Resolved(lb, backend string) []client.ResolvedServer
	// ReadOnly says why the API must not change the load balancer lb,
	// or its route route of frontend (when route is set): discovery owns
	// it. It returns "" when the API may.
	ReadOnly(lb, frontend, route string) string
}

func (s *Server) discoveryRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /v1/discovery", s.unscopedOnly(s.getDiscovery))
	m.HandleFunc("GET /v1/discovery/containers", s.unscopedOnly(s.listContainers))
	m.HandleFunc("GET /v1/discovery/containers/{id}", s.unscopedOnly(s.explainContainer))
	m.HandleFunc("GET /v1/discovery/routes", s.unscopedOnly(s.listDiscoveredRoutes))
	m.HandleFunc("GET /v1/discovery/backends", s.unscopedOnly(s.listDiscoveredBackends))
}

// discoveryRevision is the head revision (see revision), for the ETag of
// an answer of a discovery endpoint. When discovery is off, or the
// revision cannot be read, it answers the problem and returns false.
func (s *Server) discoveryRevision(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	if s.o.Discovery == nil {
		s.problem(w, r, http.StatusNotFound, "not found", "discovery is off: start gantry serve with --docker=auto or on, or --file FILE (see GET /v1/discovery)", nil)
		return 0, false
	}
	return s.revision(w, r)
}

// revision is the head revision, for the ETag of answers that are not
// read from the config.
func (s *Server) revision(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	rev, err := s.ctl.Revision(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return 0, false
	}
	return rev, true
}

func (s *Server) getDiscovery(w http.ResponseWriter, r *http.Request) {
	rev, ok := s.revision(w, r)
	if !ok {
		return
	}
	st := client.DiscoveryStatus{EntryPoints: []client.EntryPoint{}}
	if s.o.Discovery != nil {
		st = s.o.Discovery.Status()
	}
	reply(w, http.StatusOK, rev, st)
}

func (s *Server) listContainers(w http.ResponseWriter, r *http.Request) {
	rev, ok := s.discoveryRevision(w, r)
	if !ok {
		return
	}
	cs := s.o.Discovery.Containers()
	if cs == nil {
		cs = []client.DiscoveredContainer{}
	}
	reply(w, http.StatusOK, rev, client.DiscoveredContainerList{Containers: cs, TotalCount: len(cs)})
}

func (s *Server) explainContainer(w http.ResponseWriter, r *http.Request) {
	rev, ok := s.discoveryRevision(w, r)
	if !ok {
		return
	}
	ref := r.PathValue("id")
	c, found := s.o.Discovery.Explain(r.Context(), ref)
	if !found {
		s.problem(w, r, http.StatusNotFound, "not found",
			fmt.Sprintf("no container %q: give its name, ID or a unique ID prefix of 4 characters or more (GET /v1/discovery/containers lists them)", ref), nil)
		return
	}
	reply(w, http.StatusOK, rev, c)
}

func (s *Server) listDiscoveredRoutes(w http.ResponseWriter, r *http.Request) {
	rev, ok := s.discoveryRevision(w, r)
	if !ok {
		return
	}
	lb, fe := r.URL.Query().Get("lb"), r.URL.Query().Get("frontend")
	out := slices.DeleteFunc(s.o.Discovery.Routes(), func(rt client.DiscoveredRoute) bool {
		return lb != "" && rt.LB != lb || fe != "" && rt.Frontend != fe
	})
	if out == nil {
		out = []client.DiscoveredRoute{}
	}
	reply(w, http.StatusOK, rev, client.DiscoveredRouteList{Routes: out, TotalCount: len(out)})
}

func (s *Server) listDiscoveredBackends(w http.ResponseWriter, r *http.Request) {
	rev, ok := s.discoveryRevision(w, r)
	if !ok {
		return
	}
	out := s.o.Discovery.Backends()
	if out == nil {
		out = []client.DiscoveredBackend{}
	}
	reply(w, http.StatusOK, rev, client.DiscoveredBackendList{Backends: out, TotalCount: len(out)})
}

// readOnly answers 409 to a write to an object discovery owns: the entry
// point's load balancer or one of the discovery file (and everything in
// them), or a discovered route.
// It reports whether it answered.
func (s *Server) readOnly(w http.ResponseWriter, r *http.Request) bool {
	if s.o.Discovery == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return false
	}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(segs) < 3 || segs[0] != "v1" || segs[1] != "lbs" {
		return false
	}
	lb, fe, route := segs[2], "", ""
	if len(segs) >= 4 && segs[3] == "frontends" && len(segs) >= 5 {
		fe = segs[4]
		if len(segs) == 7 && segs[5] == "routes" {
			route = segs[6]
		}
	}
	why := s.o.Discovery.ReadOnly(lb, fe, route)
	if why == "" {
		return false
	}
	s.problem(w, r, http.StatusConflict, "read-only", why, nil)
	return true
}

// resolvedServers fills in the servers a backend with a Docker selector
// resolves to now.
func (s *Server) resolvedServers(lb string, o *backendOut) {
	if o.Docker == nil {
		return
	}
	o.ResolvedServers = []client.ResolvedServer{}
	if s.o.Discovery != nil {
		if rs := s.o.Discovery.Resolved(lb, o.Name); rs != nil {
			o.ResolvedServers = rs
		}
	}
}

// dockerSelector reads the Docker selector of a backend body: seed 004's
// servers object {"type": "docker", "selector": {"labels": {...}},
// "project": ..., "service": ..., "port": ..., "network": ...}, or the
// model's docker field; nil when the body has neither.
func dockerSelector(b backendIn) (*config.DockerSelector, error) {
	var fromServers *config.DockerSelector
	raw := strings.TrimSpace(string(b.Servers))
	if strings.HasPrefix(raw, "{") {
		var obj serversObject
		if err := decodeStrict([]byte(raw), &obj); err != nil {
			return nil, &badRequest{"servers", err.Error()}
		}
		if obj.Type == "docker" {
			if len(obj.Addresses) > 0 || len(obj.ComputerIDs) > 0 {
				return nil, &badRequest{"servers", `type "docker" takes selector, project, service, port and network, not addresses`}
			}
			fromServers = &config.DockerSelector{Project: obj.Project, Service: obj.Service, Port: obj.Port, Network: obj.Network}
			if obj.Selector != nil {
				fromServers.Labels = maps.Clone(obj.Selector.Labels)
			}
		} else if obj.Selector != nil || obj.Project != "" || obj.Service != "" || obj.Port != 0 || obj.Network != "" {
			return nil, &badRequest{"servers", fmt.Sprintf(`selector, project, service, port and network belong to type "docker", not %q`, obj.Type)}
		}
	}
	var fromField *config.DockerSelector
	if d := b.Docker; d != nil {
		fromField = &config.DockerSelector{Labels: maps.Clone(d.Labels), Project: d.Project, Service: d.Service, Port: d.Port, Network: d.Network}
	}
	if fromServers != nil && fromField != nil {
		return nil, &badRequest{"docker", `also given as servers {"type": "docker", ...}; give one`}
	}
	if fromServers != nil {
		return fromServers, nil
	}
	return fromField, nil
}

// dockerOut is the docker field of a backend as the API shows it.
func dockerOut(s *config.DockerSelector) *client.DockerSelector {
	if s == nil {
		return nil
	}
	return &client.DockerSelector{Labels: maps.Clone(s.Labels), Project: s.Project, Service: s.Service, Port: s.Port, Network: s.Network}
}

// ruleRoute turns the rule of a route body into the conditions it
// stands for (host_header, path_begin), which the body must not give as
// well, and returns the parsed rule (nil when the body has none).
func ruleRoute(in *routeDTO) (*discovery.Rule, error) {
	if in.Rule == "" {
		return nil, nil
	}
	rule, err := discovery.ParseRule(in.Rule)
	if err != nil {
		return nil, &badRequest{"rule", err.Error()}
	}
	if in.HostHeader != "" || in.PathBegin != "" || in.SNI != "" || in.MatchSubdomains ||
		(in.Match != nil && (in.Match.HostHeader != "" || in.Match.PathBegin != "" || in.Match.SNI != "" || in.Match.MatchSubdomains)) {
		return nil, &badRequest{"rule", "a port rule gives the host and path: do not give host_header, path_begin, sni or match_subdomains too"}
	}
	in.Rule = ""
	if in.Match != nil {
		in.Match.HostHeader, in.Match.PathBegin = rule.Host, rule.Path
	} else {
		in.HostHeader, in.PathBegin = rule.Host, rule.Path
	}
	return &rule, nil
}

// withRule checks, in the config being changed, that a route written as
// port rule fits where it goes: its source port is the frontend's
// inbound_port, and its target port a port the backend serves (its
// forward_port, a server's port, or its Docker selector's port). A route
// picks a backend; it cannot change the port the backend forwards to.
func withRule(lbName, fe, backend string, rule *discovery.Rule, mutate func(*config.Config) error) func(*config.Config) error {
	if rule == nil {
		return mutate
	}
	return func(cfg *config.Config) error {
		lb := cfg.LB(lbName)
		if lb == nil {
			return mutate(cfg) // answers the missing LB
		}
		if rule.SourcePort != 0 {
			for i := range lb.Frontends {
				if f := &lb.Frontends[i]; f.Name == fe && f.InboundPort != int(rule.SourcePort) {
					return &config.FieldError{Path: "rule", Msg: fmt.Sprintf("source port %d, but frontend %q listens on %d", rule.SourcePort, fe, f.InboundPort)}
				}
			}
		}
		if b := lb.Backend(backend); b != nil {
			var ports []int
			add := func(p int) {
				if p != 0 && !slices.Contains(ports, p) {
					ports = append(ports, p)
				}
			}
			add(b.ForwardPort)
			for _, srv := range b.Servers {
				add(srv.Port)
			}
			if b.Docker != nil {
				add(b.Docker.ServerPort(b))
			}
			if !slices.Contains(ports, int(rule.Port)) {
				have := make([]string, len(ports))
				for i, p := range ports {
					have[i] = strconv.Itoa(p)
				}
				if len(have) == 0 {
					have = []string{"none"}
				}
				return &config.FieldError{Path: "rule", Msg: fmt.Sprintf("target port %d: backend %q serves port %s (forward_port, its servers' and its docker selector's ports); a route picks a backend and cannot change its port",
					rule.Port, backend, strings.Join(have, ", "))}
			}
		}
		return mutate(cfg)
	}
}
