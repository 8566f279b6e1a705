package discovery

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-lb/gantry/internal/config"
)

// Native labels. docs/labels.md documents each with examples.
const (
	// LabelEnable ("true" or "false") opts a container in to native
	// routing; "false" also opts it out of the Rancher-compatible mode.
	LabelEnable = "gantry.enable"
	// LabelHTTPPort is the container port traffic goes to. When absent, the
	// container's only exposed TCP port is used.
	LabelHTTPPort = "gantry.http.port"
	// LabelHTTPHosts is a comma-separated list of host names (or
	// "*.example.com" wildcards) routed to the container; absent means any
	// host.
	LabelHTTPHosts = "gantry.http.hosts"
	// LabelHTTPPath is a path prefix routed to the container.
	LabelHTTPPath = "gantry.http.path"
	// LabelHTTPRules is a comma-separated list of Rancher port-rule strings
	// ("vpn.example.com:80=80,/api=8080"), for several routes or ports.
	LabelHTTPRules = "gantry.http.rules"
	// LabelLB names the load balancer whose frontends the routes attach to;
	// absent means the LB of `gantry serve`'s default frontends.
	LabelLB = "gantry.lb"
	// LabelFrontend names the frontend the routes attach to; absent means
	// the default frontends (or the frontend on a rule's source port).
	LabelFrontend = "gantry.frontend"
	// LabelBackend names an API-defined backend the container joins as a
	// server.
	LabelBackend = "gantry.backend"
	// LabelWeight is the container's weight, 0..256 (default 1); 0 takes no
	// new traffic.
	LabelWeight = "gantry.weight"
	// LabelHealthCheckPath makes gantry check the container with an HTTP
	// GET of this path (and query) before and while routing to it.
	LabelHealthCheckPath = "gantry.healthcheck.path"
	// LabelProxyProtocol ("v1", "v2" or "none") makes gantry send a PROXY
	// protocol header to the container.
	LabelProxyProtocol = "gantry.proxy_protocol"
	// LabelNetwork names the network whose address of the container is
	// used, for containers on several networks.
	LabelNetwork = "gantry.network"

	// NativePrefix begins every native label. An unknown label with this
	// prefix on a container that enables native routing is an error, so a
	// typo is reported rather than ignored.
	NativePrefix = "gantry."
)

// Labels of other tools that discovery reads.
const (
	LabelComposeProject = "com.docker.compose.project"
	LabelComposeService = "com.docker.compose.service"
	LabelRancherStack   = "io.rancher.stack.name"
	// LabelRancherStackService is "stack/service".
	LabelRancherStackService = "io.rancher.stack_service.name"
)

// Defaults of LabelOptions, after rancher-haproxy (seed 001).
const (
	DefaultRancherLabel = "map-public-http"
	DefaultProxyLabel   = "proxy_protocol"
	DefaultAliasLabel   = "aliases"
)

// LabelOptions configure label parsing. The zero value parses native labels
// only (the Rancher-compatible mode needs a StackDomain).
type LabelOptions struct {
	// StackDomain turns the rancher-haproxy compatible mode on: a container
	// with RancherLabel in stack S is served at S.StackDomain.
	StackDomain string
	// RancherLabel is the label whose value is the container port
	// (default "map-public-http", rancher-haproxy's RANCHER_LABEL).
	RancherLabel string
	// ProxyLabel is the label whose value, "send-proxy" or "send-proxy-v2",
	// sets the PROXY protocol (default "proxy_protocol",
	// rancher-haproxy's RANCHER_PROXY_LABEL).
	ProxyLabel string
	// AliasLabel is the label whose value lists more names for the stack,
	// separated by commas or spaces; alias A is served at A.StackDomain
	// (default "aliases", the metadata key rancher-haproxy read).
	AliasLabel string
	// Network is the network whose address is used for containers without
	// a gantry.network label (empty: the container's only network).
	Network string
}

// WithDefaults returns o with the default label names filled in.
func (o LabelOptions) WithDefaults() LabelOptions {
	if o.RancherLabel == "" {
		o.RancherLabel = DefaultRancherLabel
	}
	if o.ProxyLabel == "" {
		o.ProxyLabel = DefaultProxyLabel
	}
	if o.AliasLabel == "" {
		o.AliasLabel = DefaultAliasLabel
	}
	o.StackDomain = strings.TrimSuffix(strings.ToLower(o.StackDomain), ".")
	return o
}

// Validate reports options that can never work, naming the field.
func (o LabelOptions) Validate() error {
	o = o.WithDefaults()
	if o.StackDomain != "" {
		if err := config.ValidHostPattern(o.StackDomain); err != nil || strings.HasPrefix(o.StackDomain, "*") || strings.HasPrefix(o.StackDomain, "[") {
			return fmt.Errorf("stack domain %q: not a domain name", o.StackDomain)
		}
	}
	for _, l := range []struct{ field, v string }{{"rancher label", o.RancherLabel}, {"proxy label", o.ProxyLabel}, {"alias label", o.AliasLabel}} {
		if strings.ContainsAny(l.v, " \t\r\n=") {
			return fmt.Errorf("%s %q: a label name has no spaces or '='", l.field, l.v)
		}
	}
	if o.Network != "" {
		if err := validNetwork(o.Network); err != nil {
			return fmt.Errorf("network %q: %w", o.Network, err)
		}
	}
	return nil
}

// Mode says which labels made a container routable.
type Mode uint8

// Modes.
const (
	// ModeNone: the container asks for no routing (or its labels did not
	// parse).
	ModeNone Mode = iota
	// ModeNative: gantry.enable=true.
	ModeNative
	// ModeRancher: the rancher-haproxy compatible label.
	ModeRancher
)

// String returns "none", "native" or "rancher".
func (m Mode) String() string {
	switch m {
	case ModeNone:
		return "none"
	case ModeNative:
		return "native"
	case ModeRancher:
		return "rancher"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ProxyProtocol is the PROXY protocol version gantry sends to a container.
type ProxyProtocol uint8

// PROXY protocol versions.
const (
	ProxyNone ProxyProtocol = iota
	ProxyV1
	ProxyV2
)

// String returns "none", "v1" or "v2".
func (p ProxyProtocol) String() string {
	switch p {
	case ProxyNone:
		return "none"
	case ProxyV1:
		return "v1"
	case ProxyV2:
		return "v2"
	}
	return fmt.Sprintf("proxy(%d)", uint8(p))
}

// ParseProxyProtocol accepts "v1", "v2", "none" and rancher-haproxy's
// "send-proxy" (v1) and "send-proxy-v2" (v2), in any case.
func ParseProxyProtocol(s string) (ProxyProtocol, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "v1", "send-proxy":
		return ProxyV1, nil
	case "v2", "send-proxy-v2":
		return ProxyV2, nil
	case "none", "":
		return ProxyNone, nil
	}
	return ProxyNone, errors.New(`want v1, v2, none, send-proxy or send-proxy-v2`)
}

// Intent is what a container's labels ask for. Plain data.
type Intent struct {
	// Mode says which labels asked; ModeNone means nothing is routed.
	Mode Mode
	// Port is the container port of the rules made from gantry.http.* or
	// the Rancher label, and the port the container joins Backend with; 0
	// (only with Backend and no such rules) means the backend's
	// forward_port.
	Port uint16
	// Rules are the routes to the container, in label order: one per host
	// of gantry.http.hosts (or one for any host) with gantry.http.path, or
	// one per name of the Rancher mode, then those of gantry.http.rules.
	// Empty when the container only joins Backend.
	Rules []Rule
	// LB, Frontend and Backend are names of API-defined objects (empty:
	// the defaults).
	LB, Frontend, Backend string
	// Weight is 0..256 (default 1).
	Weight int
	// HealthCheckPath is the path (and query) of gantry's own HTTP check of
	// the container; empty means no check of gantry's own.
	HealthCheckPath string
	// ProxyProtocol is the PROXY protocol version to send.
	ProxyProtocol ProxyProtocol
	// Network is the network whose address is used (gantry.network, else
	// LabelOptions.Network; empty: the only one).
	Network string
	// Stack is the stack of the Rancher mode (the compose project or
	// io.rancher.stack.name); rancher-haproxy named the backend after it.
	Stack string
}

// LabelError reports one label whose value is wrong or that is missing. Its
// message is `label <name>: "<value>": <reason>`, or
// `label <name>: not set: <reason>` when Missing.
type LabelError struct {
	// Label is the label name.
	Label string
	// Value is the offending value: the whole label, or the item at fault
	// in a list label.
	Value string
	// Missing reports a label that is needed but not set.
	Missing bool
	// Err is the reason.
	Err error
}

// Error returns the message described on LabelError.
func (e *LabelError) Error() string {
	if e.Missing {
		return "label " + e.Label + ": not set: " + e.Err.Error()
	}
	return "label " + e.Label + ": " + strconv.Quote(e.Value) + ": " + e.Err.Error()
}

// Unwrap returns the reason.
func (e *LabelError) Unwrap() error { return e.Err }

// LabelErrors are all the label errors of one container, in label order.
type LabelErrors []*LabelError

// Error joins the messages with "; ".
func (es LabelErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the errors, for errors.Is and errors.As.
func (es LabelErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// labelParser collects errors while reading one container's labels.
type labelParser struct {
	labels map[string]string
	errs   LabelErrors
}

func (p *labelParser) fail(label, value string, err error) {
	p.errs = append(p.errs, &LabelError{Label: label, Value: value, Err: err})
}

// reason strips the quoted value a helper put before its reason, since
// LabelError quotes the value itself: `"8o": not a port number` → `not a
// port number`.
func reason(value string, err error) error {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, strconv.Quote(value)+": "); ok {
		return errors.New(rest)
	}
	return err
}

func (p *labelParser) port(label string) (uint16, bool) {
	v, ok := p.labels[label]
	if !ok {
		return 0, false
	}
	n, err := parsePort(strings.TrimSpace(v))
	if err != nil {
		p.fail(label, v, reason(strings.TrimSpace(v), err))
		return 0, false
	}
	return n, true
}

func (p *labelParser) name(label string) string {
	v, ok := p.labels[label]
	if !ok {
		return ""
	}
	v = strings.TrimSpace(v)
	if err := config.ValidName(v); err != nil {
		p.fail(label, v, err)
		return ""
	}
	return v
}

// ParseIntent reads the routing intent of a container from its labels.
// ports are the container's exposed ports, used when gantry.http.port is
// absent. The error, when not nil, is a LabelErrors listing every label at
// fault; the Intent is then the zero Intent (ModeNone). A container that
// asks for nothing gets ModeNone and no error.
//
// Native mode (gantry.enable=true) reads the gantry.* labels. The
// Rancher-compatible mode applies when gantry.enable is absent, opts has a
// StackDomain and the container has opts.RancherLabel: the container is
// served at <stack>.<StackDomain> and at <alias>.<StackDomain> for each
// alias, on the port the label gives; the gantry.* labels that are not
// gantry.http.* (lb, frontend, backend, weight, healthcheck.path,
// proxy_protocol, network) apply too, and opts.ProxyLabel wins over
// gantry.proxy_protocol.
func ParseIntent(labels map[string]string, ports []Port, opts LabelOptions) (Intent, error) {
	opts = opts.WithDefaults()
	p := &labelParser{labels: labels}
	var in Intent
	if v, ok := labels[LabelEnable]; ok {
		on, err := strconv.ParseBool(strings.TrimSpace(v))
		switch {
		case err != nil:
			p.fail(LabelEnable, v, errors.New(`want "true" or "false"`))
		case !on:
			return Intent{}, nil
		default:
			in = p.native(ports, opts)
		}
	} else if v, ok := labels[opts.RancherLabel]; ok {
		if opts.StackDomain == "" {
			p.fail(opts.RancherLabel, v, errors.New("the rancher-compatible mode is off: set --stack-domain (STACK_DOMAIN)"))
		} else {
			in = p.rancher(opts)
		}
	} else {
		return Intent{}, nil
	}
	if len(p.errs) > 0 {
		return Intent{}, p.errs
	}
	return in, nil
}

// knownNative reports whether k is a label native mode knows.
func knownNative(k string) bool {
	switch k {
	case LabelEnable, LabelHTTPPort, LabelHTTPHosts, LabelHTTPPath, LabelHTTPRules,
		LabelLB, LabelFrontend, LabelBackend, LabelWeight, LabelHealthCheckPath,
		LabelProxyProtocol, LabelNetwork:
		return true
	}
	return false
}

// knownNativeList is the message that lists the native labels.
const knownNativeList = LabelEnable + ", " + LabelHTTPPort + ", " + LabelHTTPHosts + ", " + LabelHTTPPath + ", " +
	LabelHTTPRules + ", " + LabelLB + ", " + LabelFrontend + ", " + LabelBackend + ", " + LabelWeight + ", " +
	LabelHealthCheckPath + ", " + LabelProxyProtocol + ", " + LabelNetwork

func (p *labelParser) native(ports []Port, opts LabelOptions) Intent {
	in := Intent{Mode: ModeNative}
	// Unknown gantry.* labels first, in name order, so that a typo is the
	// first error a user reads.
	var unknown []string
	for k := range p.labels {
		if strings.HasPrefix(k, NativePrefix) && !knownNative(k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		p.fail(k, p.labels[k], errors.New("unknown gantry label (known: "+knownNativeList+")"))
	}

	p.common(&in, opts)
	in.ProxyProtocol = p.proxy(LabelProxyProtocol)

	port, havePort := p.port(LabelHTTPPort)
	_, portSet := p.labels[LabelHTTPPort]
	hostsV, haveHosts := p.labels[LabelHTTPHosts]
	pathV, havePath := p.labels[LabelHTTPPath]
	rulesV, haveRules := p.labels[LabelHTTPRules]

	var hosts []string
	if haveHosts {
		for item := range strings.SplitSeq(hostsV, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			h, err := normalHost(item)
			if err != nil {
				p.fail(LabelHTTPHosts, item, errors.Unwrap(err))
				continue
			}
			if !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
	}
	var path string
	if havePath {
		path = strings.TrimSpace(pathV)
		if err := validPath(path, false); err != nil {
			p.fail(LabelHTTPPath, pathV, err)
		}
	}

	// Rules from gantry.http.* unless the container only uses
	// gantry.http.rules, or only joins a backend.
	wantRules := haveHosts || havePath || portSet || (!haveRules && in.Backend == "")
	if !portSet {
		port, havePort = singleTCP(ports)
		if !havePort && wantRules {
			p.errs = append(p.errs, &LabelError{Label: LabelHTTPPort, Missing: true, Err: portHint(ports)})
		}
	}
	in.Port = port
	if wantRules && havePort {
		if len(hosts) == 0 {
			in.Rules = append(in.Rules, Rule{Path: path, Port: port})
		}
		for _, h := range hosts {
			in.Rules = append(in.Rules, Rule{Host: h, Path: path, Port: port})
		}
	}
	if haveRules {
		rules, err := ParseRules(rulesV)
		if err != nil {
			var re *RuleError
			if errors.As(err, &re) {
				p.fail(LabelHTTPRules, strings.TrimSpace(re.Rule), re.Err)
			} else {
				p.fail(LabelHTTPRules, rulesV, err)
			}
		}
		in.Rules = append(in.Rules, rules...)
	}
	return in
}

// singleTCP returns the only TCP port of ports (0, false when there are
// none or several).
func singleTCP(ports []Port) (uint16, bool) {
	var found uint16
	for _, p := range ports {
		if p.Proto != "tcp" || p.Port == found {
			continue
		}
		if found != 0 {
			return 0, false
		}
		found = p.Port
	}
	return found, found != 0
}

func portHint(ports []Port) error {
	var tcp []string
	for _, p := range ports {
		if p.Proto == "tcp" {
			tcp = append(tcp, strconv.Itoa(int(p.Port)))
		}
	}
	if len(tcp) == 0 {
		return errors.New("the container exposes no TCP port; say which port to route to")
	}
	return fmt.Errorf("the container exposes several TCP ports (%s); say which one to route to", strings.Join(tcp, ", "))
}

// common reads the labels both modes share.
func (p *labelParser) common(in *Intent, opts LabelOptions) {
	in.LB = p.name(LabelLB)
	in.Frontend = p.name(LabelFrontend)
	in.Backend = p.name(LabelBackend)
	in.Weight = 1
	if v, ok := p.labels[LabelWeight]; ok {
		w, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case err != nil:
			p.fail(LabelWeight, v, errors.New("not a number"))
		case w < 0 || w > 256:
			p.fail(LabelWeight, v, errors.New("out of range 0..256"))
		default:
			in.Weight = w
		}
	}
	if v, ok := p.labels[LabelHealthCheckPath]; ok {
		path := strings.TrimSpace(v)
		if err := validPath(path, true); err != nil {
			p.fail(LabelHealthCheckPath, v, err)
		} else {
			in.HealthCheckPath = path
		}
	}
	in.Network = opts.Network
	if v, ok := p.labels[LabelNetwork]; ok {
		n := strings.TrimSpace(v)
		if err := validNetwork(n); err != nil {
			p.fail(LabelNetwork, v, err)
		} else {
			in.Network = n
		}
	}
}

func (p *labelParser) proxy(label string) ProxyProtocol {
	v, ok := p.labels[label]
	if !ok {
		return ProxyNone
	}
	pp, err := ParseProxyProtocol(v)
	if err != nil {
		p.fail(label, v, err)
	}
	return pp
}

func (p *labelParser) rancher(opts LabelOptions) Intent {
	in := Intent{Mode: ModeRancher}
	p.common(&in, opts)
	if _, ok := p.labels[opts.ProxyLabel]; ok {
		in.ProxyProtocol = p.proxy(opts.ProxyLabel)
	} else {
		in.ProxyProtocol = p.proxy(LabelProxyProtocol)
	}
	port, portOK := p.port(opts.RancherLabel)
	in.Port = port

	stackLabel := LabelComposeProject
	stack := strings.TrimSpace(p.labels[LabelComposeProject])
	if stack == "" {
		stackLabel = LabelRancherStack
		stack = strings.TrimSpace(p.labels[LabelRancherStack])
	}
	if stack == "" {
		p.errs = append(p.errs, &LabelError{Label: LabelComposeProject, Missing: true,
			Err: fmt.Errorf("%s needs a stack: a %s or %s label", opts.RancherLabel, LabelComposeProject, LabelRancherStack)})
		return in
	}
	in.Stack = stack
	names := []string{stack}
	nameLabel := []string{stackLabel}
	if v, ok := p.labels[opts.AliasLabel]; ok {
		for _, a := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
			names = append(names, a)
			nameLabel = append(nameLabel, opts.AliasLabel)
		}
	}
	for i, n := range names {
		h, err := normalHost(n + "." + opts.StackDomain)
		if err != nil || strings.Contains(n, "*") || strings.HasPrefix(n, "[") {
			p.fail(nameLabel[i], n, fmt.Errorf("%q is not a valid host name", n+"."+opts.StackDomain))
			continue
		}
		if portOK && !slices.ContainsFunc(in.Rules, func(r Rule) bool { return r.Host == h }) {
			in.Rules = append(in.Rules, Rule{Host: h, Port: port})
		}
	}
	return in
}

// validNetwork accepts a Docker network name: letters, digits, '_', '.'
// and '-', starting with a letter or digit, up to 255 characters (a network
// ID is also a valid name).
func validNetwork(n string) error {
	if n == "" {
		return errors.New("empty network name")
	}
	if len(n) > 255 {
		return errors.New("longer than 255 characters")
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '_' || c == '.' || c == '-') && i > 0:
		default:
			return fmt.Errorf("character %q at %d: use letters, digits, '_', '.' and '-', starting with a letter or digit", c, i)
		}
	}
	return nil
}
