package client

import (
	"context"
	"encoding/json"
	"net/url"
	"time"
)

// Source values of discovered objects.
const (
	// SourceDocker marks objects made by Docker discovery: read-only in the
	// API, they follow the containers' labels.
	SourceDocker = "docker"
	// SourceAPI marks API-defined objects that discovery adds servers to
	// (a Docker selector, or containers with gantry.backend).
	SourceAPI = "api"
	// SourceFile marks objects of the discovery file (gantry serve
	// --file): read-only in the API, they follow the file.
	SourceFile = "file"
)

// Container codes: why a container is or is not routed (DiscoveredContainer.Code).
const (
	CodeRouted             = "routed"
	CodeNoLabel            = "no_label"
	CodeLabelError         = "label_error"
	CodeNotRunning         = "not_running"
	CodePaused             = "paused"
	CodeStopping           = "stopping"
	CodeHealthStarting     = "health_starting"
	CodeUnhealthy          = "unhealthy"
	CodeNoAddress          = "no_address"
	CodeSeveralNetworks    = "several_networks"
	CodeRejected           = "rejected"
	CodeHealthCheckPending = "health_check_pending"
	CodeHealthCheckFailing = "health_check_failing"
	CodePortNotListening   = "port_not_listening"
)

// DiscoveryStatus is the state of service discovery: GET /v1/discovery, and
// the discovery field of GET /v1/status. The fields from Provider to
// ApplyError describe Docker discovery, and are zero when it is off; File
// describes the discovery file.
type DiscoveryStatus struct {
	// Enabled reports whether any discovery provider runs (Docker, the
	// file).
	Enabled bool `json:"enabled"`
	// Provider is "docker" when Docker discovery runs.
	Provider string `json:"provider,omitempty"`
	// Host is the engine address.
	Host string `json:"host,omitempty"`
	// Connected reports whether the engine answers now. When false, the
	// containers (and their routes) are the last known ones, and Error
	// says why.
	Connected bool   `json:"connected"`
	Error     string `json:"error,omitempty"`
	// Generation counts the container sets the provider published.
	Generation uint64 `json:"generation"`
	// Trigger says why the latest set was published: start, event, resync,
	// reconnect or disconnect.
	Trigger string `json:"trigger,omitempty"`
	// ListedAt is when the engine was last listed; ResyncedAt when the
	// last periodic full resync finished; AppliedAt when traffic last
	// switched to a snapshot with the latest set.
	ListedAt   time.Time `json:"listed_at,omitzero"`
	ResyncedAt time.Time `json:"resynced_at,omitzero"`
	AppliedAt  time.Time `json:"applied_at,omitzero"`
	// LagMillis is the discovery lag of the latest set that an event
	// caused: from the event to the snapshot that applies it.
	LagMillis float64 `json:"lag_ms"`
	// Containers counts the containers seen, routed (at least one server)
	// and rejected (asked for routing but are not routed).
	Containers DiscoveryCounts `json:"containers"`
	// EntryPoints are the default frontends of gantry serve --http that
	// discovered routes attach to.
	EntryPoints []EntryPoint `json:"entry_points"`
	// ApplyError says why discovered routes are not served now (the
	// stored config is served without them), if so.
	ApplyError string `json:"apply_error,omitempty"`
	// File is the state of the discovery file (gantry serve --file); nil
	// without one.
	File *FileStatus `json:"file,omitempty"`
}

// FileStatus is the state of the discovery file: the load balancers of a
// YAML or JSON file that gantry serve --file watches and serves besides
// the API's, read-only.
type FileStatus struct {
	// Path is the watched file.
	Path string `json:"path"`
	// InSync reports whether what is served is the file's current
	// content. When false, Error says why: the file is missing (its
	// objects are withdrawn), unreadable, or does not parse or validate
	// (its last good version stays served; the error names the field).
	InSync bool   `json:"in_sync"`
	Error  string `json:"error,omitempty"`
	// Generation counts the versions of the file published (a change of
	// content or of error).
	Generation uint64 `json:"generation"`
	// SHA256 is the hash of the version served, LoadedAt when it was read.
	SHA256   string    `json:"sha256,omitempty"`
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	// CheckedAt is when the file was last checked; IntervalMillis how
	// often it is (SIGHUP checks it at once).
	CheckedAt      time.Time `json:"checked_at,omitzero"`
	IntervalMillis int64     `json:"interval_ms"`
	// AppliedAt is when traffic last switched to a snapshot with the
	// latest version; LagMillis the time from noticing that version's
	// change to that switch.
	AppliedAt time.Time `json:"applied_at,omitzero"`
	LagMillis float64   `json:"lag_ms"`
	// LBs are the file's load balancers that are served (GET
	// /v1/discovery/routes and /backends list their routes and backends,
	// with source file).
	LBs []string `json:"lbs"`
	// ApplyError says why some or all of the file's load balancers are
	// not served although it is valid: a name the config has already, or
	// a conflict with the config (an address and port bound twice), in
	// which case the config is served without them.
	ApplyError string `json:"apply_error,omitempty"`
}

// DiscoveryCounts counts containers.
type DiscoveryCounts struct {
	Seen     int `json:"seen"`
	Routed   int `json:"routed"`
	Rejected int `json:"rejected"`
}

// EntryPoint is a frontend that discovered routes attach to by default.
type EntryPoint struct {
	LB       string `json:"lb"`
	Frontend string `json:"frontend"`
	Address  string `json:"address"`
	// Error says why the entry point is not served, if so.
	Error string `json:"error,omitempty"`
}

// DiscoveredRoute is a route discovery made from container labels, or a
// route of the discovery file: GET /v1/discovery/routes. It is read-only:
// writes to it answer 409.
type DiscoveredRoute struct {
	Source   string     `json:"source"`
	ReadOnly bool       `json:"read_only"`
	LB       string     `json:"lb"`
	Frontend string     `json:"frontend"`
	Name     string     `json:"name"`
	Backend  string     `json:"backend"`
	Match    RouteMatch `json:"match"`
	// Containers are the names of the containers that asked for it (none
	// for a route of the file).
	Containers []string `json:"containers"`
}

// DiscoveredRouteList is the answer of GET /v1/discovery/routes.
type DiscoveredRouteList struct {
	Routes     []DiscoveredRoute `json:"routes"`
	TotalCount int               `json:"total_count"`
}

// DiscoveredBackend is a backend with servers from discovery: one discovery
// made (source docker, read-only), one of the discovery file (source file,
// read-only), or an API backend that containers joined or that a Docker
// selector fills (source api).
type DiscoveredBackend struct {
	Source string `json:"source"`
	LB     string `json:"lb"`
	Name   string `json:"name"`
	// ProxyProtocol and HealthCheckPath are the settings of a backend
	// discovery made.
	ProxyProtocol   string           `json:"proxy_protocol,omitempty"`
	HealthCheckPath string           `json:"health_check_path,omitempty"`
	Servers         []ResolvedServer `json:"servers"`
}

// DiscoveredBackendList is the answer of GET /v1/discovery/backends.
type DiscoveredBackendList struct {
	Backends   []DiscoveredBackend `json:"backends"`
	TotalCount int                 `json:"total_count"`
}

// ResolvedServer is a container serving a backend now.
type ResolvedServer struct {
	Container   string `json:"container"`
	ContainerID string `json:"container_id"`
	// Address is ip:port.
	Address string `json:"address"`
	Weight  int    `json:"weight"`
	// State is running, starting (gantry's health check has not passed
	// yet) or stopped (its health check fails), as in ServerStats.
	State string `json:"state"`
}

// DiscoveredContainer is a container as discovery sees it, with why it is
// or is not routed: GET /v1/discovery/containers[/{id}] and gantry explain.
type DiscoveredContainer struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Image    string            `json:"image,omitempty"`
	Project  string            `json:"project,omitempty"`
	Service  string            `json:"service,omitempty"`
	State    string            `json:"state"`
	Health   string            `json:"health"`
	Paused   bool              `json:"paused"`
	Stopping bool              `json:"stopping"`
	Networks []ContainerNet    `json:"networks"`
	Ports    []string          `json:"ports"`
	Labels   map[string]string `json:"labels"`
	// Mode is none, native (gantry.enable) or rancher (the
	// rancher-haproxy label).
	Mode string `json:"mode"`
	// Routed reports whether the container takes new traffic now.
	Routed bool `json:"routed"`
	// Code is one of the Code* constants; Reason says it in words, with
	// the detail (the label error, the health check's last answer...).
	Code   string `json:"code"`
	Reason string `json:"reason"`
	// LabelErrors are the exact errors of its labels, one per label.
	LabelErrors []string `json:"label_errors,omitempty"`
	// Routes are the routes its labels made (whether or not it is routed
	// now); Servers where it is a server now.
	Routes  []ContainerRoute  `json:"routes"`
	Servers []ContainerServer `json:"servers"`
	// PortChecks are live TCP connects to its ports, in answers about
	// one container only.
	PortChecks []PortCheck `json:"port_checks,omitempty"`
}

// ContainerNet is a container's address on one network.
type ContainerNet struct {
	Name string `json:"name"`
	IP   string `json:"ip,omitempty"`
}

// ContainerRoute is a route made for a container.
type ContainerRoute struct {
	LB       string     `json:"lb"`
	Frontend string     `json:"frontend"`
	Route    string     `json:"route"`
	Backend  string     `json:"backend"`
	Match    RouteMatch `json:"match"`
}

// ContainerServer is a container as a server of one backend.
type ContainerServer struct {
	LB      string `json:"lb"`
	Backend string `json:"backend"`
	Address string `json:"address"`
	// State is running, starting or stopped (see ResolvedServer).
	State string `json:"state"`
	// LastCheck is passed, failed or unknown; CheckReason the detail of
	// gantry's last health check.
	LastCheck   string `json:"last_check"`
	CheckReason string `json:"check_reason,omitempty"`
}

// PortCheck is a TCP connect to one port of a container.
type PortCheck struct {
	Address   string `json:"address"`
	Listening bool   `json:"listening"`
	Error     string `json:"error,omitempty"`
}

// DiscoveredContainerList is the answer of GET /v1/discovery/containers.
type DiscoveredContainerList struct {
	Containers []DiscoveredContainer `json:"containers"`
	TotalCount int                   `json:"total_count"`
}

// DockerSelector makes a backend follow Docker containers (the servers
// object {"type": "docker", ...} of a backend, shown as the backend's
// docker field): every running, healthy container with all of Labels, in
// Project, running Service, is a server at Port (0: the backend's
// forward_port), at its address on Network (empty: the only one).
type DockerSelector struct {
	Labels  map[string]string `json:"labels,omitempty"`
	Project string            `json:"project,omitempty"`
	Service string            `json:"service,omitempty"`
	Port    int               `json:"port,omitempty"`
	Network string            `json:"network,omitempty"`
}

// LabelSelector is the selector of a servers object {"type": "docker",
// "selector": {"labels": {...}}}.
type LabelSelector struct {
	Labels map[string]string `json:"labels,omitempty"`
}

// DockerServers returns seed 004's "servers" value of a backend that
// follows the containers sel selects: {"type": "docker", "selector":
// {"labels": {...}}, "project": ..., "service": ..., "port": ...}.
func DockerServers(sel DockerSelector) json.RawMessage {
	obj := ServersObject{Type: "docker", Project: sel.Project, Service: sel.Service, Port: sel.Port, Network: sel.Network}
	if len(sel.Labels) > 0 {
		obj.Selector = &LabelSelector{Labels: sel.Labels}
	}
	return mustJSON(obj)
}

// Discovery reads the state of service discovery.
func (c *Client) Discovery(ctx context.Context) (*DiscoveryStatus, error) {
	var out DiscoveryStatus
	if _, err := get(ctx, c, "/v1/discovery", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DiscoveredContainers lists every container discovery sees, with why each
// is or is not routed.
func (c *Client) DiscoveredContainers(ctx context.Context) (*DiscoveredContainerList, error) {
	var out DiscoveredContainerList
	if _, err := get(ctx, c, "/v1/discovery/containers", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ExplainContainer returns one container, by ID, unique ID prefix or name,
// with why it is or is not routed and a live check of its ports.
func (c *Client) ExplainContainer(ctx context.Context, ref string) (*DiscoveredContainer, error) {
	var out DiscoveredContainer
	if _, err := get(ctx, c, "/v1/discovery/containers/"+url.PathEscape(ref), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DiscoveredRoutes lists the routes discovery made; lb and frontend, when
// not empty, filter them.
func (c *Client) DiscoveredRoutes(ctx context.Context, lb, frontend string) (*DiscoveredRouteList, error) {
	q := url.Values{}
	if lb != "" {
		q.Set("lb", lb)
	}
	if frontend != "" {
		q.Set("frontend", frontend)
	}
	path := "/v1/discovery/routes"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out DiscoveredRouteList
	if _, err := get(ctx, c, path, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DiscoveredBackends lists the backends with servers from discovery.
func (c *Client) DiscoveredBackends(ctx context.Context) (*DiscoveredBackendList, error) {
	var out DiscoveredBackendList
	if _, err := get(ctx, c, "/v1/discovery/backends", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
