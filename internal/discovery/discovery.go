// Package discovery holds the provider-neutral view of service discovery: the
// whole current Set of containers a provider sees, each with its parsed
// routing Intent (or the exact error of its labels), and the parsers of
// gantry's labels and of Rancher port-rule strings.
//
// Discovery is level-triggered. A provider (internal/discovery/docker) re-lists
// everything it sees on every relevant event and on a periodic resync, and
// publishes the whole Set through a Feed; the consumer keeps only the latest
// Set and never blocks the provider. A Set, its Containers and everything
// they reference are immutable once published: consumers read them from any
// goroutine and must not modify them.
//
// The types are plain data. Turning a Set into routes and backends is the
// job of the consumer (internal/app and internal/snapshot): this package
// only says, for each container, what it asks for (Container.Intent) and
// whether and where it can take traffic now (Container.Ready).
//
// Nothing here is on the hot path: a Set is built once per listing.
package discovery

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Set is the whole current set of containers one provider sees, with the
// provider's health. A Set is immutable once published.
type Set struct {
	// Provider names the source, such as "docker".
	Provider string
	// Generation increases by one with every Set the provider publishes,
	// starting at 1.
	Generation uint64
	// Time is when the listing that produced Containers finished. It is
	// zero when the provider never listed successfully. A Set published
	// because the provider lost its engine keeps the Time of the last
	// listing.
	Time time.Time
	// Trigger says why this Set was published.
	Trigger Trigger
	// EventTime is when the provider received the first of the events that
	// this listing answers (zero when no event was pending). The consumer's
	// discovery lag is the time from EventTime to the snapshot it applies.
	EventTime time.Time
	// Resynced is when the last periodic full resync finished (zero before
	// the first one).
	Resynced time.Time
	// Connected reports whether the provider is talking to its engine.
	// When false, Containers are the last-known ones and Err says why.
	Connected bool
	// Err is the last error talking to the engine; nil while connected.
	Err error
	// Containers are every container the provider sees, running or not,
	// sorted by Name then ID. Never modified after publication.
	Containers []Container
}

// Trigger says why a provider published a Set.
type Trigger uint8

// Triggers.
const (
	// TriggerStart is the first listing after the provider started.
	TriggerStart Trigger = iota
	// TriggerEvent is a listing caused by one or more engine events.
	TriggerEvent
	// TriggerResync is the periodic full resync.
	TriggerResync
	// TriggerReconnect is the first listing after the engine came back.
	TriggerReconnect
	// TriggerDisconnect is published when the engine went away: the
	// containers are the last-known ones.
	TriggerDisconnect
)

// String returns "start", "event", "resync", "reconnect" or "disconnect".
func (t Trigger) String() string {
	switch t {
	case TriggerStart:
		return "start"
	case TriggerEvent:
		return "event"
	case TriggerResync:
		return "resync"
	case TriggerReconnect:
		return "reconnect"
	case TriggerDisconnect:
		return "disconnect"
	}
	return fmt.Sprintf("trigger(%d)", uint8(t))
}

// Lookup returns the container whose ID, unique ID prefix (at least 4
// characters) or Name is ref, or nil. An exact ID or name wins over a
// prefix; an ambiguous prefix finds nothing.
func (s *Set) Lookup(ref string) *Container {
	if s == nil || ref == "" {
		return nil
	}
	ref = strings.TrimPrefix(ref, "/")
	var prefix *Container
	ambiguous := false
	for i := range s.Containers {
		c := &s.Containers[i]
		if c.ID == ref || c.Name == ref {
			return c
		}
		if len(ref) >= 4 && strings.HasPrefix(c.ID, ref) {
			ambiguous = prefix != nil
			prefix = c
		}
	}
	if ambiguous {
		return nil
	}
	return prefix
}

// Container is one container as a provider sees it, with the routing intent
// parsed from its labels.
type Container struct {
	// ID is the full container ID.
	ID string
	// Name is the container name without Docker's leading "/".
	Name string
	// Image is the image reference the container was created from.
	Image string
	// Project is the compose project (com.docker.compose.project) or, when
	// absent, the Rancher stack (io.rancher.stack.name); empty if neither.
	Project string
	// Service is the compose service (com.docker.compose.service) or the
	// service part of io.rancher.stack_service.name; empty if neither.
	Service string
	// Labels are all labels of the container. Never modified.
	Labels map[string]string
	// State is Docker's state of the container.
	State State
	// Health is the status of the container's Docker HEALTHCHECK.
	Health Health
	// Paused reports a paused container (State is StatePaused).
	Paused bool
	// Stopping reports a running container that was sent its stop signal
	// (docker stop, or a kill with SIGTERM, SIGINT, SIGQUIT, SIGKILL or its
	// STOPSIGNAL): it should take no new traffic while it shuts down. It
	// is cleared when the container starts again.
	Stopping bool
	// Networks are the networks the container is attached to, sorted by
	// name, with its address on each.
	Networks []Network
	// Ports are the ports the container exposes or publishes (container
	// side), sorted and without duplicates.
	Ports []Port
	// Created is when the container was created.
	Created time.Time
	// Intent is what the container's labels ask for. Its Mode is ModeNone
	// when the container asks for nothing or its labels did not parse.
	Intent Intent
	// LabelErr is why the container's labels did not parse (a LabelErrors),
	// or nil. A container with a LabelErr is never routed.
	LabelErr error
}

// Network is a container's attachment to one network.
type Network struct {
	// Name is the network name ("bridge", "myproject_default").
	Name string
	// IP is the container's IPv4 address on the network or, when it has
	// none, its global IPv6 address; invalid (zero) when it has neither.
	IP netip.Addr
}

// Port is a container-side port.
type Port struct {
	Port  uint16
	Proto string // "tcp", "udp" or "sctp"
}

// String returns "80/tcp".
func (p Port) String() string { return fmt.Sprintf("%d/%s", p.Port, p.Proto) }

// State is Docker's state of a container.
type State string

// States, as Docker names them.
const (
	StateCreated    State = "created"
	StateRunning    State = "running"
	StatePaused     State = "paused"
	StateRestarting State = "restarting"
	StateRemoving   State = "removing"
	StateExited     State = "exited"
	StateDead       State = "dead"
)

// Health is the status of a container's Docker HEALTHCHECK.
type Health uint8

// Health statuses.
const (
	// HealthNone: the container has no healthcheck.
	HealthNone Health = iota
	// HealthStarting: no check has passed yet; not routed.
	HealthStarting
	// HealthHealthy: the last checks passed.
	HealthHealthy
	// HealthUnhealthy: the checks failed Retries times in a row; not routed.
	HealthUnhealthy
)

// String returns "none", "starting", "healthy" or "unhealthy".
func (h Health) String() string {
	switch h {
	case HealthNone:
		return "none"
	case HealthStarting:
		return "starting"
	case HealthHealthy:
		return "healthy"
	case HealthUnhealthy:
		return "unhealthy"
	}
	return fmt.Sprintf("health(%d)", uint8(h))
}

// ParseHealth maps Docker's health status text ("starting", "healthy",
// "unhealthy", "none" or "") to a Health. Unknown text maps to
// HealthStarting, so that a status gantry does not know is never routed.
func ParseHealth(s string) Health {
	switch s {
	case "", "none":
		return HealthNone
	case "healthy":
		return HealthHealthy
	case "unhealthy":
		return HealthUnhealthy
	}
	return HealthStarting
}

// IP returns the container's address on the network named name, and
// whether it is attached to that network with an address.
func (c *Container) IP(name string) (netip.Addr, bool) {
	for _, n := range c.Networks {
		if n.Name == name {
			return n.IP, n.IP.IsValid()
		}
	}
	return netip.Addr{}, false
}

// Reasons a container is not routed, as returned (wrapped) by Ready and
// Address. errors.Is tells them apart; the wrapping message has the detail.
var (
	ErrNotEnabled      = errors.New("discovery: no routing label")
	ErrLabels          = errors.New("discovery: invalid labels")
	ErrNotRunning      = errors.New("discovery: not running")
	ErrPaused          = errors.New("discovery: paused")
	ErrStopping        = errors.New("discovery: stopping")
	ErrHealthStarting  = errors.New("discovery: not healthy yet")
	ErrUnhealthy       = errors.New("discovery: unhealthy")
	ErrNoAddress       = errors.New("discovery: no address")
	ErrSeveralNetworks = errors.New("discovery: on several networks")
)

// Address returns the address traffic for c goes to: its IP on
// Intent.Network when that is set, else its IP on its only network with an
// address. The error wraps ErrNoAddress (not attached to the chosen network,
// or on no network with an address) or ErrSeveralNetworks (several
// candidates and no network chosen).
func (c *Container) Address() (netip.Addr, error) {
	if n := c.Intent.Network; n != "" {
		if ip, ok := c.IP(n); ok {
			return ip, nil
		}
		return netip.Addr{}, fmt.Errorf("%w on network %q (attached to: %s)", ErrNoAddress, n, c.networkNames())
	}
	var found netip.Addr
	count := 0
	for _, n := range c.Networks {
		if n.IP.IsValid() {
			found = n.IP
			count++
		}
	}
	switch count {
	case 0:
		return netip.Addr{}, fmt.Errorf("%w on any network (attached to: %s)", ErrNoAddress, c.networkNames())
	case 1:
		return found, nil
	}
	return netip.Addr{}, fmt.Errorf("%w (%s): set the gantry.network label or --docker-network", ErrSeveralNetworks, c.networkNames())
}

func (c *Container) networkNames() string {
	if len(c.Networks) == 0 {
		return "none"
	}
	names := make([]string, len(c.Networks))
	for i, n := range c.Networks {
		names[i] = n.Name
	}
	return strings.Join(names, ", ")
}

// Ready returns the address to route to when c may take new traffic now, or
// an error that says why not, wrapping one of ErrNotEnabled, ErrLabels,
// ErrNotRunning, ErrPaused, ErrStopping, ErrHealthStarting, ErrUnhealthy,
// ErrNoAddress or ErrSeveralNetworks, checked in that order. It does not
// know about gantry's own health checks: a ready container may still be
// held back by them (gantry.healthcheck.path).
func (c *Container) Ready() (netip.Addr, error) {
	switch {
	case c.LabelErr != nil:
		return netip.Addr{}, fmt.Errorf("%w: %w", ErrLabels, c.LabelErr)
	case c.Intent.Mode == ModeNone:
		return netip.Addr{}, ErrNotEnabled
	case c.Paused || c.State == StatePaused:
		return netip.Addr{}, ErrPaused
	case c.State != StateRunning:
		return netip.Addr{}, fmt.Errorf("%w (state %s)", ErrNotRunning, c.State)
	case c.Stopping:
		return netip.Addr{}, ErrStopping
	case c.Health == HealthStarting:
		return netip.Addr{}, ErrHealthStarting
	case c.Health == HealthUnhealthy:
		return netip.Addr{}, ErrUnhealthy
	}
	return c.Address()
}

// SortContainers sorts cs by Name, then ID: the order of Set.Containers.
func SortContainers(cs []Container) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Name != cs[j].Name {
			return cs[i].Name < cs[j].Name
		}
		return cs[i].ID < cs[j].ID
	})
}
