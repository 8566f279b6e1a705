package docker_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gantry-lb/gantry/internal/discovery"
	"github.com/gantry-lb/gantry/internal/discovery/docker"
	"github.com/gantry-lb/gantry/internal/discovery/docker/dockertest"
)

// noResync is a resync interval no test reaches, so that every change a
// test sees came from an event.
const noResync = time.Hour

func TestNewValidatesLabels(t *testing.T) {
	_, err := docker.New(docker.Options{Labels: discovery.LabelOptions{StackDomain: "*.x"}})
	if err == nil || !strings.Contains(err.Error(), `stack domain "*.x"`) {
		t.Fatalf("New with a bad stack domain: %v", err)
	}
}

// TestDiscover runs seed 000's vpn and vpc containers, seed 001's stack, a
// container with a bad label and one without labels, and checks what the
// provider publishes about each; then a second vpn replica joins.
func TestDiscover(t *testing.T) {
	cli := dockertest.Client(t)
	native := func(port, hosts string) map[string]string {
		return map[string]string{"gantry.enable": "true", "gantry.http.port": port, "gantry.http.hosts": hosts}
	}
	vpn := dockertest.RunSpec(t, cli, testImage, dockertest.Spec{Name: dockertest.UniqueName("vpn"), Labels: native("80", "vpn.example.test"), Env: []string{"NAME=vpn"}})
	vpc := dockertest.RunSpec(t, cli, testImage, dockertest.Spec{Name: dockertest.UniqueName("vpc"), Labels: native("8081", "vpc.example.test"),
		Env: []string{"NAME=vpc", "PORTS=8081"}, Expose: []string{"8081/tcp"}})
	stack := dockertest.UniqueName("test-webservice-r123")
	web := dockertest.RunSpec(t, cli, testImage, dockertest.Spec{Name: stack + "-web-1", Env: []string{"NAME=web"}, Labels: map[string]string{
		"map-public-http": "80", "com.docker.compose.project": stack, "com.docker.compose.service": "web", "aliases": "www",
	}})
	bad := dockertest.RunSpec(t, cli, testImage, dockertest.Spec{Name: dockertest.UniqueName("bad"), Labels: map[string]string{"gantry.enable": "true", "gantry.http.port": "8o"}})
	plain := dockertest.RunSpec(t, cli, testImage, dockertest.Spec{Name: dockertest.UniqueName("plain")})

	p := startProvider(t, docker.Options{Resync: noResync, Labels: discovery.LabelOptions{StackDomain: "dev.test"}})
	running := func(c *discovery.Container) bool { return c.State == discovery.StateRunning }
	s := waitFor(t, p.Feed(), 10*time.Second, "the five containers running", func(s *discovery.Set) bool {
		for _, id := range []string{vpn, vpc, web, bad, plain} {
			if !has(id, running)(s) {
				return false
			}
		}
		return true
	})
	if !s.Connected || s.Err != nil || s.Provider != docker.ProviderName || s.Time.IsZero() {
		t.Fatalf("set header: %s", describe(s))
	}

	for _, tc := range []struct {
		id, name, port string
		rules          []discovery.Rule
	}{
		{vpn, "vpn", "80", []discovery.Rule{{Host: "vpn.example.test", Port: 80}}},
		{vpc, "vpc", "8081", []discovery.Rule{{Host: "vpc.example.test", Port: 8081}}},
		{web, "web", "80", []discovery.Rule{{Host: stack + ".dev.test", Port: 80}, {Host: "www.dev.test", Port: 80}}},
	} {
		c := find(s, tc.id)
		ip, err := c.Ready()
		if err != nil {
			t.Fatalf("%s not ready: %v", tc.name, err)
		}
		if want := dockertest.IP(t, cli, tc.id, ""); ip != want {
			t.Errorf("%s: address %s, engine says %s", tc.name, ip, want)
		}
		if !reflect.DeepEqual(c.Intent.Rules, tc.rules) {
			t.Errorf("%s: rules %v, want %v", tc.name, c.Intent.Rules, tc.rules)
		}
		if body := get(t, "http://"+ip.String()+":"+tc.port+"/"); !strings.Contains(body, "name="+tc.name+" ") {
			t.Errorf("%s at %s:%s answered %q", tc.name, ip, tc.port, body)
		}
		if got := s.Lookup(c.Name); got != c {
			t.Errorf("Lookup(%q) = %v", c.Name, got)
		}
		if got := s.Lookup(c.ID[:12]); got != c {
			t.Errorf("Lookup(%q) = %v", c.ID[:12], got)
		}
	}
	if c := find(s, vpc); !reflect.DeepEqual(c.Ports, []discovery.Port{{Port: 80, Proto: "tcp"}, {Port: 8081, Proto: "tcp"}}) {
		t.Errorf("vpc ports %v", c.Ports)
	}
	if c := find(s, web); c.Project != stack || c.Service != "web" || c.Intent.Mode != discovery.ModeRancher || c.Intent.Stack != stack {
		t.Errorf("web: project %q service %q intent %+v", c.Project, c.Service, c.Intent)
	}
	c := find(s, bad)
	if c.LabelErr == nil || c.LabelErr.Error() != `label gantry.http.port: "8o": not a port number` {
		t.Errorf("bad: label error %v", c.LabelErr)
	}
	if _, err := c.Ready(); !errors.Is(err, discovery.ErrLabels) || !strings.Contains(err.Error(), `"8o": not a port number`) {
		t.Errorf("bad: Ready() = %v", err)
	}
	if _, err := find(s, plain).Ready(); !errors.Is(err, discovery.ErrNotEnabled) {
		t.Errorf("plain: Ready() = %v", err)
	}

	// A second replica joins: seen through the start event, well within a
	// second.
	began := time.Now()
	vpn2 := dockertest.RunSpec(t, cli, testImage, dockertest.Spec{Name: dockertest.UniqueName("vpn"), Labels: native("80", "vpn.example.test"), Env: []string{"NAME=vpn2"}})
	s = waitFor(t, p.Feed(), 5*time.Second, "the second vpn ready", has(vpn2, ready))
	took := time.Since(began)
	if s.Trigger != discovery.TriggerEvent || s.EventTime.IsZero() || s.EventTime.Before(began) {
		t.Errorf("second replica seen by trigger %s, event time %v (began %v)", s.Trigger, s.EventTime, began)
	}
	t.Logf("create+start → published ready: %s", took)
	if took > 3*time.Second {
		t.Errorf("second replica took %s to be published", took)
	}
}

// TestStopKillPause follows one container through pause, unpause, a
// graceful stop (Stopping while it drains), a start and a kill.
func TestStopKillPause(t *testing.T) {
	cli := dockertest.Client(t)
	timeout := 10
	id := dockertest.RunSpec(t, cli, testImage, dockertest.Spec{
		Name:        dockertest.UniqueName("life"),
		Labels:      map[string]string{"gantry.enable": "true"},
		Env:         []string{"STOP_DELAY=1500ms"},
		StopTimeout: &timeout,
	})
	p := startProvider(t, docker.Options{Resync: noResync})
	feed := p.Feed()
	waitFor(t, feed, 10*time.Second, "ready", has(id, ready))
	ctx := context.Background()

	step := func(what string, pred func(c *discovery.Container) bool) {
		t.Helper()
		s := waitFor(t, feed, 5*time.Second, what, has(id, pred))
		if s.Trigger != discovery.TriggerEvent {
			t.Errorf("%s: published by %s, want an event", what, s.Trigger)
		}
	}
	if err := cli.ContainerPause(ctx, id); err != nil {
		t.Fatal(err)
	}
	step("paused", func(c *discovery.Container) bool {
		return c.Paused && c.State == discovery.StatePaused && isErr(discovery.ErrPaused)(c)
	})
	if err := cli.ContainerUnpause(ctx, id); err != nil {
		t.Fatal(err)
	}
	step("unpaused and ready", ready)

	stopped := make(chan error, 1)
	go func() { stopped <- cli.ContainerStop(ctx, id, container.StopOptions{}) }()
	step("stopping while it drains", func(c *discovery.Container) bool {
		return c.Stopping && c.State == discovery.StateRunning && isErr(discovery.ErrStopping)(c)
	})
	step("exited after stop", func(c *discovery.Container) bool {
		return c.State == discovery.StateExited && isErr(discovery.ErrNotRunning)(c)
	})
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}

	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	step("ready again after start", func(c *discovery.Container) bool { return ready(c) && !c.Stopping })

	// A signal that does not stop the container does not drain it: the
	// test server ignores SIGWINCH, as Go programs do by default.
	gen := feed.Latest().Generation
	if err := cli.ContainerKill(ctx, id, "SIGWINCH"); err != nil {
		t.Fatal(err)
	}
	s := waitFor(t, feed, 5*time.Second, "the listing after SIGWINCH", func(s *discovery.Set) bool { return s.Generation > gen })
	if c := find(s, id); s.Trigger != discovery.TriggerEvent || c == nil || !ready(c) || c.Stopping {
		t.Fatalf("after SIGWINCH: %s", describe(s))
	}
	if err := cli.ContainerKill(ctx, id, "SIGHUP"); err != nil { // kills the server
		t.Fatal(err)
	}
	step("exited after SIGHUP", func(c *discovery.Container) bool { return c.State == discovery.StateExited })

	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	step("ready after the second start", ready)
	if err := cli.ContainerKill(ctx, id, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	step("exited after SIGKILL", func(c *discovery.Container) bool { return c.State == discovery.StateExited })

	dockertest.Remove(cli, id)
	step2 := waitFor(t, feed, 5*time.Second, "gone after removal", func(s *discovery.Set) bool { return find(s, id) == nil })
	if step2.Trigger != discovery.TriggerEvent {
		t.Errorf("removal published by %s", step2.Trigger)
	}
}

// TestDockerHealth checks that a HEALTHCHECK gates readiness: starting is
// not ready, healthy is, unhealthy is taken out and can come back.
func TestDockerHealth(t *testing.T) {
	cli := dockertest.Client(t)
	p := startProvider(t, docker.Options{Resync: noResync})
	feed := p.Feed()
	waitFor(t, feed, 10*time.Second, "the first listing", func(s *discovery.Set) bool { return s.Connected })

	hc := dockertest.HealthProbe(200 * time.Millisecond)
	hc.StartPeriod = 30 * time.Second // failures before the first success do not count
	id := dockertest.RunSpec(t, cli, testImage, dockertest.Spec{
		Name:   dockertest.UniqueName("health"),
		Labels: map[string]string{"gantry.enable": "true", "gantry.http.port": "80"},
		Env:    []string{"HEALTHY_AFTER=1s"},
		Health: hc,
	})
	s := waitFor(t, feed, 5*time.Second, "running, health starting", has(id, func(c *discovery.Container) bool {
		return c.State == discovery.StateRunning && c.Health == discovery.HealthStarting
	}))
	if _, err := find(s, id).Ready(); !errors.Is(err, discovery.ErrHealthStarting) {
		t.Fatalf("starting container: Ready() = %v", err)
	}
	s = waitFor(t, feed, 10*time.Second, "healthy", has(id, func(c *discovery.Container) bool { return c.Health == discovery.HealthHealthy && ready(c) }))
	if s.Trigger != discovery.TriggerEvent {
		t.Errorf("healthy published by %s, want the health_status event", s.Trigger)
	}
	ip, _ := find(s, id).Ready()

	get(t, "http://"+ip.String()+"/sick")
	s = waitFor(t, feed, 10*time.Second, "unhealthy", has(id, func(c *discovery.Container) bool { return c.Health == discovery.HealthUnhealthy }))
	if _, err := find(s, id).Ready(); !errors.Is(err, discovery.ErrUnhealthy) {
		t.Fatalf("unhealthy container: Ready() = %v", err)
	}
	get(t, "http://"+ip.String()+"/well")
	waitFor(t, feed, 10*time.Second, "healthy again", has(id, func(c *discovery.Container) bool { return c.Health == discovery.HealthHealthy && ready(c) }))
}

// TestNetworks checks network connect and disconnect, and gantry.network.
func TestNetworks(t *testing.T) {
	cli := dockertest.Client(t)
	netName := dockertest.UniqueName("gantry-net")
	netID := dockertest.Network(t, cli, netName)
	plain := dockertest.RunSpec(t, cli, testImage, dockertest.Spec{Name: dockertest.UniqueName("net-a"), Labels: map[string]string{"gantry.enable": "true"}})
	chosen := dockertest.RunSpec(t, cli, testImage, dockertest.Spec{Name: dockertest.UniqueName("net-b"),
		Labels: map[string]string{"gantry.enable": "true", "gantry.network": netName}})
	p := startProvider(t, docker.Options{Resync: noResync})
	feed := p.Feed()
	waitFor(t, feed, 10*time.Second, "plain ready on bridge", has(plain, ready))
	waitFor(t, feed, 10*time.Second, "chosen not on its network", has(chosen, isErr(discovery.ErrNoAddress)))

	ctx := context.Background()
	for _, id := range []string{plain, chosen} {
		if err := cli.NetworkConnect(ctx, netID, id, nil); err != nil {
			t.Fatal(err)
		}
	}
	onBoth := func(c *discovery.Container) bool {
		_, okA := c.IP("bridge")
		_, okB := c.IP(netName)
		return okA && okB
	}
	s := waitFor(t, feed, 5*time.Second, "both on two networks", func(s *discovery.Set) bool { return has(plain, onBoth)(s) && has(chosen, onBoth)(s) })
	if s.Trigger != discovery.TriggerEvent {
		t.Errorf("connect published by %s", s.Trigger)
	}
	if _, err := find(s, plain).Ready(); !errors.Is(err, discovery.ErrSeveralNetworks) {
		t.Errorf("plain on two networks: Ready() = %v", err)
	}
	ip, err := find(s, chosen).Ready()
	if want := dockertest.IP(t, cli, chosen, netName); err != nil || ip != want {
		t.Errorf("chosen: Ready() = %s, %v; want %s", ip, err, want)
	}

	if err := cli.NetworkDisconnect(ctx, netID, plain, false); err != nil {
		t.Fatal(err)
	}
	s = waitFor(t, feed, 5*time.Second, "plain back on one network", has(plain, func(c *discovery.Container) bool { return len(c.Networks) == 1 && ready(c) }))
	if s.Trigger != discovery.TriggerEvent {
		t.Errorf("disconnect published by %s", s.Trigger)
	}
}

// TestResyncConverges loses the event stream on purpose: changes are then
// seen by the periodic resync, and only by it.
func TestResyncConverges(t *testing.T) {
	const resync = 2 * time.Second
	cli := dockertest.Client(t)
	victim := dockertest.RunSpec(t, cli, testImage, dockertest.Spec{Name: dockertest.UniqueName("victim"), Labels: map[string]string{"gantry.enable": "true"}})
	p := startProvider(t, docker.Options{Resync: resync})
	feed := p.Feed()
	waitFor(t, feed, 10*time.Second, "victim ready", has(victim, ready))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.DropEvents(ctx); err != nil {
		t.Fatal(err)
	}
	lastGen := feed.Latest().Generation
	killed := time.Now()
	if err := cli.ContainerKill(ctx, victim, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	newcomer := dockertest.RunSpec(t, cli, testImage, dockertest.Spec{Name: dockertest.UniqueName("newcomer"), Labels: map[string]string{"gantry.enable": "true"}})

	// Watch every Set until both changes are seen: each one published
	// after the drop must come from a resync, since events are lost.
	deadline := time.After(3 * resync)
	for {
		s := feed.Latest()
		if s.Generation != lastGen {
			lastGen = s.Generation
			if s.Trigger != discovery.TriggerResync {
				t.Fatalf("after the drop, a set published by %s: %s", s.Trigger, describe(s))
			}
			if has(victim, func(c *discovery.Container) bool { return c.State == discovery.StateExited })(s) && has(newcomer, ready)(s) {
				t.Logf("converged %s after the kill, by resync (resync interval %s)", time.Since(killed), resync)
				if s.Resynced.IsZero() {
					t.Errorf("Resynced not set")
				}
				return
			}
		}
		select {
		case <-feed.Ready():
		case <-deadline:
			t.Fatalf("no convergence within %s: %s", 3*resync, describe(feed.Latest()))
		}
	}
}

// TestEngineGone puts a socket proxy between the provider and the engine,
// closes it (the engine "goes away"), and checks that the last-known set is
// kept and flagged, then that the provider reconnects and lists again.
func TestEngineGone(t *testing.T) {
	cli := dockertest.Client(t)
	proxy := dockertest.NewSockProxy(t)
	id := dockertest.RunSpec(t, cli, testImage, dockertest.Spec{Name: dockertest.UniqueName("survivor"), Labels: map[string]string{"gantry.enable": "true"}})
	p := startProvider(t, docker.Options{Host: "unix://" + proxy.Path, Resync: noResync, BackoffMin: 50 * time.Millisecond, BackoffMax: 400 * time.Millisecond})
	feed := p.Feed()
	before := waitFor(t, feed, 10*time.Second, "connected, survivor ready", func(s *discovery.Set) bool { return s.Connected && has(id, ready)(s) })

	proxy.Stop()
	s := waitFor(t, feed, 5*time.Second, "disconnected", func(s *discovery.Set) bool { return !s.Connected })
	if s.Err == nil || s.Trigger != discovery.TriggerDisconnect {
		t.Errorf("disconnected set: trigger %s err %v", s.Trigger, s.Err)
	}
	if c := find(s, id); c == nil || !ready(c) || !s.Time.Equal(before.Time) {
		t.Errorf("last-known containers not kept: %s", describe(s))
	}
	t.Logf("disconnected: %v", s.Err)

	// While the engine is "gone", the container dies; the provider keeps
	// retrying (with backoff) and still shows the last-known state.
	if err := cli.ContainerKill(context.Background(), id, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	if s := feed.Latest(); s.Connected || !has(id, ready)(s) {
		t.Errorf("while gone: %s", describe(s))
	}

	proxy.Start(t)
	s = waitFor(t, feed, 5*time.Second, "reconnected, survivor exited", func(s *discovery.Set) bool {
		return s.Connected && has(id, func(c *discovery.Container) bool { return c.State == discovery.StateExited })(s)
	})
	if s.Err != nil || (s.Trigger != discovery.TriggerReconnect && s.Trigger != discovery.TriggerEvent) {
		t.Errorf("reconnected set: trigger %s err %v", s.Trigger, s.Err)
	}
}

// TestStopSignal checks that docker stop of a container whose STOPSIGNAL is
// not SIGTERM still marks it stopping at once.
func TestStopSignal(t *testing.T) {
	cli := dockertest.Client(t)
	timeout := 1
	id := dockertest.RunSpec(t, cli, testImage, dockertest.Spec{
		Name:        dockertest.UniqueName("winch"),
		Labels:      map[string]string{"gantry.enable": "true"},
		StopSignal:  "SIGWINCH", // ignored by the server: docker stop kills it after 1s
		StopTimeout: &timeout,
	})
	p := startProvider(t, docker.Options{Resync: noResync})
	feed := p.Feed()
	waitFor(t, feed, 10*time.Second, "ready", has(id, ready))
	stopped := make(chan error, 1)
	go func() { stopped <- cli.ContainerStop(context.Background(), id, container.StopOptions{}) }()
	waitFor(t, feed, 900*time.Millisecond, "stopping on its STOPSIGNAL", has(id, func(c *discovery.Container) bool {
		return c.State == discovery.StateRunning && c.Stopping
	}))
	waitFor(t, feed, 5*time.Second, "exited", has(id, func(c *discovery.Container) bool { return c.State == discovery.StateExited && !c.Stopping }))
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}
