package app

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/discovery"
	"github.com/gantry-lb/gantry/internal/discovery/file"
	"github.com/gantry-lb/gantry/internal/upstream"
)

// This file compiles what discovery sees into config objects, on a private
// copy of the stored config that only the snapshot builder reads: the
// stored config (the store, the API, history) never holds a discovered
// object. Every provider goes through merge, in one order: the entry
// point, then the discovery file's load balancers, then the containers
// (which may attach to, join or be selected by the file's objects as they
// would the API's).
//
//   - gantry serve --http ADDR adds an entry point: load balancer
//     EntryLB with one HTTP frontend EntryFrontend on ADDR. Containers
//     without gantry.lb attach their routes there.
//   - Every routing rule of a container (gantry.http.*, gantry.http.rules,
//     the Rancher label) asks for a route (host, path) on one or more HTTP
//     frontends. Containers asking for the same route with the same
//     settings (PROXY protocol, health check path) share one backend, made
//     here and named after the route (stable while the route exists, so
//     live endpoint state survives every rebuild); each container is a
//     server at its rule's target port.
//   - A container with gantry.backend joins that API backend instead, and
//     its routes lead there.
//   - An API backend with a Docker selector gets every matching container
//     as a server.
//   - gantry serve --file adds the file's load balancers whole, those
//     whose names the config (or the entry point) does not have: names
//     are the boundary, so a file never changes an object of the API's,
//     and the API refuses writes to the file's (source: file).
//
// Only ready containers (Container.Ready, or the selector's equivalent)
// become servers. A container whose labels ask for routes keeps them while
// it exists, ready or not, so that its host answers 503 rather than 404
// while every replica is starting or stopping. A container whose request
// cannot be met (no such load balancer, frontend or backend, a route taken
// with other settings) is rejected alone, with the reason kept for
// `gantry explain`.

// Names of the entry point gantry serve --http makes.
const (
	EntryLB       = "docker"
	EntryFrontend = "http"
)

// Settings of the health check a gantry.healthcheck.path label asks for:
// checks every 2 s, every 100 ms while a container is starting or changing
// state, so that a new container takes traffic within ~100 ms of answering.
const (
	labelCheckDelay     config.Millis = 2000
	labelCheckTransient config.Millis = 100
	labelCheckTimeout   config.Millis = 1000
)

// unroutedHost is the host of the placeholder route an entry point gets
// while no container is routed: a frontend needs a route or a default
// backend, and a default backend would answer 503 instead of 404 to every
// host. ".invalid" never resolves (RFC 6761).
const unroutedHost = "unrouted.invalid"

// entryPoint is gantry serve's --http entry point.
type entryPoint struct {
	lb, frontend string
	ip           string // "" for all addresses
	port         int
	addr         string // as given
}

// parseEntry reads --http ADDR: host:port with an IP literal or no host.
func parseEntry(addr string) (*entryPoint, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--http %q: %w", addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("--http %q: port %q is not 1-65535", addr, port)
	}
	e := &entryPoint{lb: EntryLB, frontend: EntryFrontend, port: n, addr: addr}
	if host != "" {
		a, err := netip.ParseAddr(host)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("--http %q: %q is not an IP address (give an IP, or :%d for all addresses)", addr, host, n)
		}
		e.ip = a.String()
	}
	return e, nil
}

// addTo adds the entry point's load balancer to cfg (a private copy), with
// the IP object its address needs when cfg lists IPs.
func (e *entryPoint) addTo(cfg *config.Config) error {
	if cfg.LB(e.lb) != nil {
		return fmt.Errorf("the config has a load balancer named %q: the --http entry point is not added (rename that load balancer, or give discovered routes gantry.lb)", e.lb)
	}
	lb := config.LB{Name: e.lb, Description: "gantry serve --http " + e.addr,
		Frontends: []config.Frontend{{Name: e.frontend, InboundPort: e.port, Protocol: config.ProtocolHTTP}}}
	if e.ip != "" {
		lb.IPs = []string{e.ip}
		addIPs(cfg, config.IP{Address: e.ip})
	}
	cfg.LBs = append(cfg.LBs, lb)
	return nil
}

// addIPs gives cfg (a private copy) an IP object for each of ips whose
// address it lacks, when it lists IP objects at all: when it does not,
// any load balancer may bind any address.
func addIPs(cfg *config.Config, ips ...config.IP) {
	if len(cfg.IPs) == 0 {
		return
	}
	for _, ip := range ips {
		if cfg.IP(ip.Address) == nil {
			cfg.IPs = append(cfg.IPs, ip)
		}
	}
}

// compiled is the outcome of one compile: the config to build and what the
// API shows about it. Immutable once made.
type compiled struct {
	// cfg is the stored config plus the discovered objects.
	cfg *config.Config
	// entryErr says why the entry point is missing, if so.
	entryErr error
	// failed, when set, says why the discovered objects are not served:
	// this compiled is the fallback built without them.
	failed error
	// starting are the keys of the servers made from containers.
	starting map[upstream.Key]bool
	// verdicts by container ID.
	verdicts map[string]*verdict
	routes   []client.DiscoveredRoute
	backends []client.DiscoveredBackend
	// resolved lists the servers made from containers of each backend, by
	// "lb/backend".
	resolved map[string][]resolvedServer
	set      *discovery.Set
	// file is the discovery file's version merged in (nil: none);
	// fileLBs the names of its load balancers that are served, and
	// fileRejected why the others are not. fileFailed, when set, says why
	// none is: this compiled is a fallback built without them.
	file         *file.Version
	fileLBs      []string
	fileRejected []error
	fileFailed   error
}

// fileErr says why some or all of the file's load balancers are not
// served, or nil.
func (c *compiled) fileErr() error {
	if c.fileFailed != nil {
		return c.fileFailed
	}
	return errors.Join(c.fileRejected...)
}

// sources is what merge adds to the stored config: the latest output of
// each provider (nil when it is off or has none yet), the entry point
// (nil: none), and the default network of Docker selectors.
type sources struct {
	set     *discovery.Set
	file    *file.Version
	entry   *entryPoint
	network string
}

// verdict is what compile decided for one container.
type verdict struct {
	c *discovery.Container
	// keys are the routes its labels ask for, and ports the target port
	// of each; join the API backend it joins (gantry.backend) at joinPort.
	keys     []groupKey
	ports    []uint16
	join     *groupKey
	joinPort int
	// rejected says why its labels' request cannot be met.
	rejected error
	// selectorErr is why a selector backend that selects it does not
	// have it as a server, if so.
	selectorErr error
	routes      []client.ContainerRoute
	servers     []serverRef
}

// serverRef is a container as a server of a backend.
type serverRef struct {
	lb, backend, addr string
}

func (s serverRef) key() upstream.Key {
	return upstream.Key{Backend: s.lb + "/" + s.backend, Addr: s.addr}
}

// resolvedServer is a server made from a container.
type resolvedServer struct {
	container, id, addr string
	weight              int
}

// groupKey identifies a discovered route and the backend behind it.
type groupKey struct {
	lb, fe, host, path string
	proxy              string // config.Proxy*
	check              string // health check path
	join               string // API backend the route leads to, if any
}

func (k groupKey) match() [4]string { return [4]string{k.lb, k.fe, k.host, k.path} }

// group is a route some containers ask for.
type group struct {
	key    groupKey
	name   string // of the route, and of the backend unless key.join
	claims []*verdict
}

// withEntry returns a copy of stored with the entry point added, and why
// it could not be added.
func withEntry(stored *config.Config, entry *entryPoint) (*config.Config, error) {
	out := stored.Clone()
	if entry == nil {
		return out, nil
	}
	return out, entry.addTo(out)
}

// addPlaceholder gives the entry point's frontend its placeholder route
// (see unroutedHost).
func addPlaceholder(cfg *config.Config, entry *entryPoint) {
	lb := cfg.LB(entry.lb)
	lb.Backends = append(lb.Backends, config.Backend{Name: "unrouted", ForwardProtocol: config.ProtocolHTTP})
	fe := findFrontend(lb, entry.frontend)
	fe.Routes = fe.Routes.Append(config.Route{Backend: "unrouted", HostHeader: unroutedHost})
}

// compile merges set into a private copy of stored (nil: empty), with
// entry (nil: none) and network the default network of selectors.
func compile(stored *config.Config, set *discovery.Set, entry *entryPoint, network string) *compiled {
	return merge(stored, sources{set: set, entry: entry, network: network})
}

// merge adds what src holds to a private copy of stored (nil: empty): the
// entry point, the file's load balancers, then the containers.
func merge(stored *config.Config, src sources) *compiled {
	if stored == nil {
		stored = &config.Config{}
	}
	entry, network := src.entry, src.network
	cmp := &compiled{starting: map[upstream.Key]bool{}, verdicts: map[string]*verdict{}, resolved: map[string][]resolvedServer{}, set: src.set}
	out, entryErr := withEntry(stored, entry)
	cmp.entryErr = entryErr
	hasEntry := entry != nil && cmp.entryErr == nil
	// From here on, "stored" is what containers see as the config: the
	// stored one plus the file's load balancers.
	stored = cmp.addFile(out, stored, src.file, entry)
	var containers []discovery.Container
	if src.set != nil {
		containers = src.set.Containers
	}

	// What each container asks for.
	groups := map[groupKey]*group{}
	var order []groupKey
	var asked []*verdict
	for i := range containers {
		c := &containers[i]
		v := &verdict{c: c}
		cmp.verdicts[c.ID] = v
		if c.LabelErr != nil || c.Intent.Mode == discovery.ModeNone {
			continue
		}
		if err := v.plan(out, stored, entry, hasEntry, cmp.entryErr); err != nil {
			v.rejected = err
			continue
		}
		asked = append(asked, v)
		for _, k := range v.keys {
			g := groups[k]
			if g == nil {
				g = &group{key: k, name: groupName(k)}
				groups[k] = g
				order = append(order, k)
			}
			if !slices.Contains(g.claims, v) {
				g.claims = append(g.claims, v)
			}
		}
	}

	// Settle the routes asked for by several groups with different
	// settings, and those the API has: the first name wins, the others'
	// containers are rejected. A container rejected for one of its routes
	// is rejected whole.
	slices.SortFunc(order, func(a, b groupKey) int { return strings.Compare(groups[a].name, groups[b].name) })
	winner := map[[4]string]*group{}
	reject := func(g *group, err error) {
		for _, v := range g.claims {
			if v.rejected == nil {
				v.rejected = err
			}
		}
	}
	for _, k := range order {
		g := groups[k]
		if w := winner[k.match()]; w != nil {
			reject(g, fmt.Errorf("route %s on frontend %s of load balancer %s is also asked for, with other settings (PROXY protocol, health check path or backend), by %s: route %s wins",
				routeText(k.host, k.path), k.fe, k.lb, strings.Join(containerNames(w.claims), ", "), w.name))
			continue
		}
		if err := shadowedOrTaken(stored, g); err != nil {
			reject(g, err)
			continue
		}
		winner[k.match()] = g
	}

	// Routes, and backends of their own, for the groups left.
	for _, k := range order {
		g := groups[k]
		g.claims = slices.DeleteFunc(g.claims, func(v *verdict) bool { return v.rejected != nil })
		if winner[k.match()] != g || len(g.claims) == 0 {
			continue
		}
		lb := out.LB(k.lb)
		target := k.join
		if target == "" {
			target = g.name
			b := config.Backend{Name: g.name, ForwardProtocol: config.ProtocolHTTP, ProxyProtocol: k.proxy}
			if k.check != "" {
				b.HealthCheck = &config.HealthCheck{CheckDelay: labelCheckDelay, TransientCheckDelay: labelCheckTransient,
					CheckTimeout: labelCheckTimeout, HTTPConfig: &config.HTTPCheck{URI: k.check}}
			}
			lb.Backends = append(lb.Backends, b)
			cmp.resolved[k.lb+"/"+g.name] = []resolvedServer{}
			cmp.backends = append(cmp.backends, client.DiscoveredBackend{Source: client.SourceDocker, LB: k.lb, Name: g.name,
				ProxyProtocol: k.proxy, HealthCheckPath: k.check})
		}
		fe := findFrontend(lb, k.fe)
		r := config.Route{Name: g.name, Backend: target, HostHeader: k.host, PathBegin: k.path}
		fe.Routes = fe.Routes.Append(r)
		match := client.RouteMatch{HostHeader: r.HostHeader, PathBegin: r.PathBegin}
		cmp.routes = append(cmp.routes, client.DiscoveredRoute{Source: client.SourceDocker, ReadOnly: true, LB: k.lb, Frontend: k.fe,
			Name: r.Name, Backend: target, Match: match, Containers: containerNames(g.claims)})
		for _, v := range g.claims {
			v.routes = append(v.routes, client.ContainerRoute{LB: k.lb, Frontend: k.fe, Route: r.Name, Backend: target, Match: match})
		}
	}

	// Servers: the ready containers whose request was met.
	for _, v := range asked {
		if v.rejected != nil {
			continue
		}
		ip, err := v.c.Ready()
		if err != nil {
			continue
		}
		if v.join != nil {
			lb := out.LB(v.join.lb)
			addServer(cmp, v, lb, lb.Backend(v.join.join), ip, v.joinPort)
			continue
		}
		for i, k := range v.keys {
			g := groups[k]
			if winner[k.match()] != g {
				continue
			}
			lb := out.LB(k.lb)
			addServer(cmp, v, lb, lb.Backend(g.name), ip, int(v.ports[i]))
		}
	}

	// Backends with a Docker selector follow the containers they select.
	for i := range stored.LBs {
		for j := range stored.LBs[i].Backends {
			sel := stored.LBs[i].Backends[j].Docker
			if sel == nil {
				continue
			}
			lb := out.LB(stored.LBs[i].Name)
			b := lb.Backend(stored.LBs[i].Backends[j].Name)
			nw := sel.Network
			if nw == "" {
				nw = network
			}
			if _, ok := cmp.resolved[lb.Name+"/"+b.Name]; !ok {
				cmp.resolved[lb.Name+"/"+b.Name] = []resolvedServer{}
			}
			for k := range containers {
				c := &containers[k]
				if !sel.Matches(c.Labels, c.Project, c.Service) {
					continue
				}
				v := cmp.verdicts[c.ID]
				ip, err := selectorReady(c, nw)
				if err != nil {
					if v.selectorErr == nil {
						v.selectorErr = fmt.Errorf("selected by backend %s of load balancer %s, but %w", b.Name, lb.Name, err)
					}
					continue
				}
				addServer(cmp, v, lb, b, ip, sel.ServerPort(b))
			}
		}
	}

	if hasEntry {
		if fe := findFrontend(out.LB(entry.lb), entry.frontend); fe.Routes.Len() == 0 {
			addPlaceholder(out, entry)
		}
	}
	for key := range cmp.resolved {
		lbName, name, _ := strings.Cut(key, "/")
		if !slices.ContainsFunc(cmp.backends, func(b client.DiscoveredBackend) bool { return b.LB == lbName && b.Name == name }) {
			cmp.backends = append(cmp.backends, client.DiscoveredBackend{Source: client.SourceAPI, LB: lbName, Name: name})
		}
	}
	slices.SortFunc(cmp.backends, func(a, b client.DiscoveredBackend) int {
		return strings.Compare(a.LB+"/"+a.Name, b.LB+"/"+b.Name)
	})
	slices.SortStableFunc(cmp.routes, func(a, b client.DiscoveredRoute) int {
		return strings.Compare(a.LB+"/"+a.Frontend+"/"+a.Name, b.LB+"/"+b.Frontend+"/"+b.Name)
	})
	cmp.cfg = out
	return cmp
}

// addFile adds the load balancers of the discovery file's version v (nil:
// none) to out, the private copy with the entry point, except those whose
// names out has already; and returns what containers see as the config:
// stored plus the load balancers added. Both get copies of their own: the
// published version is never modified.
func (cmp *compiled) addFile(out, stored *config.Config, v *file.Version, entry *entryPoint) *config.Config {
	cmp.file = v
	if v == nil || v.Config == nil {
		return stored
	}
	seen := &config.Config{LBs: slices.Clip(stored.LBs), IPs: stored.IPs, Certificates: stored.Certificates}
	own := v.Config.Clone() // out's copy: containers add routes and servers to it
	addIPs(out, own.IPs...)
	for i := range own.LBs {
		lb := &own.LBs[i]
		if out.LB(lb.Name) != nil {
			why := fmt.Errorf("load balancer %q of %s is not served: the config has a load balancer of that name, and the config's wins", lb.Name, v.Path)
			if entry != nil && lb.Name == entry.lb {
				why = fmt.Errorf("load balancer %q of %s is not served: it is the name of the --http entry point's load balancer", lb.Name, v.Path)
			}
			cmp.fileRejected = append(cmp.fileRejected, why)
			continue
		}
		for _, a := range lb.IPs {
			addIPs(out, config.IP{Address: a})
		}
		out.LBs = append(out.LBs, *lb)
		seen.LBs = append(seen.LBs, v.Config.LBs[i])
		cmp.fileLBs = append(cmp.fileLBs, lb.Name)
		cmp.listFileObjects(lb)
	}
	return seen
}

// listFileObjects lists the routes and backends of lb, a load balancer of
// the discovery file, for the API (source: file).
func (cmp *compiled) listFileObjects(lb *config.LB) {
	for _, f := range lb.Frontends {
		for _, r := range f.Routes.All() {
			var headers []client.HeaderMatch
			for _, h := range r.Headers {
				headers = append(headers, client.HeaderMatch(h))
			}
			cmp.routes = append(cmp.routes, client.DiscoveredRoute{Source: client.SourceFile, ReadOnly: true, LB: lb.Name, Frontend: f.Name,
				Name: r.Name, Backend: r.Backend, Containers: []string{}, Match: client.RouteMatch{HostHeader: r.HostHeader, SNI: r.SNI,
					MatchSubdomains: r.MatchSubdomains, PathBegin: r.PathBegin, Headers: headers}})
		}
	}
	for _, b := range lb.Backends {
		cmp.backends = append(cmp.backends, client.DiscoveredBackend{Source: client.SourceFile, LB: lb.Name, Name: b.Name, ProxyProtocol: b.ProxyProtocol})
	}
}

// addServer makes container v, at ip, a server of backend b of lb at port,
// unless b has a server at that address already.
func addServer(cmp *compiled, v *verdict, lb *config.LB, b *config.Backend, ip netip.Addr, port int) {
	c := v.c
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(port))
	key := lb.Name + "/" + b.Name
	if slices.ContainsFunc(cmp.resolved[key], func(r resolvedServer) bool { return r.addr == addr }) {
		return // asked for twice, or joined and selected
	}
	for _, s := range b.Servers {
		sp := s.Port
		if sp == 0 {
			sp = b.ForwardPort
		}
		if a, err := netip.ParseAddr(s.IP); err == nil && a.Unmap() == ip.Unmap() && sp == port {
			return // a static server of the API has this address
		}
	}
	w := 1
	if c.Intent.Mode != discovery.ModeNone {
		w = c.Intent.Weight
	}
	b.Servers = append(b.Servers, config.Server{Name: serverName(c.Name, b.Servers), IP: ip.String(), Port: port, Weight: &w})
	cmp.resolved[key] = append(cmp.resolved[key], resolvedServer{container: c.Name, id: c.ID, addr: addr, weight: w})
	ref := serverRef{lb: lb.Name, backend: b.Name, addr: addr}
	cmp.starting[ref.key()] = true
	v.servers = append(v.servers, ref)
}

// serverName is the container's name as a server name, when it is a
// valid name not used yet, else "" (names are optional).
func serverName(name string, servers []config.Server) string {
	if config.ValidName(name) != nil || slices.ContainsFunc(servers, func(s config.Server) bool { return s.Name == name }) {
		return ""
	}
	return name
}

// plan fills in the routes container v's labels ask for (keys, ports)
// and the backend it joins, or returns why they cannot be met. out is the
// config being built (with the entry point); stored the config as stored.
func (v *verdict) plan(out, stored *config.Config, entry *entryPoint, hasEntry bool, entryErr error) error {
	in := &v.c.Intent
	lbName := in.LB
	if lbName == "" {
		switch {
		case entry == nil:
			return errors.New("no load balancer to attach to: gantry serve has no --http entry point; start it with --http ADDR, or set gantry.lb (and gantry.frontend)")
		case !hasEntry:
			return fmt.Errorf("the --http entry point is not served (%v); set gantry.lb", entryErr)
		}
		lbName = entry.lb
	}
	lb := out.LB(lbName)
	if lb == nil {
		return fmt.Errorf("label %s: no load balancer named %q", discovery.LabelLB, lbName)
	}
	proxy, check := proxyOf(in.ProxyProtocol), in.HealthCheckPath
	if in.Backend != "" {
		var be *config.Backend
		if slb := stored.LB(lbName); slb != nil {
			be = slb.Backend(in.Backend)
		}
		if be == nil {
			return fmt.Errorf("label %s: no backend named %q in load balancer %q", discovery.LabelBackend, in.Backend, lbName)
		}
		port := int(in.Port)
		if port == 0 {
			port = be.ForwardPort
		}
		if port == 0 {
			return fmt.Errorf("label %s: backend %q has no forward_port: set %s", discovery.LabelBackend, in.Backend, discovery.LabelHTTPPort)
		}
		for _, r := range in.Rules {
			if int(r.Port) != port {
				return fmt.Errorf("rule %s: target port %d differs from port %d, which the container joins backend %q with", r, r.Port, port, in.Backend)
			}
		}
		if len(in.Rules) > 0 && be.ForwardProtocol != config.ProtocolHTTP {
			return fmt.Errorf("label %s: backend %q forwards %s; routes by host and path need forward_protocol http", discovery.LabelBackend, in.Backend, protoOr(be.ForwardProtocol))
		}
		v.join = &groupKey{lb: lbName, join: in.Backend}
		v.joinPort = port
		// The backend's own PROXY protocol and health check apply.
		proxy, check = "", ""
	}
	for _, r := range in.Rules {
		fes, err := frontendsFor(lb, in.Frontend, r, hasEntry && lbName == entry.lb)
		if err != nil {
			return err
		}
		for _, fe := range fes {
			v.keys = append(v.keys, groupKey{lb: lbName, fe: fe, host: r.Host, path: r.Path, proxy: proxy, check: check, join: in.Backend})
			v.ports = append(v.ports, r.Port)
		}
	}
	return nil
}

// frontendsFor returns the HTTP frontends of lb a rule attaches to: the
// one named by gantry.frontend, else those listening on the rule's source
// port, else the entry point's frontend (on the entry LB) or every HTTP
// frontend of lb.
func frontendsFor(lb *config.LB, named string, r discovery.Rule, isEntry bool) ([]string, error) {
	if named != "" {
		f := findFrontend(lb, named)
		switch {
		case f == nil:
			return nil, fmt.Errorf("label %s: no frontend named %q in load balancer %q", discovery.LabelFrontend, named, lb.Name)
		case frontendProto(lb, f) != config.ProtocolHTTP:
			return nil, fmt.Errorf("label %s: frontend %q of load balancer %q speaks %s; discovered routes need http", discovery.LabelFrontend, named, lb.Name, frontendProto(lb, f))
		case r.SourcePort != 0 && int(r.SourcePort) != f.InboundPort:
			return nil, fmt.Errorf("rule %s: source port %d, but frontend %q listens on %d", r, r.SourcePort, named, f.InboundPort)
		}
		return []string{f.Name}, nil
	}
	var out []string
	var ports []string
	for i := range lb.Frontends {
		f := &lb.Frontends[i]
		if frontendProto(lb, f) != config.ProtocolHTTP {
			continue
		}
		ports = append(ports, strconv.Itoa(f.InboundPort))
		if r.SourcePort == 0 || int(r.SourcePort) == f.InboundPort {
			out = append(out, f.Name)
		}
	}
	switch {
	case len(out) == 0 && r.SourcePort != 0:
		return nil, fmt.Errorf("rule %s: no http frontend of load balancer %q listens on port %d (http frontends listen on: %s)", r, lb.Name, r.SourcePort, orNone(ports))
	case len(out) == 0:
		return nil, fmt.Errorf("load balancer %q has no http frontend for the routes", lb.Name)
	case isEntry:
		return out[:1], nil
	}
	return out, nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func findFrontend(lb *config.LB, name string) *config.Frontend {
	for i := range lb.Frontends {
		if lb.Frontends[i].Name == name {
			return &lb.Frontends[i]
		}
	}
	return nil
}

// frontendProto is the protocol of f with its default applied: its own,
// else its default (or first routed) backend's forward protocol (tcp by
// default).
func frontendProto(lb *config.LB, f *config.Frontend) config.Protocol {
	if f.Protocol != "" {
		return f.Protocol
	}
	name := f.Backend
	if name == "" && f.Routes.Len() > 0 {
		name = f.Routes.At(0).Backend
	}
	if b := lb.Backend(name); b != nil {
		return protoOr(b.ForwardProtocol)
	}
	return ""
}

func protoOr(p config.Protocol) config.Protocol {
	if p == "" {
		return config.ProtocolTCP
	}
	return p
}

func proxyOf(p discovery.ProxyProtocol) string {
	switch p {
	case discovery.ProxyV1:
		return config.ProxyV1
	case discovery.ProxyV2:
		return config.ProxyV2
	}
	return ""
}

// shadowedOrTaken reports a group whose route an API route of the same
// frontend already matches first (same host and path, no other
// condition), or whose names the stored config uses.
func shadowedOrTaken(stored *config.Config, g *group) error {
	k := g.key
	if slb := stored.LB(k.lb); slb != nil {
		if k.join == "" && slb.Backend(g.name) != nil {
			return fmt.Errorf("the config has a backend named %q in load balancer %q, the name of a discovered backend", g.name, k.lb)
		}
		if f := findFrontend(slb, k.fe); f != nil {
			for _, r := range f.Routes.All() {
				if r.Name == g.name {
					return fmt.Errorf("the config has a route named %q on frontend %q, the name of a discovered route", g.name, k.fe)
				}
				if r.HostHeader == k.host && r.PathBegin == k.path && len(r.Headers) == 0 && !r.MatchSubdomains && r.Priority == 0 {
					name := r.Name
					if name == "" {
						name = "(unnamed)"
					}
					return fmt.Errorf("route %s on frontend %s of load balancer %s is shadowed by route %s of the API, which matches the same requests first", routeText(k.host, k.path), k.fe, k.lb, name)
				}
			}
		}
	}
	return nil
}

// groupName names a group's route (and backend): "docker-", the host and
// path made a name, and a hash of the whole key, so that it is unique and
// stays the same while the key does.
func groupName(k groupKey) string {
	h := fnv.New32a()
	for _, s := range []string{k.lb, k.fe, k.host, k.path, k.proxy, k.check, k.join} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var b strings.Builder
	host := k.host
	if host == "" {
		host = "any"
	}
	for _, c := range strings.ToLower(strings.Replace(host, "*", "wildcard", 1) + k.path) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
			b.WriteRune(c)
		case c == '/':
			if b.Len() > 0 && !strings.HasSuffix(b.String(), ".") {
				b.WriteByte('.')
			}
		default:
			b.WriteByte('-')
		}
	}
	slug := strings.Trim(b.String(), ".-_")
	if len(slug) > 46 {
		slug = strings.TrimRight(slug[:46], ".-_")
	}
	return "docker-" + slug + "-" + strconv.FormatUint(uint64(h.Sum32()&0xffffff), 16)
}

func routeText(host, path string) string {
	if host == "" {
		host = "(any host)"
	}
	return host + path
}

func containerNames(vs []*verdict) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if !slices.Contains(out, v.c.Name) {
			out = append(out, v.c.Name)
		}
	}
	return out
}

// selectorReady is Container.Ready for a container picked by a selector:
// its labels do not matter, only its state, health and address on network.
func selectorReady(c *discovery.Container, network string) (netip.Addr, error) {
	cc := *c
	cc.LabelErr = nil
	cc.Intent = discovery.Intent{Mode: discovery.ModeNative, Network: network}
	return cc.Ready()
}
