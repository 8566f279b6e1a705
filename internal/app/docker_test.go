package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	dockerclient "github.com/docker/docker/client"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/app"
	"github.com/gantry-lb/gantry/internal/discovery/docker"
	"github.com/gantry-lb/gantry/internal/discovery/docker/dockertest"
)

// dockerServe is a running `gantry serve` with Docker discovery, for a test.
type dockerServe struct {
	*server
	api  *client.Client
	http int // port of the --http entry point
	prov *docker.Provider
	hc   *http.Client
}

// startDockerServe runs gantry serve with Docker discovery on and an
// entry point on a free loopback port; edit changes the options.
func startDockerServe(t testing.TB, edit func(o *app.DockerOptions)) *dockerServe {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	o := app.DockerOptions{Mode: app.DockerOn, HTTP: "127.0.0.1:" + strconv.Itoa(port)}
	provs := make(chan *docker.Provider, 1)
	o.OnProvider = func(p *docker.Provider) { provs <- p }
	if edit != nil {
		edit(&o)
	}
	srv := startServe(t, dir, func(so *app.ServeOptions) { so.Docker = o })
	s := &dockerServe{server: srv, http: port,
		hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	select {
	case s.prov = <-provs:
	default:
	}
	var err error
	s.api, err = client.New("http://"+srv.admin, srv.token)
	if err != nil {
		t.Fatal(err)
	}
	stop := srv.stop
	srv.stop = func() {
		stop()
		s.hc.CloseIdleConnections()
	}
	return s
}

// hit sends GET path with Host host through the entry point (or port,
// when not 0) and returns the status, the X-Backend header and the error.
func (s *dockerServe) hit(port int, host, path string) (int, string, error) {
	if port == 0 {
		port = s.http
	}
	req, err := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(port)+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, "", err
	}
	return resp.StatusCode, resp.Header.Get("X-Backend"), nil
}

// waitBackend polls host until it answers 200 from backend name, and
// returns when it first did.
func (s *dockerServe) waitBackend(t testing.TB, port int, host, name string, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		code, be, err := s.hit(port, host, "/")
		if err == nil && code == 200 && be == name {
			return time.Now()
		}
		last = fmt.Sprintf("status %d backend %q err %v", code, be, err)
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("host %s never answered from %s within %v (last: %s); containers:\n%s", host, name, within, last, s.describe(t))
	return time.Time{}
}

// describe lists what discovery says about the test's containers.
func (s *dockerServe) describe(t testing.TB) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := s.api.DiscoveredContainers(ctx)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, c := range l.Containers {
		if c.Labels[dockertest.LabelTest] == "" {
			continue
		}
		fmt.Fprintf(&b, "  %s routed=%v %s: %s\n", c.Name, c.Routed, c.Code, c.Reason)
	}
	return b.String()
}

// explain returns what GET /v1/discovery/containers/{ref} says.
func (s *dockerServe) explain(t testing.TB, ref string) *client.DiscoveredContainer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := s.api.ExplainContainer(ctx, ref)
	if err != nil {
		t.Fatalf("explain %s: %v", ref, err)
	}
	return c
}

// waitExplain polls explain until pred holds.
func (s *dockerServe) waitExplain(t testing.TB, ref, what string, within time.Duration, pred func(c *client.DiscoveredContainer) bool) *client.DiscoveredContainer {
	t.Helper()
	deadline := time.Now().Add(within)
	var c *client.DiscoveredContainer
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := s.api.ExplainContainer(ctx, ref)
		cancel()
		if err == nil {
			c = got
			if pred(c) {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: timed out after %v waiting for %s; last: %+v (err %v)", ref, within, what, c, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func code(want string) func(c *client.DiscoveredContainer) bool {
	return func(c *client.DiscoveredContainer) bool { return c.Code == want }
}

// stopContainer stops a container with docker stop (SIGTERM, then SIGKILL
// after timeout seconds).
func stopContainer(t testing.TB, cli *dockerclient.Client, id string, timeout int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &timeout}); err != nil {
		t.Fatalf("stopping %s: %v", id, err)
	}
}

// testNetwork makes a bridge network for one test's containers, removed
// with them.
func testNetwork(t testing.TB, cli *dockerclient.Client) string {
	name := dockertest.UniqueName("gantry-test")
	dockertest.Network(t, cli, name)
	return name
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// TestDocker runs the seeds' scenarios against the Docker engine of this
// machine, through gantry serve: containers from an image built FROM
// scratch by the test, routed as they start, drained as they stop.
func TestDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; -short skips it")
	}
	image := dockertest.BuildImage(t)
	cli := dockertest.Client(t)
	sfx := dockertest.RandomSuffix()

	t.Run("seed000", func(t *testing.T) {
		t.Parallel()
		nw := testNetwork(t, cli) // no container of another subtest ever gets an address freed here
		g := startDockerServe(t, nil)
		vpnHost, vpcHost := "vpn-"+sfx+".example.test", "vpc-"+sfx+".example.test"
		vpn1 := dockertest.RunSpec(t, cli, image, dockertest.Spec{Network: nw, Name: dockertest.UniqueName("vpn"), Env: []string{"NAME=vpn1"},
			Labels: labels("gantry.enable", "true", "gantry.http.port", "80", "gantry.http.hosts", vpnHost)})
		dockertest.RunSpec(t, cli, image, dockertest.Spec{Network: nw, Name: dockertest.UniqueName("vpc"), Env: []string{"NAME=vpc", "PORTS=8081"}, Expose: []string{"8081/tcp"},
			Labels: labels("gantry.enable", "true", "gantry.http.port", "8081", "gantry.http.hosts", vpcHost)})
		g.waitBackend(t, 0, vpnHost, "vpn1", 10*time.Second)
		g.waitBackend(t, 0, vpcHost, "vpc", 10*time.Second)
		// (An unknown host is a 404 unless some container on this machine
		// asks for every host: TestCompileSeed000 checks it alone.)

		// A second replica joins the rotation.
		vpn2 := dockertest.RunSpec(t, cli, image, dockertest.Spec{Network: nw, Name: dockertest.UniqueName("vpn"), Env: []string{"NAME=vpn2"},
			Labels: labels("gantry.enable", "true", "gantry.http.port", "80", "gantry.http.hosts", vpnHost)})
		g.waitBackend(t, 0, vpnHost, "vpn2", 10*time.Second)
		seen := map[string]int{}
		for range 20 {
			code, be, err := g.hit(0, vpnHost, "/")
			if err != nil || code != 200 {
				t.Fatalf("vpn: %d %v", code, err)
			}
			seen[be]++
		}
		if seen["vpn1"] == 0 || seen["vpn2"] == 0 {
			t.Errorf("both replicas should take traffic, got %v", seen)
		}

		// The route is read-only in the API, with source docker.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rl, err := g.api.DiscoveredRoutes(ctx, app.EntryLB, "")
		if err != nil {
			t.Fatal(err)
		}
		var vpnRoute *client.DiscoveredRoute
		for i := range rl.Routes {
			if rl.Routes[i].Match.HostHeader == vpnHost {
				vpnRoute = &rl.Routes[i]
			}
		}
		if vpnRoute == nil || vpnRoute.Source != client.SourceDocker || !vpnRoute.ReadOnly || len(vpnRoute.Containers) != 2 {
			t.Fatalf("discovered route of %s: %+v (all: %+v)", vpnHost, vpnRoute, rl.Routes)
		}
		r := g.call(t, "PUT", "/v1/lbs/docker/frontends/http/routes/"+vpnRoute.Name, map[string]any{"backend": "x", "match": map[string]any{"host_header": "a.example"}})
		if r.status != 409 || !strings.Contains(r.raw, "source: docker") {
			t.Errorf("PUT on a discovered route: %d %s, want 409 naming source docker", r.status, r.raw)
		}
		if r := g.call(t, "DELETE", "/v1/lbs/docker", nil); r.status != 409 {
			t.Errorf("DELETE of the entry point's LB: %d %s, want 409", r.status, r.raw)
		}

		// Stopping one replica leaves the other serving.
		stopContainer(t, cli, vpn1, 10)
		g.waitExplain(t, vpn1, "vpn1 out", 5*time.Second, func(c *client.DiscoveredContainer) bool { return !c.Routed })
		for i := range 20 {
			code, be, err := g.hit(0, vpnHost, "/")
			if err != nil || code != 200 || be != "vpn2" {
				t.Fatalf("request %d after vpn1 stopped: %d %q %v", i, code, be, err)
			}
		}
		c := g.explain(t, vpn1)
		if c.Routed || c.Code != client.CodeNotRunning {
			t.Errorf("explain of the stopped replica: %+v", c)
		}
		if c := g.explain(t, vpn2); !c.Routed || c.Code != client.CodeRouted || len(c.Servers) != 1 || c.Servers[0].State != "running" {
			t.Errorf("explain of the running replica: %+v", c)
		}
	})

	t.Run("seed001", func(t *testing.T) {
		t.Parallel()
		nw := testNetwork(t, cli) // no container of another subtest ever gets an address freed here
		domain := "dev-" + sfx + ".test"
		g := startDockerServe(t, func(o *app.DockerOptions) { o.StackDomain = domain })
		const stack = "test-webservice-r123"
		id := dockertest.RunSpec(t, cli, image, dockertest.Spec{Network: nw, Name: dockertest.UniqueName("web"), Env: []string{"NAME=web-r123"},
			Labels: labels("com.docker.compose.project", stack, "com.docker.compose.service", "web", "map-public-http", "80", "aliases", "www-"+sfx)})
		g.waitBackend(t, 0, stack+"."+domain, "web-r123", 10*time.Second)
		g.waitBackend(t, 0, "www-"+sfx+"."+domain, "web-r123", 10*time.Second)
		if c := g.explain(t, id); c.Mode != "rancher" || !c.Routed || len(c.Routes) != 2 {
			t.Errorf("explain: %+v", c)
		}
	})

	t.Run("health", func(t *testing.T) {
		t.Parallel()
		nw := testNetwork(t, cli) // no container of another subtest ever gets an address freed here
		g := startDockerServe(t, nil)
		// gantry's own check: the container answers / at once, /healthz
		// only after 1.5 s; it must not get a request before.
		host := "health-" + sfx + ".example.test"
		id := dockertest.Create(t, cli, image, dockertest.Spec{Network: nw, Name: dockertest.UniqueName("health"), Env: []string{"NAME=health", "HEALTHY_AFTER=1500ms"},
			Labels: labels("gantry.enable", "true", "gantry.http.hosts", host, "gantry.healthcheck.path", "/healthz")})
		start := time.Now()
		dockertest.Start(t, cli, id)
		g.waitExplain(t, id, "gantry's check pending", 5*time.Second, code(client.CodeHealthCheckPending))
		first := g.waitBackend(t, 0, host, "health", 10*time.Second)
		if d := first.Sub(start); d < 1500*time.Millisecond {
			t.Errorf("first request routed %v after start, before the container was healthy (1.5 s)", d)
		}

		// Docker's HEALTHCHECK: starting is not routed, healthy is.
		host2 := "dhealth-" + sfx + ".example.test"
		id2 := dockertest.Create(t, cli, image, dockertest.Spec{Network: nw, Name: dockertest.UniqueName("dhealth"), Env: []string{"NAME=dhealth", "HEALTHY_AFTER=1s"},
			Health: dockertest.HealthProbe(300 * time.Millisecond), Labels: labels("gantry.enable", "true", "gantry.http.hosts", host2)})
		start = time.Now()
		dockertest.Start(t, cli, id2)
		g.waitExplain(t, id2, "docker health starting", 5*time.Second, code(client.CodeHealthStarting))
		if code, _, _ := g.hit(0, host2, "/"); code != 503 {
			t.Errorf("a host whose only container is starting: %d, want 503", code)
		}
		first = g.waitBackend(t, 0, host2, "dhealth", 15*time.Second)
		if d := first.Sub(start); d < time.Second {
			t.Errorf("first request routed %v after start, before Docker said healthy (1 s)", d)
		}
		// Unhealthy is taken out.
		if code, _, _ := g.hit(0, host2, "/sick"); code != 200 {
			t.Fatalf("/sick: %d", code)
		}
		g.waitExplain(t, id2, "docker health unhealthy", 10*time.Second, code(client.CodeUnhealthy))
		if code, _, _ := g.hit(0, host2, "/"); code != 503 {
			t.Errorf("an unhealthy container's host: %d, want 503", code)
		}
	})

	t.Run("drain", func(t *testing.T) {
		t.Parallel()
		nw := testNetwork(t, cli) // no container of another subtest ever gets an address freed here
		g := startDockerServe(t, nil)
		host := "drain-" + sfx + ".example.test"
		var ids []string
		for i := range 3 {
			name := "drain" + strconv.Itoa(i)
			ids = append(ids, dockertest.RunSpec(t, cli, image, dockertest.Spec{Network: nw, Name: dockertest.UniqueName(name), Env: []string{"NAME=" + name, "STOP_DELAY=2s"},
				Labels: labels("gantry.enable", "true", "gantry.http.hosts", host)}))
			g.waitBackend(t, 0, host, name, 10*time.Second)
		}
		// Load: 6 clients, keep-alive, for 3 s; one replica is stopped
		// after 1 s. Every request must succeed.
		var ok, failed atomic.Int64
		var mu sync.Mutex
		var errs []string
		var wg sync.WaitGroup
		stopAt := time.Now().Add(3 * time.Second)
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; n < 10000 && time.Now().Before(stopAt); n++ {
					code, _, err := g.hit(0, host, "/slow?ms=20")
					if err == nil && code == 200 {
						ok.Add(1)
						continue
					}
					failed.Add(1)
					mu.Lock()
					errs = append(errs, fmt.Sprintf("status %d err %v", code, err))
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Second)
		stopContainer(t, cli, ids[1], 10)
		wg.Wait()
		if failed.Load() > 0 || ok.Load() < 100 {
			t.Errorf("%d requests failed, %d succeeded while a replica stopped under load: %v", failed.Load(), ok.Load(), errs[:min(len(errs), 5)])
		}
		t.Logf("%d requests, none failed", ok.Load())
	})

	t.Run("resync", func(t *testing.T) {
		t.Parallel()
		nw := testNetwork(t, cli) // no container of another subtest ever gets an address freed here
		g := startDockerServe(t, func(o *app.DockerOptions) { o.Resync = time.Second })
		if g.prov == nil {
			t.Fatal("no provider")
		}
		host := "resync-" + sfx + ".example.test"
		a := dockertest.RunSpec(t, cli, image, dockertest.Spec{Network: nw, Name: dockertest.UniqueName("resync-a"), Env: []string{"NAME=a"},
			Labels: labels("gantry.enable", "true", "gantry.http.hosts", host)})
		g.waitBackend(t, 0, host, "a", 10*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.prov.DropEvents(ctx); err != nil {
			t.Fatal(err)
		}
		// Without events, a new container and a killed one are seen by
		// the resync within about a second.
		b := dockertest.RunSpec(t, cli, image, dockertest.Spec{Network: nw, Name: dockertest.UniqueName("resync-b"), Env: []string{"NAME=b"},
			Labels: labels("gantry.enable", "true", "gantry.http.hosts", host)})
		if err := cli.ContainerKill(ctx, a, "SIGKILL"); err != nil {
			t.Fatal(err)
		}
		// (Requests sent before the resync go to the dead container and
		// wait for their connect timeout: that is what lost events cost.)
		g.waitExplain(t, b, "b routed by the resync", 5*time.Second, code(client.CodeRouted))
		g.waitExplain(t, a, "a dropped by the resync", 5*time.Second, code(client.CodeNotRunning))
		for range 10 {
			if code, be, err := g.hit(0, host, "/"); err != nil || code != 200 || be != "b" {
				t.Fatalf("after the resync: %d %q %v", code, be, err)
			}
		}
		// GET /metrics says so: connected, resynced, the lag of the
		// events applied, and the containers (other tests' too).
		text := g.metricsText(t)
		for series, least := range map[string]float64{
			`gantry_discovery_connected{provider="docker"}`:                     1,
			`gantry_discovery_last_resync_timestamp_seconds{provider="docker"}`: float64(time.Now().Add(-time.Minute).Unix()),
			`gantry_discovery_lag_seconds_count{provider="docker"}`:             1,
			`gantry_discovery_containers_seen{provider="docker"}`:               2,
			`gantry_discovery_containers_routed{provider="docker"}`:             1,
		} {
			if v := metricValue(text, series); v < least {
				t.Errorf("%s is %v, want at least %v", series, v, least)
			}
		}
	})

	t.Run("selector", func(t *testing.T) {
		t.Parallel()
		nw := testNetwork(t, cli) // no container of another subtest ever gets an address freed here
		g := startDockerServe(t, nil)
		port, port2 := freePort(t), freePort(t)
		g.must(t, 200, "PUT", "/v1/lbs/sel", map[string]any{"ips": []string{"127.0.0.1"}})
		g.must(t, 200, "PUT", "/v1/lbs/sel/backends/vpn", fmt.Sprintf(
			`{"mode": "http", "servers": {"type": "docker", "selector": {"labels": {"app": "vpn-%s"}}, "port": 80}}`, sfx))
		g.must(t, 200, "PUT", "/v1/lbs/sel/backends/prod", fmt.Sprintf(
			`{"mode": "http", "servers": {"type": "docker", "service": "vpn", "project": "prod-%s", "port": 8081}}`, sfx))
		g.must(t, 200, "PUT", "/v1/lbs/sel/frontends/web?wait=applied", map[string]any{"inbound_port": port, "backend": "vpn"})
		g.must(t, 200, "PUT", "/v1/lbs/sel/frontends/prod?wait=applied", map[string]any{"inbound_port": port2, "backend": "prod"})
		if code, _, _ := g.hit(port, "any", "/"); code != 503 {
			t.Errorf("a selector backend with no container: %d, want 503", code)
		}
		// A container with the label (and no gantry label at all) joins.
		id := dockertest.RunSpec(t, cli, image, dockertest.Spec{Network: nw, Name: dockertest.UniqueName("sel"), Env: []string{"NAME=sel1"}, Labels: labels("app", "vpn-"+sfx)})
		dockertest.RunSpec(t, cli, image, dockertest.Spec{Network: nw, Name: dockertest.UniqueName("prod-vpn"), Env: []string{"NAME=prodvpn", "PORTS=8081"},
			Labels: labels("com.docker.compose.project", "prod-"+sfx, "com.docker.compose.service", "vpn")})
		g.waitBackend(t, port, "any", "sel1", 10*time.Second)
		g.waitBackend(t, port2, "any", "prodvpn", 10*time.Second)
		r := g.must(t, 200, "GET", "/v1/lbs/sel/backends/vpn", nil)
		rs, _ := r.body["resolved_servers"].([]any)
		if len(rs) != 1 || rs[0].(map[string]any)["container_id"] != id || rs[0].(map[string]any)["state"] != "running" {
			t.Errorf("resolved_servers: %s", r.raw)
		}
		if d, _ := r.body["docker"].(map[string]any); d == nil || d["port"] != float64(80) {
			t.Errorf("docker field: %s", r.raw)
		}
		if c := g.explain(t, id); !c.Routed || c.Mode != "none" {
			t.Errorf("explain of a selected container: %+v", c)
		}
		// It leaves when it stops.
		stopContainer(t, cli, id, 10)
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := g.must(t, 200, "GET", "/v1/lbs/sel/backends/vpn", nil)
			if rs, _ := r.body["resolved_servers"].([]any); len(rs) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the stopped container is still resolved: %s", r.raw)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if code, _, _ := g.hit(port, "any", "/"); code != 503 {
			t.Errorf("after its only container stopped: %d, want 503", code)
		}
	})

	t.Run("explain", func(t *testing.T) {
		t.Parallel()
		nw := testNetwork(t, cli) // no container of another subtest ever gets an address freed here
		g := startDockerServe(t, nil)
		run := func(name string, spec dockertest.Spec) string {
			spec.Name, spec.Network = dockertest.UniqueName(name), nw
			return dockertest.RunSpec(t, cli, image, spec)
		}
		plain := run("plain", dockertest.Spec{})
		bad := run("badlabel", dockertest.Spec{Labels: labels("gantry.enable", "true", "gantry.http.port", "8o")})
		nonet := run("nonet", dockertest.Spec{Labels: labels("gantry.enable", "true", "gantry.network", "no-such-net-"+sfx, "gantry.http.hosts", "nonet-"+sfx+".example.test")})
		closed := run("closed", dockertest.Spec{Labels: labels("gantry.enable", "true", "gantry.http.port", "81", "gantry.http.hosts", "closed-"+sfx+".example.test")})
		nolb := run("nolb", dockertest.Spec{Labels: labels("gantry.enable", "true", "gantry.lb", "nope")})
		slow := run("slow", dockertest.Spec{Env: []string{"HEALTHY_AFTER=1h"},
			Labels: labels("gantry.enable", "true", "gantry.http.hosts", "slow-"+sfx+".example.test", "gantry.healthcheck.path", "/healthz")})

		for _, tc := range []struct {
			id, code, reason string
		}{
			{plain, client.CodeNoLabel, "no routing label"},
			{bad, client.CodeLabelError, `label gantry.http.port: "8o": not a port number`},
			{nonet, client.CodeNoAddress, `no address on network "no-such-net-` + sfx + `"`},
			{closed, client.CodePortNotListening, "connection refused"},
			{nolb, client.CodeRejected, `no load balancer named "nope"`},
			{slow, client.CodeHealthCheckPending, "not healthy yet"},
		} {
			c := g.waitExplain(t, tc.id, tc.code, 10*time.Second, code(tc.code))
			if !strings.Contains(c.Reason, tc.reason) {
				t.Errorf("%s: reason %q, want it to say %q", c.Name, c.Reason, tc.reason)
			}
		}
		c := g.explain(t, closed)
		if !c.Routed || len(c.PortChecks) != 1 || c.PortChecks[0].Listening {
			t.Errorf("a routed container whose port is closed: %+v", c)
		}
		if c := g.explain(t, bad); len(c.LabelErrors) != 1 {
			t.Errorf("label errors: %+v", c.LabelErrors)
		}
		// Once its server listens, the check's answer is the reason.
		g.waitExplain(t, slow, "the check's 503 as the reason", 5*time.Second, func(c *client.DiscoveredContainer) bool {
			return !c.Routed && len(c.Servers) == 1 && c.Servers[0].State == "starting" && strings.Contains(c.Servers[0].CheckReason, "503") &&
				strings.Contains(c.Reason, "503")
		})
		// Lookups by a short ID, and errors.
		if c := g.explain(t, plain[:12]); c.ID != plain {
			t.Errorf("lookup by short ID found %s", c.ID)
		}
		if r := g.call(t, "GET", "/v1/discovery/containers/no-such-container-"+sfx, nil); r.status != 404 {
			t.Errorf("unknown container: %d", r.status)
		}
		st := g.must(t, 200, "GET", "/v1/status", nil)
		disc, _ := st.body["discovery"].(map[string]any)
		if disc == nil || disc["connected"] != true || disc["enabled"] != true {
			t.Errorf("status: %s", st.raw)
		}
	})
}

// TestDockerEngineGone: when the engine goes away, gantry keeps the
// last-known containers routed, says so in GET /v1/status, and catches up
// when it comes back.
func TestDockerEngineGone(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; -short skips it")
	}
	image := dockertest.BuildImage(t)
	cli := dockertest.Client(t)
	proxy := dockertest.NewSockProxy(t)
	g := startDockerServe(t, func(o *app.DockerOptions) { o.Host = "unix://" + proxy.Path })
	host := "gone-" + dockertest.RandomSuffix() + ".example.test"
	dockertest.RunSpec(t, cli, image, dockertest.Spec{Name: dockertest.UniqueName("gone"), Env: []string{"NAME=gone"},
		Labels: labels("gantry.enable", "true", "gantry.http.hosts", host)})
	g.waitBackend(t, 0, host, "gone", 10*time.Second)

	proxy.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := g.must(t, 200, "GET", "/v1/status", nil)
		if d, _ := st.body["discovery"].(map[string]any); d != nil && d["connected"] == false && d["error"] != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never said the engine is gone: %s", st.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 10 {
		if code, be, err := g.hit(0, host, "/"); err != nil || code != 200 || be != "gone" {
			t.Fatalf("the last-known container is not served: %d %q %v", code, be, err)
		}
	}
	proxy.Start(t)
	deadline = time.Now().Add(15 * time.Second)
	for {
		st := g.must(t, 200, "GET", "/v1/status", nil)
		if d, _ := st.body["discovery"].(map[string]any); d != nil && d["connected"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never said the engine is back: %s", st.raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
