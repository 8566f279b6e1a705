// Package docker is gantry's Docker discovery provider: it watches a Docker
// engine through the official Go client and publishes the whole set of
// containers it sees, with their parsed labels, as a discovery.Set.
//
// The provider is level-triggered. It subscribes to the engine's events,
// lists every container (inspecting those an event touched, for their exact
// state, health and networks), and publishes the whole Set. On each
// relevant event (container start, restart, die, stop, kill, pause, unpause,
// health_status, destroy, rename; network connect, disconnect) it lists and
// publishes again, and it also resyncs every Options.Resync to catch events
// it missed. Events are coalesced: the first event after a quiet period is
// listed at once, and later events wait until Options.Coalesce has passed
// since the previous listing began, so a burst costs one listing per
// Coalesce and no event waits longer than Coalesce plus one listing.
//
// Publication goes through a discovery.Feed: the consumer only ever sees the
// latest Set and never blocks the provider.
//
// If the engine goes away, the provider keeps the last-known containers,
// publishes them with Connected false and the error, logs, and reconnects
// with exponential backoff (Options.BackoffMin to Options.BackoffMax); after
// reconnecting it lists again.
//
// A kill event with the container's stop signal (or SIGTERM, SIGINT, SIGQUIT,
// SIGKILL) marks a running container Stopping at once, so that it is drained
// before it dies rather than after.
//
// Nothing here is on the hot path.
package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"golang.org/x/sys/unix"

	"github.com/gantry-lb/gantry/internal/discovery"
)

// Defaults of Options.
const (
	DefaultResync         = 30 * time.Second
	DefaultCoalesce       = 10 * time.Millisecond
	DefaultBackoffMin     = 100 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultRequestTimeout = 10 * time.Second
)

// ProviderName is the Provider field of the Sets this package publishes.
const ProviderName = "docker"

// Options configure a Provider. The zero value is usable.
type Options struct {
	// Host is the engine address, as DOCKER_HOST writes it
	// ("unix:///var/run/docker.sock", "tcp://10.0.0.1:2375"). Empty means
	// the environment (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) or
	// the default socket.
	Host string
	// Resync is the interval of full resyncs (default 30s).
	Resync time.Duration
	// Coalesce is the least time between two listings caused by events
	// (default 10ms). The first event after a quiet period is never
	// delayed.
	Coalesce time.Duration
	// BackoffMin and BackoffMax bound the exponential backoff between
	// reconnection attempts (defaults 100ms and 30s).
	BackoffMin, BackoffMax time.Duration
	// RequestTimeout bounds each call to the engine (default 10s).
	RequestTimeout time.Duration
	// Labels configure label parsing (the Rancher-compatible mode's label
	// names and stack domain, the default network).
	Labels discovery.LabelOptions
	// Logger receives the provider's logs (default slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Resync, DefaultResync)
	def(&o.Coalesce, DefaultCoalesce)
	def(&o.BackoffMin, DefaultBackoffMin)
	def(&o.BackoffMax, DefaultBackoffMax)
	def(&o.RequestTimeout, DefaultRequestTimeout)
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
	o.Labels = o.Labels.WithDefaults()
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Provider watches one Docker engine and publishes its containers to a
// Feed. Run it once; Feed and DropEvents are safe for concurrent use.
type Provider struct {
	opts Options
	cli  *client.Client
	log  *slog.Logger
	feed *discovery.Feed
	drop chan chan struct{}

	// Owned by the Run goroutine.
	gen       uint64
	last      *discovery.Set
	resynced  time.Time
	connected bool // a listing succeeded since the provider started
	lastErr   string
	kills     map[string]string // container ID → signal of a kill not yet judged
	stopping  map[string]bool   // running containers sent their stop signal
	exposed   map[string][]discovery.Port
}

// New returns a Provider for the engine of opts.Host (or the environment).
// It does not contact the engine: Run does, and Ping tells whether it is
// reachable. The error is about the options only.
func New(opts Options) (*Provider, error) {
	opts = opts.withDefaults()
	if err := opts.Labels.Validate(); err != nil {
		return nil, fmt.Errorf("docker: labels: %w", err)
	}
	copts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if opts.Host != "" {
		copts = append(copts, client.WithHost(opts.Host))
	}
	cli, err := client.NewClientWithOpts(copts...)
	if err != nil {
		return nil, fmt.Errorf("docker: client: %w", err)
	}
	return &Provider{
		opts:     opts,
		cli:      cli,
		log:      opts.Logger.With("component", "discovery.docker", "host", cli.DaemonHost()),
		feed:     discovery.NewFeed(),
		drop:     make(chan chan struct{}),
		kills:    make(map[string]string),
		stopping: make(map[string]bool),
		exposed:  make(map[string][]discovery.Port),
	}, nil
}

// Feed returns the Feed the provider publishes to. Never nil.
func (p *Provider) Feed() *discovery.Feed { return p.feed }

// Host returns the engine address the provider talks to.
func (p *Provider) Host() string { return p.cli.DaemonHost() }

// Ping reports whether the engine answers, within the request timeout. It
// is what `gantry serve --docker=auto` uses to decide whether to run the
// provider.
func (p *Provider) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.opts.RequestTimeout)
	defer cancel()
	if _, err := p.cli.Ping(ctx); err != nil {
		return fmt.Errorf("docker: ping %s: %w", p.cli.DaemonHost(), err)
	}
	return nil
}

// Close releases the client's connections. Call it after Run returned.
func (p *Provider) Close() error { return p.cli.Close() }

// DropEvents is a test hook: the running session closes its event
// subscription, forgets the events it received but did not list yet, and
// goes on without events, as if they were lost, until its next
// reconnection; only resyncs then bring changes. It returns once
// the session dropped its stream, or with ctx's error.
func (p *Provider) DropEvents(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case p.drop <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run watches the engine and publishes Sets until ctx is done, then returns
// nil. It reconnects by itself whenever the engine goes away. Call it once.
func (p *Provider) Run(ctx context.Context) error {
	backoff := p.opts.BackoffMin
	for {
		listed, err := p.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if listed {
			backoff = p.opts.BackoffMin
		}
		p.disconnected(err, backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, p.opts.BackoffMax)
	}
}

// disconnected publishes the last-known containers with the error, once
// per distinct error, and logs every failed attempt.
func (p *Provider) disconnected(err error, retry time.Duration) {
	if err == nil {
		err = errors.New("docker: session ended")
	}
	p.log.Warn("docker engine unavailable; keeping the last-known containers", "err", err, "retry_in", retry)
	if p.last != nil && !p.last.Connected && p.lastErr == err.Error() {
		return
	}
	p.lastErr = err.Error()
	s := &discovery.Set{Provider: ProviderName, Trigger: discovery.TriggerDisconnect, Resynced: p.resynced, Err: err}
	if p.last != nil {
		s.Time = p.last.Time
		s.Containers = p.last.Containers
	}
	p.publish(s)
}

func (p *Provider) publish(s *discovery.Set) {
	p.gen++
	s.Generation = p.gen
	p.last = s
	p.feed.Publish(s)
}

// eventFilters selects the events that can change routing.
func eventFilters() filters.Args {
	f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("type", string(events.NetworkEventType)))
	for _, a := range []events.Action{
		events.ActionStart, events.ActionRestart, events.ActionDie, events.ActionStop, events.ActionKill,
		events.ActionPause, events.ActionUnPause, events.ActionHealthStatus, events.ActionDestroy,
		events.ActionRename, events.ActionConnect, events.ActionDisconnect,
	} {
		f.Add("event", string(a))
	}
	return f
}

// session subscribes to events, lists, and then follows events and
// resyncs until an error. listed reports whether a listing succeeded.
func (p *Provider) session(ctx context.Context) (listed bool, err error) {
	if err := p.Ping(ctx); err != nil {
		return false, err
	}
	evctx, evcancel := context.WithCancel(ctx)
	defer evcancel()
	// Subscribe before listing, so that no change falls between the two;
	// ask for the events of the last second too, in case the engine
	// registers the subscription after it answered.
	since := time.Now().Add(-time.Second)
	timedOut := time.AfterFunc(p.opts.RequestTimeout, evcancel)
	msgs, errs := p.cli.Events(evctx, events.ListOptions{
		Filters: eventFilters(),
		Since:   fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
	})
	if !timedOut.Stop() {
		return false, fmt.Errorf("docker: subscribing to events: no answer in %s", p.opts.RequestTimeout)
	}

	trigger := discovery.TriggerStart
	if p.connected {
		trigger = discovery.TriggerReconnect
	}
	touched := make(map[string]bool)
	if err := p.listAndPublish(ctx, trigger, touched, time.Time{}); err != nil {
		return false, err
	}

	resync := time.NewTicker(p.opts.Resync)
	defer resync.Stop()
	// Go 1.23 timers: after Stop or Reset no stale tick is ever received.
	coalesce := time.NewTimer(time.Hour)
	coalesce.Stop()
	defer coalesce.Stop()
	armed := false
	var firstEvent time.Time
	lastList := time.Now()
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case m := <-msgs:
			p.note(m, touched)
			if firstEvent.IsZero() {
				firstEvent = time.Now()
			}
			if !armed {
				coalesce.Reset(max(0, time.Until(lastList.Add(p.opts.Coalesce))))
				armed = true
			}
		case err := <-errs:
			if err == nil {
				err = errors.New("closed")
			}
			return true, fmt.Errorf("docker: event stream: %w", err)
		case <-coalesce.C:
			armed = false
			lastList = time.Now()
			if err := p.listAndPublish(ctx, discovery.TriggerEvent, touched, firstEvent); err != nil {
				return true, err
			}
			firstEvent = time.Time{}
		case <-resync.C:
			// The resync answers the pending events too.
			coalesce.Stop()
			armed = false
			lastList = time.Now()
			if err := p.listAndPublish(ctx, discovery.TriggerResync, touched, firstEvent); err != nil {
				return true, err
			}
			firstEvent = time.Time{}
		case done := <-p.drop:
			// Lose the stream and what it brought but was not listed yet.
			evcancel()
			msgs, errs = nil, nil
			coalesce.Stop()
			armed = false
			firstEvent = time.Time{}
			clear(touched)
			p.log.Warn("event stream dropped on purpose (test hook); only resyncs bring changes until the next reconnection")
			close(done)
		}
	}
}

// note records what an event says beyond "something changed": which
// container to inspect, and kills and starts for the Stopping mark.
func (p *Provider) note(m events.Message, touched map[string]bool) {
	switch m.Type {
	case events.ContainerEventType:
		id := m.Actor.ID
		if id == "" {
			return
		}
		touched[id] = true
		switch m.Action {
		case events.ActionKill:
			p.kills[id] = m.Actor.Attributes["signal"]
		case events.ActionStart:
			delete(p.kills, id)
			delete(p.stopping, id)
		}
	case events.NetworkEventType:
		if id := m.Actor.Attributes["container"]; id != "" {
			touched[id] = true
		}
	}
}

// listAndPublish lists, then publishes a connected Set. touched is emptied.
func (p *Provider) listAndPublish(ctx context.Context, trigger discovery.Trigger, touched map[string]bool, eventTime time.Time) error {
	cs, err := p.list(ctx, touched)
	if err != nil {
		return err
	}
	clear(touched)
	now := time.Now()
	if trigger == discovery.TriggerResync {
		p.resynced = now
	}
	if !p.connected || (p.last != nil && !p.last.Connected) {
		p.log.Info("docker engine connected; containers listed", "trigger", trigger.String(), "containers", len(cs))
	}
	p.connected = true
	p.lastErr = ""
	p.publish(&discovery.Set{
		Provider:   ProviderName,
		Time:       now,
		Trigger:    trigger,
		EventTime:  eventTime,
		Resynced:   p.resynced,
		Connected:  true,
		Containers: cs,
	})
	p.log.Debug("containers listed", "trigger", trigger.String(), "containers", len(cs), "generation", p.gen)
	return nil
}

// list returns every container of the engine, sorted, with intents parsed.
// Containers in touched or with a pending kill (unless just created), and
// those whose exposed ports are needed but unknown, are inspected: inspect
// reads the container's live state under its lock, where the listing may
// lag an event.
func (p *Provider) list(ctx context.Context, touched map[string]bool) ([]discovery.Container, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.RequestTimeout)
	defer cancel()
	sums, err := p.cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("docker: listing containers: %w", err)
	}
	out := make([]discovery.Container, 0, len(sums))
	seen := make(map[string]bool, len(sums))
	for i := range sums {
		c := fromSummary(&sums[i])
		seen[c.ID] = true
		_, killed := p.kills[c.ID]
		stopSignal := ""
		cached, haveCache := p.exposed[c.ID]
		if haveCache && len(c.Ports) == 0 {
			c.Ports = cached
		}
		// A created container may be starting: the engine holds its lock
		// for the whole start, and inspecting it would hold up this
		// listing (and every other container's change) until then. Its
		// start event brings it back here, running.
		inspect := (touched[c.ID] || killed) && c.State != discovery.StateCreated
		if inspect || (!haveCache && len(c.Ports) == 0 && needsPorts(c.Labels)) {
			ins, err := p.cli.ContainerInspect(ctx, c.ID)
			if client.IsErrNotFound(err) {
				continue // removed since the listing
			}
			if err != nil {
				return nil, fmt.Errorf("docker: inspecting container %s: %w", shortID(c.ID), err)
			}
			stopSignal = overlay(&c, &ins)
			p.exposed[c.ID] = c.Ports
		}
		if killed {
			if c.State == discovery.StateRunning && stopsContainer(p.kills[c.ID], stopSignal) {
				p.stopping[c.ID] = true
			}
			delete(p.kills, c.ID)
		}
		if c.State != discovery.StateRunning && c.State != discovery.StatePaused {
			delete(p.stopping, c.ID)
		}
		c.Stopping = p.stopping[c.ID] && c.State == discovery.StateRunning
		c.Intent, c.LabelErr = discovery.ParseIntent(c.Labels, c.Ports, p.opts.Labels)
		out = append(out, c)
	}
	maps.DeleteFunc(p.stopping, func(id string, _ bool) bool { return !seen[id] })
	maps.DeleteFunc(p.kills, func(id, _ string) bool { return !seen[id] })
	maps.DeleteFunc(p.exposed, func(id string, _ []discovery.Port) bool { return !seen[id] })
	discovery.SortContainers(out)
	return out, nil
}

// needsPorts reports whether label parsing may need the exposed ports: native
// routing without gantry.http.port.
func needsPorts(labels map[string]string) bool {
	_, enabled := labels[discovery.LabelEnable]
	_, port := labels[discovery.LabelHTTPPort]
	return enabled && !port
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// fromSummary converts one entry of the container listing.
func fromSummary(s *container.Summary) discovery.Container {
	c := discovery.Container{
		ID:      s.ID,
		Image:   s.Image,
		Labels:  s.Labels,
		State:   discovery.State(s.State),
		Health:  healthFromStatus(s.Status),
		Created: time.Unix(s.Created, 0),
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	if len(s.Names) > 0 {
		c.Name = strings.TrimPrefix(s.Names[0], "/")
	}
	c.Paused = c.State == discovery.StatePaused
	c.Project, c.Service = projectService(c.Labels)
	if s.NetworkSettings != nil {
		c.Networks = networks(s.NetworkSettings.Networks)
	}
	for _, p := range s.Ports {
		if p.PrivatePort != 0 {
			c.Ports = append(c.Ports, discovery.Port{Port: p.PrivatePort, Proto: p.Type})
		}
	}
	c.Ports = sortPorts(c.Ports)
	return c
}

// overlay replaces what the listing said with what inspect says, and
// returns the container's stop signal.
func overlay(c *discovery.Container, ins *container.InspectResponse) (stopSignal string) {
	if ins.ContainerJSONBase != nil && ins.State != nil {
		c.State = discovery.State(ins.State.Status)
		c.Paused = ins.State.Paused || c.State == discovery.StatePaused
		c.Health = discovery.HealthNone
		if h := ins.State.Health; h != nil {
			c.Health = discovery.ParseHealth(string(h.Status))
		}
	}
	if ins.NetworkSettings != nil {
		c.Networks = networks(ins.NetworkSettings.Networks)
	}
	if ins.Config != nil {
		stopSignal = ins.Config.StopSignal
		for p := range ins.Config.ExposedPorts {
			if n := p.Int(); n > 0 && n <= 65535 {
				c.Ports = append(c.Ports, discovery.Port{Port: uint16(n), Proto: p.Proto()})
			}
		}
		c.Ports = sortPorts(c.Ports)
	}
	return stopSignal
}

func sortPorts(ps []discovery.Port) []discovery.Port {
	slices.SortFunc(ps, func(a, b discovery.Port) int {
		if a.Port != b.Port {
			return int(a.Port) - int(b.Port)
		}
		return strings.Compare(a.Proto, b.Proto)
	})
	return slices.Compact(ps)
}

// healthFromStatus reads the health of a running container from the status
// text of the listing ("Up 3 seconds (health: starting)"), which the engine
// writes from the same state as inspect.
func healthFromStatus(status string) discovery.Health {
	switch {
	case strings.HasSuffix(status, "(health: starting)"):
		return discovery.HealthStarting
	case strings.HasSuffix(status, "(unhealthy)"):
		return discovery.HealthUnhealthy
	case strings.HasSuffix(status, "(healthy)"):
		return discovery.HealthHealthy
	}
	return discovery.HealthNone
}

func networks(m map[string]*network.EndpointSettings) []discovery.Network {
	if len(m) == 0 {
		return nil
	}
	out := make([]discovery.Network, 0, len(m))
	for name, ep := range m {
		n := discovery.Network{Name: name}
		if ep != nil {
			if a, err := netip.ParseAddr(ep.IPAddress); err == nil {
				n.IP = a
			} else if a, err := netip.ParseAddr(ep.GlobalIPv6Address); err == nil {
				n.IP = a
			}
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b discovery.Network) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func projectService(labels map[string]string) (project, service string) {
	project, service = labels[discovery.LabelComposeProject], labels[discovery.LabelComposeService]
	if project == "" {
		project = labels[discovery.LabelRancherStack]
	}
	if service == "" {
		if ss := labels[discovery.LabelRancherStackService]; ss != "" {
			_, service, _ = strings.Cut(ss, "/")
		}
	}
	return project, service
}

// stopsContainer reports whether a kill with signal sig (a number, as kill
// events give it) is meant to stop a container whose STOPSIGNAL is
// stopSignal ("SIGQUIT", "3", or "" for SIGTERM).
func stopsContainer(sig, stopSignal string) bool {
	if sig == "" {
		return false
	}
	n, err := strconv.Atoi(sig)
	if err != nil {
		n = int(signalNumber(sig))
	}
	switch n {
	case int(unix.SIGTERM), int(unix.SIGINT), int(unix.SIGQUIT), int(unix.SIGKILL):
		return true
	}
	return n > 0 && n == int(signalNumber(stopSignal))
}

func signalNumber(s string) unix.Signal {
	if s == "" {
		return unix.SIGTERM
	}
	if n, err := strconv.Atoi(s); err == nil {
		return unix.Signal(n)
	}
	s = strings.ToUpper(s)
	if !strings.HasPrefix(s, "SIG") {
		s = "SIG" + s
	}
	return unix.SignalNum(s)
}
