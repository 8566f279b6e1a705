package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/api"
	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/discovery"
	"github.com/gantry-lb/gantry/internal/discovery/docker"
	"github.com/gantry-lb/gantry/internal/discovery/file"
	"github.com/gantry-lb/gantry/internal/snapshot"
	"github.com/gantry-lb/gantry/internal/telemetry"
	"github.com/gantry-lb/gantry/internal/upstream"
)

// Docker discovery modes of gantry serve --docker.
const (
	DockerAuto = "auto" // on when the engine answers at start
	DockerOn   = "on"   // on; reconnects until the engine answers
	DockerOff  = "off"
)

// DockerOptions configure Docker discovery in gantry serve.
type DockerOptions struct {
	// Mode is DockerAuto, DockerOn or DockerOff; empty means off (the
	// CLI's default is auto).
	Mode string
	// Host is the engine address (default: DOCKER_HOST, else the socket).
	Host string
	// Resync is the interval of full resyncs (default 30s).
	Resync time.Duration
	// Network is the network whose address is used for containers on
	// several networks (gantry.network overrides it).
	Network string
	// HTTP is the address of the entry point discovered routes attach to
	// by default (load balancer EntryLB, frontend EntryFrontend); empty:
	// none, and containers must name an API load balancer (gantry.lb).
	HTTP string
	// StackDomain, RancherLabel, ProxyLabel and AliasLabel configure the
	// rancher-haproxy compatible labels (see docs/labels.md).
	StackDomain, RancherLabel, ProxyLabel, AliasLabel string
	// Coalesce is the least time between two listings caused by events
	// (default docker.DefaultCoalesce).
	Coalesce time.Duration
	// OnProvider, if set, is called with the running provider (tests use
	// it to drop its events).
	OnProvider func(*docker.Provider)
}

// FileOptions configure the discovery file of gantry serve --file: load
// balancers in the config model's shape, served besides the API's and
// read-only (see docs/discovery.md).
type FileOptions struct {
	// Path is the file; empty: none.
	Path string
	// Interval is how often the file is checked (default 1s). A SIGHUP
	// checks it at once.
	Interval time.Duration
}

// discoveryState is service discovery inside gantry serve: it feeds what
// the providers publish (Docker's container sets, the file's versions) to
// the data plane, which merges them into every config it builds (merge),
// and answers the API and the metrics about them. Safe for concurrent use.
type discoveryState struct {
	d       *Dataplane
	log     *slog.Logger
	prov    *docker.Provider // nil when Docker discovery is off
	fprov   *file.Provider   // nil without a discovery file
	entry   *entryPoint
	network string

	mu       sync.Mutex
	set      *discovery.Set // Docker's latest
	file     *file.Version  // the file's latest
	cur      *compiled      // of the published snapshot
	applyErr error          // why the discovered containers are not served, if so
	logged   string         // last error logged, so that a repeated one is not
	// Per provider: when its latest output was applied, with what lag.
	dockerApplied, fileApplied applyStats

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// applyStats is when a provider's output was last applied, and the lag
// of its applies: from the event (or the change noticed) to the
// publication of the snapshot.
type applyStats struct {
	at   time.Time
	lag  time.Duration // of the last apply that had an event
	lags telemetry.Histogram
}

func (a *applyStats) record(now, event time.Time) {
	a.at = now
	if event.IsZero() {
		return
	}
	a.lag = now.Sub(event)
	if a.lags.Buckets == nil {
		a.lags = telemetry.NewLagHistogram()
	}
	a.lags.Observe(a.lag.Seconds())
}

func (a *applyStats) histogram() telemetry.Histogram {
	if a.lags.Buckets == nil {
		return telemetry.NewLagHistogram()
	}
	return a.lags.Clone()
}

// startDiscovery starts the discovery providers o and fo ask for, attached
// to d, or returns nil when there is none. Call stop on the result
// (nil-safe) before shutting d down.
func startDiscovery(ctx context.Context, o DockerOptions, fo FileOptions, d *Dataplane, base *slog.Logger) (*discoveryState, error) {
	log := base.With("component", "discovery")
	prov, entry, err := openDocker(ctx, o, log, base)
	if err != nil {
		return nil, err
	}
	var fprov *file.Provider
	if fo.Path != "" {
		fprov, err = file.New(file.Options{Path: fo.Path, Interval: fo.Interval, Logger: base})
		if err != nil {
			if prov != nil {
				prov.Close()
			}
			return nil, fmt.Errorf("--file: %w", err)
		}
	}
	if prov == nil && fprov == nil {
		return nil, nil
	}
	ds := &discoveryState{d: d, log: log, prov: prov, fprov: fprov, entry: entry, network: o.Network}
	if fprov != nil {
		ds.file = fprov.Latest() // read by New: the first build serves it
	}
	d.disc = ds
	rctx, cancel := context.WithCancel(ctx)
	ds.cancel = cancel
	if prov != nil {
		ds.done.Add(1)
		go func() {
			defer ds.done.Done()
			_ = prov.Run(rctx)
		}()
		if o.OnProvider != nil {
			o.OnProvider(prov)
		}
		log.Info("Docker discovery on", "host", prov.Host(), "http", o.HTTP)
	}
	if fprov != nil {
		// Installed before Serve returns, so that a SIGHUP never finds
		// the default action (exit).
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		ds.done.Add(2)
		go func() {
			defer ds.done.Done()
			_ = fprov.Run(rctx)
		}()
		go func() {
			defer ds.done.Done()
			defer signal.Stop(hup)
			for {
				select {
				case <-rctx.Done():
					return
				case <-hup:
					log.Info("SIGHUP: checking the discovery file", "path", fprov.Path())
					fprov.Check()
				}
			}
		}()
		log.Info("discovery file on", "path", fprov.Path(), "interval", fprov.Interval())
	}
	ds.done.Add(1)
	go func() {
		defer ds.done.Done()
		ds.follow(rctx, d)
	}()
	return ds, nil
}

// openDocker makes the Docker provider and the entry point o asks for, or
// returns nil when Docker discovery is off (or auto and the engine does
// not answer).
func openDocker(ctx context.Context, o DockerOptions, log, base *slog.Logger) (*docker.Provider, *entryPoint, error) {
	mode := o.Mode
	switch mode {
	case DockerOff, "":
		if o.HTTP != "" {
			log.Warn("--http is ignored: Docker discovery is off (--docker=off)")
		}
		return nil, nil, nil
	case DockerAuto, DockerOn:
	default:
		return nil, nil, fmt.Errorf("--docker %q: want auto, on or off", mode)
	}
	var entry *entryPoint
	if o.HTTP != "" {
		e, err := parseEntry(o.HTTP)
		if err != nil {
			return nil, nil, err
		}
		// Fail now, clearly, rather than at every apply.
		ln, err := net.Listen("tcp", o.HTTP)
		if err != nil {
			return nil, nil, fmt.Errorf("--http %s: %w", o.HTTP, err)
		}
		ln.Close()
		entry = e
	}
	prov, err := docker.New(docker.Options{Host: o.Host, Resync: o.Resync, Coalesce: o.Coalesce, Logger: base,
		Labels: discovery.LabelOptions{StackDomain: o.StackDomain, RancherLabel: o.RancherLabel, ProxyLabel: o.ProxyLabel,
			AliasLabel: o.AliasLabel, Network: o.Network}})
	if err != nil {
		return nil, nil, err
	}
	if err := prov.Ping(ctx); err != nil {
		if mode == DockerAuto {
			log.Info("Docker engine not reachable: Docker discovery is off (--docker=on keeps trying)", "err", err)
			prov.Close()
			if o.HTTP != "" {
				log.Warn("--http is ignored: Docker discovery is off")
			}
			return nil, nil, nil
		}
		log.Warn("Docker engine not reachable yet; retrying", "err", err)
	}
	return prov, entry, nil
}

// withStatus adds the discovery status to what status reports. Nil-safe.
func (ds *discoveryState) withStatus(status func() api.Status) func() api.Status {
	if ds == nil {
		return status
	}
	return func() api.Status {
		s := status()
		st := ds.status(ds.d)
		s.Discovery = &st
		return s
	}
}

// view is what the API shows of discovery; nil when it is off. Nil-safe.
func (ds *discoveryState) view() api.Discovery {
	if ds == nil {
		return nil
	}
	return apiView{ds: ds, d: ds.d}
}

// stop stops the providers and the feed loop. Nil-safe.
func (ds *discoveryState) stop() {
	if ds == nil {
		return
	}
	ds.cancel()
	ds.done.Wait()
	if ds.prov != nil {
		ds.prov.Close()
	}
}

// follow applies every new container set and file version to the data
// plane, and records when, with what lag.
func (ds *discoveryState) follow(ctx context.Context, d *Dataplane) {
	var dockerReady, fileReady <-chan struct{}
	if ds.prov != nil {
		dockerReady = ds.prov.Feed().Ready()
	}
	if ds.fprov != nil {
		fileReady = ds.fprov.Ready()
	}
	for {
		var stats *applyStats
		var event time.Time
		select {
		case <-ctx.Done():
			return
		case <-dockerReady:
			set := ds.prov.Feed().Latest()
			if set == nil {
				continue
			}
			ds.mu.Lock()
			prev := ds.set
			ds.set = set
			ds.mu.Unlock()
			if !set.Connected && (prev == nil || prev.Connected) {
				ds.log.Warn("Docker engine gone: keeping the last-known containers and their routes", "err", set.Err, "containers", len(set.Containers))
			}
			stats, event = &ds.dockerApplied, set.EventTime
		case <-fileReady:
			v := ds.fprov.Latest()
			ds.mu.Lock()
			prev := ds.file
			ds.file = v
			ds.mu.Unlock()
			if prev != nil && prev != v && prev.Config == v.Config {
				continue // only the error changed: the status says it, traffic stays
			}
			stats, event = &ds.fileApplied, v.Noticed
		}
		// reapply returns once the snapshot is published: the lag ends
		// here (or earlier, when a stored revision built it first).
		err := d.reapply()
		ds.mu.Lock()
		if err == nil {
			stats.record(time.Now(), event)
		}
		ds.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			ds.log.Error("discovered objects not applied; traffic stays on the previous snapshot", "err", err)
		}
	}
}

// reapply builds the last applied config again, with the latest
// discovered containers.
func (d *Dataplane) reapply() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	cfg := d.stored
	if cfg == nil {
		cfg = &config.Config{}
	}
	return d.apply(cfg, d.revision)
}

// build compiles cfg, with what discovery found when it is on. It is what
// Dataplane.apply publishes.
func (d *Dataplane) build(cfg *config.Config, rev uint64) (*snapshot.Snapshot, error) {
	live := snapshot.Live{Registry: d.reg, Tables: d.tables, CookieSecret: d.secret}
	if d.disc == nil {
		return snapshot.BuildLive(cfg, live, rev)
	}
	return d.disc.build(cfg, live, rev)
}

// build compiles cfg merged with the latest output of the providers. When
// what discovery adds breaks the build, it builds with less (see
// buildMerged), so that discovery never keeps a stored revision from being
// served; the errors are logged and shown in the status.
func (ds *discoveryState) build(cfg *config.Config, live snapshot.Live, rev uint64) (*snapshot.Snapshot, error) {
	ds.mu.Lock()
	src := sources{set: ds.set, file: ds.file, entry: ds.entry, network: ds.network}
	ds.mu.Unlock()
	cmp, snap, err := buildMerged(cfg, src, live, rev)
	if err != nil {
		return nil, err // the stored config itself does not build
	}
	discErr := cmp.failed
	if discErr == nil {
		discErr = cmp.entryErr
	}
	fileErr := cmp.fileErr()
	ds.mu.Lock()
	ds.cur, ds.applyErr = cmp, discErr
	msg := fmt.Sprint(discErr, fileErr)
	changed := msg != ds.logged
	ds.logged = msg
	ds.mu.Unlock()
	if changed && discErr != nil {
		ds.log.Error("discovery: some discovered objects are not served", "err", discErr)
	}
	if changed && fileErr != nil {
		ds.log.Error("discovery file: some of its load balancers are not served", "err", fileErr)
	}
	return snap, nil
}

// buildMerged builds stored merged with src. When that does not build, it
// drops what discovery adds, one part at a time: the containers, else the
// file's load balancers, else both; then, when it was added, the entry
// point too (keeping the file if that builds). The compiled it returns
// says what was dropped and why (failed, fileFailed, entryErr). It fails
// only when stored alone does not build.
func buildMerged(stored *config.Config, src sources, live snapshot.Live, rev uint64) (*compiled, *snapshot.Snapshot, error) {
	try := func(s sources) (*compiled, *snapshot.Snapshot, error) {
		cmp := merge(stored, s)
		l := live
		l.Starting = func(k upstream.Key) bool { return cmp.starting[k] }
		snap, err := snapshot.BuildLive(cmp.cfg, l, rev)
		return cmp, snap, err
	}
	cmp, snap, first := try(src)
	if first == nil {
		return cmp, snap, nil
	}
	hasFile := src.file != nil && src.file.Config != nil
	noSet, noFile, none := src, src, src
	noSet.set, noFile.file, none.set, none.file = nil, nil, nil, nil
	bareFile, bare := noSet, none
	bareFile.entry, bare.entry = nil, nil
	var attempts []sources
	if src.set != nil {
		attempts = append(attempts, noSet)
	}
	if hasFile {
		attempts = append(attempts, noFile)
	}
	if src.set != nil && hasFile {
		attempts = append(attempts, none)
	}
	if src.entry != nil && cmp.entryErr == nil { // the entry point was added
		if hasFile {
			attempts = append(attempts, bareFile)
		}
		attempts = append(attempts, bare)
	}
	err := first
	var withEntryErr error // the last error of a build with the entry point
	for _, a := range attempts {
		if a.entry == nil && withEntryErr == nil {
			withEntryErr = err
		}
		if cmp, snap, err = try(a); err == nil {
			if src.entry != nil && a.entry == nil && cmp.entryErr == nil {
				cmp.entryErr = fmt.Errorf("the --http entry point does not fit the config: %w", withEntryErr)
			}
			if src.set != nil && a.set == nil {
				cmp.set, cmp.failed = src.set, fmt.Errorf("discovered objects dropped: %w", first)
				if a.entry == nil {
					cmp.failed = cmp.entryErr // the containers' routes need it
				}
			}
			if hasFile && a.file == nil {
				cmp.file, cmp.fileFailed = src.file, fmt.Errorf("the load balancers of %s are not served: %w", src.file.Path, first)
			}
			return cmp, snap, nil
		}
	}
	return nil, nil, err
}

// status is the discovery part of GET /v1/status and GET /v1/discovery.
func (ds *discoveryState) status(d *Dataplane) client.DiscoveryStatus {
	ds.mu.Lock()
	set, fv, cmp, applyErr, applied, fileApplied := ds.set, ds.file, ds.cur, ds.applyErr, ds.dockerApplied, ds.fileApplied
	ds.mu.Unlock()
	st := client.DiscoveryStatus{Enabled: true, EntryPoints: []client.EntryPoint{}}
	if ds.fprov != nil {
		st.File = ds.fileStatus(fv, cmp, fileApplied)
	}
	if ds.prov == nil {
		return st
	}
	st.Provider, st.Host, st.AppliedAt, st.LagMillis = docker.ProviderName, ds.prov.Host(), utc(applied.at), millis(applied.lag)
	if set != nil {
		st.Connected, st.Generation, st.Trigger = set.Connected, set.Generation, set.Trigger.String()
		st.ListedAt, st.ResyncedAt = utc(set.Time), utc(set.Resynced)
		if set.Err != nil {
			st.Error = set.Err.Error()
		}
	} else {
		st.Error = "no container listed yet"
	}
	if applyErr != nil {
		st.ApplyError = applyErr.Error()
	}
	if e := ds.entry; e != nil {
		ep := client.EntryPoint{LB: e.lb, Frontend: e.frontend, Address: e.addr}
		if cmp != nil && cmp.entryErr != nil {
			ep.Error = cmp.entryErr.Error()
		}
		st.EntryPoints = append(st.EntryPoints, ep)
	}
	st.Containers = ds.counts(cmp, liveEndpoints(d))
	return st
}

// fileStatus is the state of the discovery file: v its latest version,
// cmp what the published snapshot was merged from.
func (ds *discoveryState) fileStatus(v *file.Version, cmp *compiled, applied applyStats) *client.FileStatus {
	out := &client.FileStatus{Path: ds.fprov.Path(), IntervalMillis: ds.fprov.Interval().Milliseconds(), CheckedAt: utc(ds.fprov.Checked()),
		AppliedAt: utc(applied.at), LagMillis: millis(applied.lag), LBs: []string{}}
	if v != nil {
		out.InSync, out.Generation, out.SHA256, out.LoadedAt = v.Err == nil, v.Generation, v.Hash, utc(v.Loaded)
		if v.Err != nil {
			out.Error = v.Err.Error()
		}
	}
	if cmp != nil {
		out.LBs = append(out.LBs, cmp.fileLBs...)
		if err := cmp.fileErr(); err != nil {
			out.ApplyError = err.Error()
		}
	}
	return out
}

// counts counts the containers cmp was compiled with: seen, routed (eps
// are the live endpoints) and rejected.
func (ds *discoveryState) counts(cmp *compiled, eps map[upstream.Key]*upstream.Endpoint) client.DiscoveryCounts {
	var n client.DiscoveryCounts
	if cmp == nil || cmp.set == nil {
		return n
	}
	for i := range cmp.set.Containers {
		c := ds.describe(cmp, &cmp.set.Containers[i], eps)
		n.Seen++
		switch {
		case c.Routed:
			n.Routed++
		case c.Code == client.CodeLabelError || c.Code == client.CodeRejected:
			n.Rejected++
		}
	}
	return n
}

// metrics is what GET /metrics shows of discovery: one series per
// provider. Nil-safe.
func (ds *discoveryState) metrics() []telemetry.DiscoverySeries {
	if ds == nil {
		return nil
	}
	ds.mu.Lock()
	set, fv, cmp := ds.set, ds.file, ds.cur
	dockerLag, fileLag := ds.dockerApplied.histogram(), ds.fileApplied.histogram()
	ds.mu.Unlock()
	var out []telemetry.DiscoverySeries
	if ds.prov != nil {
		s := telemetry.DiscoverySeries{Provider: docker.ProviderName, Lag: dockerLag}
		if set != nil {
			s.Connected, s.Resynced = set.Connected, set.Resynced
		}
		n := ds.counts(cmp, liveEndpoints(ds.d))
		s.Containers = &telemetry.ContainerCounts{Seen: n.Seen, Routed: n.Routed, Rejected: n.Rejected}
		out = append(out, s)
	}
	if ds.fprov != nil {
		out = append(out, telemetry.DiscoverySeries{Provider: file.ProviderName, Connected: fv != nil && fv.Err == nil,
			Resynced: ds.fprov.Checked(), Lag: fileLag})
	}
	return out
}

// utc is t in UTC, and the zero time for the zero time.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// millis is d in milliseconds, with microseconds.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// liveEndpoints returns the endpoints of the published snapshot by key.
func liveEndpoints(d *Dataplane) map[upstream.Key]*upstream.Endpoint {
	out := map[upstream.Key]*upstream.Endpoint{}
	if snap := d.Snapshot(); snap != nil {
		for _, b := range snap.Backends() {
			for _, ep := range b.Endpoints {
				out[ep.Key] = ep
			}
		}
	}
	return out
}

func stateName(s upstream.State) string {
	switch s {
	case upstream.StateUp:
		return "running"
	case upstream.StateDown:
		return "stopped"
	}
	return "starting"
}

// codeOf maps a reason of Container.Ready to its code.
func codeOf(err error) string {
	switch {
	case errors.Is(err, discovery.ErrNotEnabled):
		return client.CodeNoLabel
	case errors.Is(err, discovery.ErrLabels):
		return client.CodeLabelError
	case errors.Is(err, discovery.ErrPaused):
		return client.CodePaused
	case errors.Is(err, discovery.ErrNotRunning):
		return client.CodeNotRunning
	case errors.Is(err, discovery.ErrStopping):
		return client.CodeStopping
	case errors.Is(err, discovery.ErrHealthStarting):
		return client.CodeHealthStarting
	case errors.Is(err, discovery.ErrUnhealthy):
		return client.CodeUnhealthy
	case errors.Is(err, discovery.ErrNoAddress):
		return client.CodeNoAddress
	case errors.Is(err, discovery.ErrSeveralNetworks):
		return client.CodeSeveralNetworks
	}
	return client.CodeRejected
}

// reasonText is a discovery error without its package prefix.
func reasonText(err error) string {
	return strings.ReplaceAll(err.Error(), "discovery: ", "")
}

// describe says what cmp made of container c, with the live state of its
// servers in eps.
func (ds *discoveryState) describe(cmp *compiled, c *discovery.Container, eps map[upstream.Key]*upstream.Endpoint) client.DiscoveredContainer {
	out := client.DiscoveredContainer{ID: c.ID, Name: c.Name, Image: c.Image, Project: c.Project, Service: c.Service,
		State: string(c.State), Health: c.Health.String(), Paused: c.Paused, Stopping: c.Stopping,
		Networks: []client.ContainerNet{}, Ports: []string{}, Labels: c.Labels, Mode: c.Intent.Mode.String(),
		Routes: []client.ContainerRoute{}, Servers: []client.ContainerServer{}}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	for _, n := range c.Networks {
		cn := client.ContainerNet{Name: n.Name}
		if n.IP.IsValid() {
			cn.IP = n.IP.String()
		}
		out.Networks = append(out.Networks, cn)
	}
	for _, p := range c.Ports {
		out.Ports = append(out.Ports, p.String())
	}
	var les discovery.LabelErrors
	if errors.As(c.LabelErr, &les) {
		for _, e := range les {
			out.LabelErrors = append(out.LabelErrors, e.Error())
		}
	}
	v := cmp.verdicts[c.ID]
	if v == nil { // the fallback: nothing discovered is served
		out.Code, out.Reason = client.CodeRejected, "discovery's objects are not served"
		if cmp.failed != nil {
			out.Reason += ": " + cmp.failed.Error()
		}
		return out
	}
	out.Routes = append(out.Routes, v.routes...)
	up, starting, down := 0, 0, 0
	var lastReason string
	for _, ref := range v.servers {
		cs := client.ContainerServer{LB: ref.lb, Backend: ref.backend, Address: ref.addr, State: "starting", LastCheck: upstream.CheckUnknown.String()}
		if ep := eps[ref.key()]; ep != nil {
			st := ep.Stats()
			cs.State, cs.LastCheck, cs.CheckReason = stateName(st.State), st.LastCheck.String(), st.Reason
			switch st.State {
			case upstream.StateUp:
				up++
			case upstream.StateDown:
				down++
				lastReason = st.Reason
			default:
				starting++
				lastReason = st.Reason
			}
		} else {
			starting++ // compiled but not published yet
		}
		out.Servers = append(out.Servers, cs)
	}
	_, readyErr := c.Ready()
	switch {
	case up > 0:
		out.Routed, out.Code = true, client.CodeRouted
		out.Reason = fmt.Sprintf("a server of %d backend(s), taking new traffic", up)
	case down > 0 && starting == 0:
		out.Code = client.CodeHealthCheckFailing
		out.Reason = "gantry's health check fails: " + orUnknown(lastReason)
	case starting > 0:
		out.Code = client.CodeHealthCheckPending
		out.Reason = "not healthy yet: gantry's health check has not passed"
		if lastReason != "" {
			out.Reason += " (last check: " + lastReason + ")"
		}
	case c.LabelErr != nil:
		out.Code, out.Reason = client.CodeLabelError, "invalid labels: "+c.LabelErr.Error()
	case v.rejected != nil:
		out.Code, out.Reason = client.CodeRejected, v.rejected.Error()
	case c.Intent.Mode == discovery.ModeNone && v.selectorErr != nil:
		out.Code, out.Reason = codeOf(errors.Unwrap(v.selectorErr)), reasonText(v.selectorErr)
	case c.Intent.Mode == discovery.ModeNone:
		out.Code = client.CodeNoLabel
		out.Reason = "no routing label: set gantry.enable=true (or the rancher label, with --stack-domain), and no backend selector matches it"
	case readyErr != nil:
		out.Code, out.Reason = codeOf(readyErr), reasonText(readyErr)
	default:
		out.Code, out.Reason = client.CodeRejected, "no route or backend was made for it"
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "no answer yet"
	}
	return s
}

// probePorts connects to the ports container c is (or would be) routed
// to, and marks a routed container whose ports all refuse.
func (ds *discoveryState) probePorts(ctx context.Context, cmp *compiled, c *discovery.Container, out *client.DiscoveredContainer) {
	var addrs []string
	for _, s := range out.Servers {
		if !slices.Contains(addrs, s.Address) {
			addrs = append(addrs, s.Address)
		}
	}
	if len(addrs) == 0 && c.State == discovery.StateRunning {
		// Not a server: probe the ports its labels name, on its address.
		ip, err := c.Address()
		if err == nil && ip.IsValid() {
			ports := []int{}
			if c.Intent.Port != 0 {
				ports = append(ports, int(c.Intent.Port))
			}
			for _, r := range c.Intent.Rules {
				if !slices.Contains(ports, int(r.Port)) {
					ports = append(ports, int(r.Port))
				}
			}
			for _, p := range ports {
				addrs = append(addrs, net.JoinHostPort(ip.String(), strconv.Itoa(p)))
			}
		}
	}
	listening := 0
	var failed []string
	for _, a := range addrs {
		pc := client.PortCheck{Address: a}
		dctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", a)
		cancel()
		if err == nil {
			conn.Close()
			pc.Listening = true
			listening++
		} else {
			pc.Error = dialReason(err)
			failed = append(failed, a+": "+pc.Error)
		}
		out.PortChecks = append(out.PortChecks, pc)
	}
	if len(addrs) > 0 && listening == 0 && (out.Routed || out.Code == client.CodeHealthCheckPending || out.Code == client.CodeHealthCheckFailing) {
		out.Code = client.CodePortNotListening
		out.Reason = "port not listening: " + strings.Join(failed, "; ")
		if out.Routed {
			out.Reason = "routed, but its port is not listening (" + strings.Join(failed, "; ") + "): requests to it fail over to other servers; set gantry.healthcheck.path to hold traffic until it answers"
		}
	}
}

// dialReason is the cause of a dial error, without the address.
func dialReason(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer within 500ms"
	}
	return err.Error()
}

// apiView is what the API shows of discovery (api.Discovery).
type apiView struct {
	ds *discoveryState
	d  *Dataplane
}

var _ api.Discovery = apiView{}

func (a apiView) current() *compiled {
	a.ds.mu.Lock()
	defer a.ds.mu.Unlock()
	if a.ds.cur == nil {
		return compile(nil, nil, nil, "")
	}
	return a.ds.cur
}

// Status implements api.Discovery.
func (a apiView) Status() client.DiscoveryStatus { return a.ds.status(a.d) }

// Containers implements api.Discovery.
func (a apiView) Containers() []client.DiscoveredContainer {
	cmp := a.current()
	out := []client.DiscoveredContainer{}
	if cmp.set == nil {
		return out
	}
	eps := liveEndpoints(a.d)
	for i := range cmp.set.Containers {
		out = append(out, a.ds.describe(cmp, &cmp.set.Containers[i], eps))
	}
	return out
}

// Explain implements api.Discovery.
func (a apiView) Explain(ctx context.Context, ref string) (*client.DiscoveredContainer, bool) {
	cmp := a.current()
	c := cmp.set.Lookup(ref)
	if c == nil {
		return nil, false
	}
	out := a.ds.describe(cmp, c, liveEndpoints(a.d))
	a.ds.probePorts(ctx, cmp, c, &out)
	return &out, true
}

// Routes implements api.Discovery.
func (a apiView) Routes() []client.DiscoveredRoute {
	return slices.Clone(a.current().routes)
}

// Backends implements api.Discovery.
func (a apiView) Backends() []client.DiscoveredBackend {
	cmp := a.current()
	eps := liveEndpoints(a.d)
	out := make([]client.DiscoveredBackend, 0, len(cmp.backends))
	for _, b := range cmp.backends {
		b.Servers = resolvedOut(b.LB, cmp.resolved[b.LB+"/"+b.Name], b.Name, eps)
		out = append(out, b)
	}
	return out
}

// Resolved implements api.Discovery.
func (a apiView) Resolved(lb, backend string) []client.ResolvedServer {
	cmp := a.current()
	return resolvedOut(lb, cmp.resolved[lb+"/"+backend], backend, liveEndpoints(a.d))
}

func resolvedOut(lb string, rs []resolvedServer, backend string, eps map[upstream.Key]*upstream.Endpoint) []client.ResolvedServer {
	out := make([]client.ResolvedServer, 0, len(rs))
	for _, r := range rs {
		s := client.ResolvedServer{Container: r.container, ContainerID: r.id, Address: r.addr, Weight: r.weight, State: "starting"}
		if ep := eps[upstream.Key{Backend: lb + "/" + backend, Addr: r.addr}]; ep != nil {
			s.State = stateName(ep.State())
		}
		out = append(out, s)
	}
	return out
}

// ReadOnly implements api.Discovery.
func (a apiView) ReadOnly(lb, frontend, route string) string {
	if cmp := a.current(); slices.Contains(cmp.fileLBs, lb) {
		return fmt.Sprintf("load balancer %q is defined by the discovery file %s (source: file): it is read-only in the API; edit the file", lb, cmp.file.Path)
	}
	if e := a.ds.entry; e != nil && lb == e.lb {
		cmp := a.current()
		if cmp.entryErr == nil {
			return fmt.Sprintf("load balancer %q is the entry point of gantry serve --http %s (source: docker): discovery owns it and its routes; change container labels, or restart gantry serve with other flags", e.lb, e.addr)
		}
	}
	if route == "" {
		return ""
	}
	for _, r := range a.current().routes {
		if r.LB == lb && r.Frontend == frontend && r.Name == route {
			return fmt.Sprintf("route %q of frontend %q is made by discovery (source: docker) from the labels of %s; it is read-only: change the containers' labels", route, frontend, strings.Join(r.Containers, ", "))
		}
	}
	return ""
}
