package app

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/discovery"
	"github.com/gantry-lb/gantry/internal/discovery/file"
	"github.com/gantry-lb/gantry/internal/snapshot"
	"github.com/gantry-lb/gantry/internal/upstream"
)

// fileVersion parses doc as the file provider does.
func fileVersion(t *testing.T, doc string) *file.Version {
	t.Helper()
	cfg, err := file.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("the test's file does not parse: %v", err)
	}
	return &file.Version{Path: "/etc/gantry/routes.yaml", Generation: 1, Config: cfg}
}

const edgeFile = `
ips: [{address: 127.0.0.2, reverse: lb.example.com}]
lbs:
- name: edge
  ips: [127.0.0.2]
  frontends:
  - name: web
    inbound_port: 9100
    protocol: http
    backend: static
    routes:
    - {name: f, host_header: f.example.com, backend: sel, headers: [{name: X-Env, value: prod}]}
  backends:
  - {name: static, forward_protocol: http, servers: [{ip: 10.0.0.9, port: 80}]}
  - {name: sel, forward_protocol: http, docker: {labels: {app: x}, port: 80}}
- name: dup
  frontends: [{name: web, inbound_port: 9101, backend: b}]
  backends: [{name: b, servers: [{ip: 10.0.0.9, port: 80}]}]
- name: docker
  frontends: [{name: web, inbound_port: 9102, backend: b}]
  backends: [{name: b, servers: [{ip: 10.0.0.9, port: 80}]}]
`

// TestMergeFile: the file's load balancers go through the same merge as
// the containers: containers attach routes to them (gantry.lb), Docker
// selectors of their backends resolve, names the config or the entry
// point has are left to them, and the published version is never changed.
func TestMergeFile(t *testing.T) {
	e := entry(t)
	v := fileVersion(t, edgeFile)
	stored := &config.Config{IPs: []config.IP{{Address: "10.0.0.1"}}, LBs: []config.LB{{Name: "dup", IPs: []string{"10.0.0.1"},
		Backends:  []config.Backend{{Name: "api", ForwardProtocol: config.ProtocolHTTP, Servers: []config.Server{{IP: "10.0.0.2", Port: 80}}}},
		Frontends: []config.Frontend{{Name: "main", InboundPort: 9000, Backend: "api"}}}}}
	selected := ctr(t, "selected", "172.17.0.2", lbls("app", "x"), discovery.LabelOptions{})
	attached := ctr(t, "attached", "172.17.0.3", lbls("gantry.enable", "true", "gantry.lb", "edge", "gantry.http.hosts", "d.example.com"), discovery.LabelOptions{})
	cmp := merge(stored, sources{set: &discovery.Set{Connected: true, Containers: []discovery.Container{attached, selected}}, file: v, entry: e})
	snap, err := snapshot.BuildLive(cmp.cfg, snapshot.Live{Registry: upstream.NewRegistry(), Starting: func(k upstream.Key) bool { return cmp.starting[k] }}, 1)
	if err != nil {
		t.Fatalf("build: %v", err)
	}

	// Traffic: the file's route to its selector backend, a container's
	// route on the file's frontend, the file's default backend.
	if b, _ := route(t, snap, "127.0.0.2:9100", "f.example.com", "/"); b != "static" {
		t.Errorf("f.example.com without its header: %s, want the default backend", b)
	}
	fe := snap.Frontend("127.0.0.2:9100")
	if b := fe.Route([]byte("f.example.com"), []byte("/"), envProd{}); b == nil || b.Name != "sel" ||
		len(b.Endpoints) != 1 || b.Endpoints[0].Addr != "172.17.0.2:80" {
		t.Errorf("f.example.com: %+v", b)
	}
	if b, addrs := route(t, snap, "127.0.0.2:9100", "d.example.com", "/"); !strings.HasPrefix(b, "docker-") || !slices.Equal(addrs, []string{"172.17.0.3:80"}) {
		t.Errorf("a container's route on the file's frontend: %s %v", b, addrs)
	}
	if b, addrs := route(t, snap, "127.0.0.2:9100", "other.example.com", "/"); b != "static" || !slices.Equal(addrs, []string{"10.0.0.9:80"}) {
		t.Errorf("the file's default backend: %s %v", b, addrs)
	}

	// Names: the config's and the entry point's win.
	if !slices.Equal(cmp.fileLBs, []string{"edge"}) || len(cmp.fileRejected) != 2 {
		t.Fatalf("served %v, rejected %v", cmp.fileLBs, cmp.fileRejected)
	}
	if err := cmp.fileErr().Error(); !strings.Contains(err, `"dup" of /etc/gantry/routes.yaml is not served: the config has a load balancer of that name`) ||
		!strings.Contains(err, `"docker" of /etc/gantry/routes.yaml is not served: it is the name of the --http entry point's load balancer`) {
		t.Errorf("rejections: %s", err)
	}
	if b := cmp.cfg.LB("dup").Backend("api"); b == nil {
		t.Error("the config's load balancer dup was replaced")
	}
	if ip := cmp.cfg.IP("127.0.0.2"); ip == nil || ip.Reverse != "lb.example.com" {
		t.Errorf("the file's IP object: %+v", cmp.cfg.IPs)
	}

	// What the API shows.
	var fileRoute, dockerRoute *client.DiscoveredRoute
	for i, r := range cmp.routes {
		switch r.Source {
		case client.SourceFile:
			fileRoute = &cmp.routes[i]
		case client.SourceDocker:
			dockerRoute = &cmp.routes[i]
		}
	}
	if fileRoute == nil || !fileRoute.ReadOnly || fileRoute.LB != "edge" || fileRoute.Name != "f" || fileRoute.Backend != "sel" ||
		len(fileRoute.Match.Headers) != 1 || fileRoute.Containers == nil {
		t.Errorf("the file's route: %+v", fileRoute)
	}
	if dockerRoute == nil || dockerRoute.LB != "edge" || dockerRoute.Frontend != "web" {
		t.Errorf("the container's route: %+v", dockerRoute)
	}
	var origins []string
	for _, b := range cmp.backends {
		if b.LB == "edge" {
			origins = append(origins, b.Name+":"+b.Source)
		}
	}
	if !slices.Contains(origins, "sel:file") || !slices.Contains(origins, "static:file") || slices.Contains(origins, "sel:api") {
		t.Errorf("backends of edge: %v", origins)
	}
	if rs := cmp.resolved["edge/sel"]; len(rs) != 1 || rs[0].container != "selected" {
		t.Errorf("the file's selector resolved to %+v", rs)
	}
	view := apiView{ds: &discoveryState{cur: cmp, entry: e}}
	if why := view.ReadOnly("edge", "web", "f"); !strings.Contains(why, "source: file") || !strings.Contains(why, "edit the file") {
		t.Errorf("ReadOnly of the file's load balancer: %q", why)
	}
	if why := view.ReadOnly("dup", "main", ""); why != "" {
		t.Errorf("the config's load balancer dup is read-only: %q", why)
	}

	// Nothing of the merge leaked into the published version or the
	// stored config.
	if lb := v.Config.LB("edge"); lb.Frontends[0].Routes.Len() != 1 || len(lb.Backend("sel").Servers) != 0 || len(v.Config.IPs) != 1 {
		t.Errorf("the file's version was changed: %+v", lb)
	}
	if len(stored.IPs) != 1 || len(stored.LBs) != 1 {
		t.Errorf("the stored config was changed: %+v", stored)
	}

	// A removed file (no Config) adds nothing.
	gone := merge(stored, sources{file: &file.Version{Path: v.Path, Err: errMissing}})
	if len(gone.fileLBs) != 0 || gone.cfg.LB("edge") != nil || gone.fileErr() != nil {
		t.Errorf("a missing file: %+v", gone.fileLBs)
	}
}

var errMissing = &config.FieldError{Path: "x", Msg: "missing"}

// envProd is a request with the header X-Env: prod.
type envProd struct{}

func (envProd) Get(name string) ([]byte, bool) {
	if strings.EqualFold(name, "X-Env") {
		return []byte("prod"), true
	}
	return nil, false
}

// TestBuildFallbackFile: a file whose load balancers do not fit the
// stored config (a port an API frontend binds) is dropped alone: the
// stored config and the containers are served, and the status says why.
func TestBuildFallbackFile(t *testing.T) {
	lb := func(name string) string {
		return "{name: " + name + ", ips: [127.0.0.1], frontends: [{name: web, inbound_port: 9100, backend: b}]," +
			" backends: [{name: b, forward_protocol: http, servers: [{ip: 10.0.0.9, port: 80}]}]}"
	}
	stored, err := config.Parse([]byte("lbs: [" + lb("api") + "]"))
	if err != nil {
		t.Fatal(err)
	}
	web := ctr(t, "web", "172.17.0.2", lbls("gantry.enable", "true", "gantry.http.hosts", "a.example.com"), discovery.LabelOptions{})
	ds := &discoveryState{log: slog.New(slog.DiscardHandler), entry: entry(t), file: fileVersion(t, "lbs: ["+lb("edge")+"]")}
	ds.set = &discovery.Set{Connected: true, Containers: []discovery.Container{web}}
	live := snapshot.Live{Registry: upstream.NewRegistry()}
	snap, err := ds.build(stored, live, 3)
	if err != nil {
		t.Fatalf("the config alone builds, so the build must: %v", err)
	}
	if fe := snap.Frontend("127.0.0.1:9100"); fe == nil || fe.LB != "api" {
		t.Errorf("the config's frontend is not served: %v", snap.Addrs())
	}
	if b, addrs := route(t, snap, "127.0.0.1:8080", "a.example.com", "/"); b == "" || !slices.Equal(addrs, []string{"172.17.0.2:80"}) {
		t.Errorf("the containers were dropped with the file: %s %v", b, addrs)
	}
	if ds.applyErr != nil || ds.cur.fileFailed == nil || !strings.Contains(ds.cur.fileErr().Error(), "lbs[edge].frontends[web].inbound_port") ||
		ds.cur.file != ds.file || len(ds.cur.fileLBs) != 0 {
		t.Errorf("apply error %v, file error %v, served %v", ds.applyErr, ds.cur.fileErr(), ds.cur.fileLBs)
	}
	// Without the conflict, the file is served again.
	stored.LBs[0].Frontends[0].InboundPort = 9090
	if _, err := ds.build(stored, live, 4); err != nil || ds.cur.fileErr() != nil || !slices.Equal(ds.cur.fileLBs, []string{"edge"}) {
		t.Errorf("build %v, file error %v, served %v", err, ds.cur.fileErr(), ds.cur.fileLBs)
	}
}
