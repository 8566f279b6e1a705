package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/app"
)

// defaultServer is where `gantry serve` listens by default.
const defaultServer = "http://127.0.0.1:9980"

// callTimeout bounds one CLI command's API calls; --wait can take up to
// the server's 30 s.
const callTimeout = 60 * time.Second

// usageError is a wrong command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// ctlFlags are the flags of every command that talks to a server.
type ctlFlags struct {
	server, token, data, output string
}

func (g *ctlFlags) register(fs *flag.FlagSet, defaultOutput string) {
	fs.StringVar(&g.server, "server", "", "admin API URL (default $GANTRY_SERVER, else "+defaultServer+")")
	fs.StringVar(&g.token, "token", "", "API token (default $GANTRY_TOKEN, else the file <data>/admin.token)")
	fs.StringVar(&g.data, "data", defaultData, "data directory of a local gantry serve, to find admin.token in")
	fs.StringVar(&g.output, "o", defaultOutput, "output format: table, json or yaml")
	fs.StringVar(&g.output, "output", defaultOutput, "same as -o")
}

// check validates the flags that need no server.
func (g *ctlFlags) check() error {
	switch g.output {
	case "table", "json", "yaml":
		return nil
	}
	return usagef("-o %q: want table, json or yaml", g.output)
}

// serverURL is --server, else $GANTRY_SERVER, else the default; a bare
// host:port means http.
func (g *ctlFlags) serverURL() string {
	s := g.server
	if s == "" {
		s = os.Getenv("GANTRY_SERVER")
	}
	if s == "" {
		s = defaultServer
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	return s
}

// defaultData is serve's default data directory.
const defaultData = "./gantry-data"

// isLoopback reports whether a server URL names this machine.
func isLoopback(server string) bool {
	u, err := url.Parse(server)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// findToken is --token, else $GANTRY_TOKEN, else <data>/admin.token.
func (g *ctlFlags) findToken() (string, error) {
	if g.token != "" {
		return g.token, nil
	}
	if t := os.Getenv("GANTRY_TOKEN"); t != "" {
		return t, nil
	}
	// The local admin token goes only to a local server, unless --data
	// says where to find the token of that server.
	if g.data == defaultData && !isLoopback(g.serverURL()) {
		return "", usagef("no API token for %s: pass --token or set GANTRY_TOKEN", g.serverURL())
	}
	path := filepath.Join(g.data, app.TokenFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usagef("no API token: pass --token, set GANTRY_TOKEN, or run where %s is readable (--data DIR): %v", path, err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", usagef("no API token: %s is empty", path)
	}
	return t, nil
}

func (g *ctlFlags) client() (*client.Client, error) {
	tok, err := g.findToken()
	if err != nil {
		return nil, err
	}
	c, err := client.New(g.serverURL(), tok, client.WithUserAgent("gantry-cli/"+version))
	if err != nil {
		return nil, usagef("--server: %v", err)
	}
	return c, nil
}

// writeFlags are the flags of every write.
type writeFlags struct {
	dryRun, wait bool
	releaseIP    bool // lb delete only
	txn          string
	ifMatch      uint64
	hasIfMatch   bool
}

func (w *writeFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&w.dryRun, "dry-run", false, "validate and print the diff; store nothing")
	fs.BoolVar(&w.wait, "wait", false, "return once the data plane serves the change")
	fs.StringVar(&w.txn, "txn", "", "stage the write in this transaction (see gantry txn)")
	w.registerIfMatch(fs)
}

func (w *writeFlags) options() []client.CallOption {
	var o []client.CallOption
	if w.dryRun {
		o = append(o, client.DryRun())
	}
	if w.wait {
		o = append(o, client.WaitApplied())
	}
	if w.txn != "" {
		o = append(o, client.InTxn(w.txn))
	}
	if w.hasIfMatch {
		o = append(o, client.IfMatch(w.ifMatch))
	}
	if w.releaseIP {
		o = append(o, client.ReleaseIP())
	}
	return o
}

// registerIfMatch adds --if-match; a given 0 is kept (an empty store's
// revision), unlike an absent flag.
func (w *writeFlags) registerIfMatch(fs *flag.FlagSet) {
	fs.Func("if-match", "fail unless the config is still at this revision", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a revision", v)
		}
		w.ifMatch, w.hasIfMatch = n, true
		return nil
	})
}

// parseArgs parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for range len(args) + 1 { // each round consumes at least one argument
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return pos, nil
}

// finish turns a command's error into output on stderr and an exit code:
// 0 success, 1 the server or the network failed, 2 a usage error.
func finish(err error, stderr io.Writer, g *ctlFlags) int {
	if err == nil {
		return 0
	}
	var ue *usageError
	var ae *client.Error
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "gantry:", ue.msg)
		return 2
	case errors.As(err, &ae):
		printProblem(stderr, ae)
		return 1
	}
	fmt.Fprintln(stderr, "gantry:", err)
	var ne net.Error
	var oe *net.OpError
	if g != nil && (errors.As(err, &oe) || errors.As(err, &ne)) {
		fmt.Fprintf(stderr, "Is gantry serve running at %s? (--server, $GANTRY_SERVER)\n", g.serverURL())
	}
	return 1
}

// printProblem prints an API error, and each wrong field on its own line.
func printProblem(w io.Writer, e *client.Error) {
	p := e.Problem
	if len(p.Errors) == 0 {
		fmt.Fprintf(w, "gantry: %s (%d): %s\n", p.Title, e.Status, p.Detail)
		return
	}
	fmt.Fprintf(w, "gantry: %s (%d):\n", p.Title, e.Status)
	for _, f := range p.Errors {
		fmt.Fprintf(w, "  %s: %s\n", f.Field, f.Detail)
	}
}

// readDoc reads a JSON or YAML file ("-" is stdin) and returns its JSON.
func readDoc(file string, stdin io.Reader) ([]byte, error) {
	var raw []byte
	var err error
	if file == "-" {
		raw, err = io.ReadAll(stdin) // never cut short: the server answers 413 past its limit
	} else {
		raw, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fileLabel(file), err)
	}
	return js, nil
}

func fileLabel(file string) string {
	if file == "-" {
		return "stdin"
	}
	return file
}

// decodeBody decodes a put body into in, rejecting unknown fields as the
// server would.
func decodeBody(js []byte, file string, in any) error {
	file = fileLabel(file)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(js, &m); err != nil {
		return fmt.Errorf("%s: want an object: %v", file, err)
	}
	if m == nil {
		return fmt.Errorf("%s: is empty or not an object", file)
	}
	// Fields the API shows but does not take are dropped, so the output of
	// `get -o yaml`, edited, can be put back ("lb" is the LB binding an IP).
	for _, k := range []string{"created_at", "updated_at", "status", "frontend_count", "backend_count", "lb"} {
		delete(m, k)
	}
	js, _ = json.Marshal(m)
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(in); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

func withTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

// call runs fn with a client of the server (see client) and a context
// bounded by callTimeout.
func (g *ctlFlags) call(fn func(ctx context.Context, c *client.Client) error) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout()
	defer cancel()
	return fn(ctx, c)
}

// resolveLB is --lb, else the only load balancer.
func resolveLB(ctx context.Context, c *client.Client, lb string) (string, error) {
	if lb != "" {
		return lb, nil
	}
	l, _, err := c.ListLBs(ctx, client.PageSize(5), client.OrderBy("name_asc"))
	if err != nil {
		return "", err
	}
	switch l.TotalCount {
	case 0:
		return "", usagef("there is no load balancer yet: create one with gantry lb put NAME")
	case 1:
		return l.LBs[0].Name, nil
	}
	names := make([]string, len(l.LBs))
	for i, x := range l.LBs {
		names[i] = x.Name
	}
	if l.TotalCount > len(names) {
		names = append(names, "...")
	}
	return "", usagef("there are %d load balancers (%s): pass --lb NAME", l.TotalCount, strings.Join(names, ", "))
}

// listAll reads every page of a list (at most maxPages of 100).
func listAll[T any](ctx context.Context, page func(ctx context.Context, opts ...client.CallOption) ([]T, int, error), opts []client.CallOption) ([]T, error) {
	const maxPages = 1000
	var all []T
	for p := 1; p <= maxPages; p++ {
		items, total, err := page(ctx, append(opts[:len(opts):len(opts)], client.Page(p), client.PageSize(100))...)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if len(items) == 0 || len(all) >= total {
			break
		}
	}
	if all == nil {
		all = []T{}
	}
	return all, nil
}

// scope is where a resource lives: its load balancer and, for a route,
// its frontend (empty when not needed).
type scope struct{ lb, frontend string }

// resource is what the lb, ip, frontend, backend and route commands share: T
// is the object as shown, In the body of a put.
type resource[T, In any] struct {
	kind       string // "lb", "frontend", "backend", "route"
	inLB       bool   // addressed within a load balancer (--lb)
	inFrontend bool   // addressed within a frontend of it (--frontend)
	list       func(ctx context.Context, c *client.Client, sc scope, opts ...client.CallOption) ([]T, int, error)
	get        func(ctx context.Context, c *client.Client, sc scope, name string, opts ...client.CallOption) (*T, error)
	put        func(ctx context.Context, c *client.Client, sc scope, name string, in In, opts ...client.CallOption) (*T, *client.Result, error)
	del        func(ctx context.Context, c *client.Client, sc scope, name string, opts ...client.CallOption) (*client.Result, error)
	name       func(in *In) *string
	needF      bool // put needs -f, or one of putFlags (an empty body makes no sense)
	releasable bool // delete takes --release-ip (lb)
	// putFlags, when set, registers flags of put that fill in the body
	// (over what -f gives); the function it returns applies them and
	// reports whether any was given.
	putFlags func(fs *flag.FlagSet) func(in *In) (bool, error)
	header   []string
	row      func(T) []string
}

func runResource[T, In any](r resource[T, In], args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stderr, "usage: gantry %s list|get|put|delete [NAME] [flags]\n", r.kind)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	verb := args[0]
	fs := flag.NewFlagSet(r.kind+" "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var g ctlFlags
	g.register(fs, "table")
	var lbFlag, feFlag, file string
	var rev uint64
	var w writeFlags
	var apply func(in *In) (bool, error)
	if r.inLB {
		fs.StringVar(&lbFlag, "lb", "", "load balancer (default: the only one)")
	}
	if r.inFrontend {
		fs.StringVar(&feFlag, "frontend", "", "frontend of the load balancer (default: the only one)")
	}
	switch verb {
	case "list":
		fs.Uint64Var(&rev, "revision", 0, "read the config as it was at this revision")
	case "get":
		fs.Uint64Var(&rev, "revision", 0, "read the config as it was at this revision")
	case "put":
		fs.StringVar(&file, "f", "", "body, JSON or YAML (- for stdin); the name may come from its name field")
		w.register(fs)
		if r.putFlags != nil {
			apply = r.putFlags(fs)
		}
	case "delete":
		w.register(fs)
		if r.releasable {
			fs.BoolVar(&w.releaseIP, "release-ip", false, "also delete the IPs no other load balancer binds (default: keep them)")
		}
	default:
		fmt.Fprintf(stderr, "gantry %s: unknown verb %q (want list, get, put or delete)\n", r.kind, verb)
		return 2
	}
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	return finish(r.run(verb, pos, &g, scope{lbFlag, feFlag}, file, apply, rev, &w, stdin, stdout), stderr, &g)
}

func (r resource[T, In]) run(verb string, pos []string, g *ctlFlags, flags scope, file string, apply func(in *In) (bool, error), rev uint64, w *writeFlags, stdin io.Reader, stdout io.Writer) error {
	if err := g.check(); err != nil {
		return err
	}
	var name string
	var in In
	switch {
	case verb == "list" && len(pos) > 0:
		return usagef("%s list takes no argument, got %q", r.kind, pos[0])
	case verb == "put":
		if len(pos) > 1 {
			return usagef("%s put takes one NAME, got %q", r.kind, pos)
		}
		if len(pos) == 1 {
			name = pos[0]
		}
		if file != "" {
			js, err := readDoc(file, stdin)
			if err != nil {
				return usagef("%s put: %v", r.kind, err)
			}
			if err := decodeBody(js, file, &in); err != nil {
				return usagef("%s put: %v", r.kind, err)
			}
			if n := r.name(&in); name == "" {
				name = *n
			} else if *n == "" {
				*n = name
			}
		}
		given := false
		if apply != nil {
			var err error
			if given, err = apply(&in); err != nil {
				return usagef("%s put: %v", r.kind, err)
			}
		}
		switch {
		case file == "" && r.needF && apply != nil && !given:
			return usagef("%s put: give -f FILE or flags (see gantry %s put -h)", r.kind, r.kind)
		case file == "" && r.needF && apply == nil:
			return usagef("%s put: -f FILE is required", r.kind)
		case file == "" && given:
			*r.name(&in) = name // a body made of flags names its object too
		}
		if name == "" {
			return usagef("%s put: give a NAME, or a name field in the file", r.kind)
		}
	case verb != "list":
		if len(pos) != 1 {
			return usagef("%s %s takes one NAME", r.kind, verb)
		}
		name = pos[0]
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout()
	defer cancel()
	var sc scope
	if r.inLB && flags.lb == "" && (w.txn != "" || rev != 0) {
		return usagef("%s %s: pass --lb with --txn or --revision (the only load balancer now may not be the one there)", r.kind, verb)
	}
	if r.inLB {
		if sc.lb, err = resolveLB(ctx, c, flags.lb); err != nil {
			return err
		}
	}
	if r.inFrontend {
		if sc.frontend, err = resolveFrontend(ctx, c, sc.lb, flags.frontend); err != nil {
			return err
		}
	}
	out := printer{w: stdout, format: g.output}
	var readOpts []client.CallOption
	if rev != 0 {
		readOpts = append(readOpts, client.AtRevision(rev))
	}
	switch verb {
	case "list":
		items, err := listAll(ctx, func(ctx context.Context, opts ...client.CallOption) ([]T, int, error) {
			return r.list(ctx, c, sc, opts...)
		}, readOpts)
		if err != nil {
			return err
		}
		rows := make([][]string, len(items))
		for i, it := range items {
			rows[i] = r.row(it)
		}
		return out.print(items, r.header, rows)
	case "get":
		obj, err := r.get(ctx, c, sc, name, readOpts...)
		if err != nil {
			return err
		}
		return out.print(obj, r.header, [][]string{r.row(*obj)})
	case "put":
		obj, res, err := r.put(ctx, c, sc, name, in, w.options()...)
		if err != nil {
			return err
		}
		if obj == nil {
			return out.result(res, w.txn)
		}
		if out.format != "table" {
			return out.print(obj, nil, nil)
		}
		fmt.Fprintf(stdout, "%s %q saved (revision %d)\n", r.kind, name, res.Revision)
		return nil
	default: // delete
		res, err := r.del(ctx, c, sc, name, w.options()...)
		if err != nil {
			return err
		}
		if res.DryRun || res.Staged || out.format != "table" {
			return out.result(res, w.txn)
		}
		fmt.Fprintf(stdout, "%s %q deleted (revision %d)\n", r.kind, name, res.Revision)
		return nil
	}
}

// lbResource is the lb command's view of the API.
func lbResource() resource[client.LB, client.LBInput] {
	return resource[client.LB, client.LBInput]{
		kind: "lb",
		list: func(ctx context.Context, c *client.Client, _ scope, opts ...client.CallOption) ([]client.LB, int, error) {
			l, _, err := c.ListLBs(ctx, opts...)
			if err != nil {
				return nil, 0, err
			}
			return l.LBs, l.TotalCount, nil
		},
		get: func(ctx context.Context, c *client.Client, _ scope, name string, opts ...client.CallOption) (*client.LB, error) {
			lb, _, err := c.GetLB(ctx, name, opts...)
			return lb, err
		},
		put: func(ctx context.Context, c *client.Client, _ scope, name string, in client.LBInput, opts ...client.CallOption) (*client.LB, *client.Result, error) {
			return c.PutLB(ctx, name, in, opts...)
		},
		del: func(ctx context.Context, c *client.Client, _ scope, name string, opts ...client.CallOption) (*client.Result, error) {
			return c.DeleteLB(ctx, name, opts...)
		},
		name:       func(in *client.LBInput) *string { return &in.Name },
		releasable: true,
		header:     []string{"NAME", "IPS", "FRONTENDS", "BACKENDS", "STATUS", "DESCRIPTION"},
		row:        lbRow,
	}
}

// ipResource is the ip command's view of the API: objects named by their
// address.
func ipResource() resource[client.IP, client.IPInput] {
	return resource[client.IP, client.IPInput]{
		kind: "ip",
		list: func(ctx context.Context, c *client.Client, _ scope, opts ...client.CallOption) ([]client.IP, int, error) {
			l, _, err := c.ListIPs(ctx, opts...)
			if err != nil {
				return nil, 0, err
			}
			return l.IPs, l.TotalCount, nil
		},
		get: func(ctx context.Context, c *client.Client, _ scope, addr string, opts ...client.CallOption) (*client.IP, error) {
			ip, _, err := c.GetIP(ctx, addr, opts...)
			return ip, err
		},
		put: func(ctx context.Context, c *client.Client, _ scope, addr string, in client.IPInput, opts ...client.CallOption) (*client.IP, *client.Result, error) {
			return c.PutIP(ctx, addr, in, opts...)
		},
		del: func(ctx context.Context, c *client.Client, _ scope, addr string, opts ...client.CallOption) (*client.Result, error) {
			return c.DeleteIP(ctx, addr, opts...)
		},
		name:   func(in *client.IPInput) *string { return &in.Address },
		header: []string{"ADDRESS", "REVERSE", "LB", "TAGS"},
		row:    ipRow,
	}
}

// withinLB returns r (kind, name, header, row and the like) with the
// calls of an object addressed within a load balancer (frontend,
// backend), made of the client's methods for it; items takes the objects
// and the total count out of one page of its list. The revisions the
// client returns are not shown.
func withinLB[T, In, L any](r resource[T, In],
	list func(*client.Client, context.Context, string, ...client.CallOption) (*L, uint64, error),
	items func(*L) ([]T, int),
	get func(*client.Client, context.Context, string, string, ...client.CallOption) (*T, uint64, error),
	put func(*client.Client, context.Context, string, string, In, ...client.CallOption) (*T, *client.Result, error),
	del func(*client.Client, context.Context, string, string, ...client.CallOption) (*client.Result, error),
) resource[T, In] {
	r.inLB = true
	r.list = func(ctx context.Context, c *client.Client, sc scope, opts ...client.CallOption) ([]T, int, error) {
		l, _, err := list(c, ctx, sc.lb, opts...)
		if err != nil {
			return nil, 0, err
		}
		objs, total := items(l)
		return objs, total, nil
	}
	r.get = func(ctx context.Context, c *client.Client, sc scope, name string, opts ...client.CallOption) (*T, error) {
		obj, _, err := get(c, ctx, sc.lb, name, opts...)
		return obj, err
	}
	r.put = func(ctx context.Context, c *client.Client, sc scope, name string, in In, opts ...client.CallOption) (*T, *client.Result, error) {
		return put(c, ctx, sc.lb, name, in, opts...)
	}
	r.del = func(ctx context.Context, c *client.Client, sc scope, name string, opts ...client.CallOption) (*client.Result, error) {
		return del(c, ctx, sc.lb, name, opts...)
	}
	return r
}

// frontendResource is the frontend command's view of the API.
func frontendResource() resource[client.Frontend, client.FrontendInput] {
	return withinLB(resource[client.Frontend, client.FrontendInput]{
		kind: "frontend", needF: true,
		name:   func(in *client.FrontendInput) *string { return &in.Name },
		header: []string{"NAME", "PORT", "PROTOCOL", "BACKEND", "ROUTES"},
		row:    frontendRow,
	},
		(*client.Client).ListFrontends,
		func(l *client.FrontendList) ([]client.Frontend, int) { return l.Frontends, l.TotalCount },
		(*client.Client).GetFrontend, (*client.Client).PutFrontend, (*client.Client).DeleteFrontend)
}

// backendResource is the backend command's view of the API.
func backendResource() resource[client.Backend, client.BackendInput] {
	return withinLB(resource[client.Backend, client.BackendInput]{
		kind: "backend", needF: true,
		name:   func(in *client.BackendInput) *string { return &in.Name },
		header: []string{"NAME", "PROTOCOL", "PORT", "ALGORITHM", "SERVERS", "CHECK"},
		row:    backendRow,
	},
		(*client.Client).ListBackends,
		func(l *client.BackendList) ([]client.Backend, int) { return l.Backends, l.TotalCount },
		(*client.Client).GetBackend, (*client.Client).PutBackend, (*client.Client).DeleteBackend)
}

// routeResource is the route command's view of the API: the named routes
// of a frontend, in order.
func routeResource() resource[client.IndexedRoute, client.RouteInput] {
	return resource[client.IndexedRoute, client.RouteInput]{
		kind: "route", inLB: true, inFrontend: true, needF: true,
		list: func(ctx context.Context, c *client.Client, sc scope, opts ...client.CallOption) ([]client.IndexedRoute, int, error) {
			l, _, err := c.ListRoutes(ctx, sc.lb, sc.frontend, opts...)
			if err != nil {
				return nil, 0, err
			}
			// The list is never paged: report it whole, so listAll stops.
			return l.Routes, len(l.Routes), nil
		},
		get: func(ctx context.Context, c *client.Client, sc scope, name string, opts ...client.CallOption) (*client.IndexedRoute, error) {
			r, _, err := c.GetRoute(ctx, sc.lb, sc.frontend, name, opts...)
			return r, err
		},
		put: func(ctx context.Context, c *client.Client, sc scope, name string, in client.RouteInput, opts ...client.CallOption) (*client.IndexedRoute, *client.Result, error) {
			return c.PutRoute(ctx, sc.lb, sc.frontend, name, in, opts...)
		},
		del: func(ctx context.Context, c *client.Client, sc scope, name string, opts ...client.CallOption) (*client.Result, error) {
			return c.DeleteRoute(ctx, sc.lb, sc.frontend, name, opts...)
		},
		name:     func(in *client.RouteInput) *string { return &in.Name },
		putFlags: routeFlags, // --rule, --backend, --host, --path, --priority
		header:   []string{"NAME", "INDEX", "MATCH", "BACKEND", "PRIORITY"},
		row:      routeRow,
	}
}

// aclResource is the acl command's view of the API: the ACLs of a
// frontend, in the order they apply. put takes the ACL from -f, from
// flags, or from both (flags win).
func aclResource() resource[client.ACL, client.ACL] {
	return resource[client.ACL, client.ACL]{
		kind: "acl", inLB: true, inFrontend: true, needF: true,
		list: func(ctx context.Context, c *client.Client, sc scope, opts ...client.CallOption) ([]client.ACL, int, error) {
			l, _, err := c.ListACLs(ctx, sc.lb, sc.frontend, opts...)
			if err != nil {
				return nil, 0, err
			}
			return l.ACLs, l.TotalCount, nil
		},
		get: func(ctx context.Context, c *client.Client, sc scope, name string, opts ...client.CallOption) (*client.ACL, error) {
			a, _, err := c.GetACL(ctx, sc.lb, sc.frontend, name, opts...)
			return a, err
		},
		put: func(ctx context.Context, c *client.Client, sc scope, name string, in client.ACL, opts ...client.CallOption) (*client.ACL, *client.Result, error) {
			return c.PutACL(ctx, sc.lb, sc.frontend, name, in, opts...)
		},
		del: func(ctx context.Context, c *client.Client, sc scope, name string, opts ...client.CallOption) (*client.Result, error) {
			return c.DeleteACL(ctx, sc.lb, sc.frontend, name, opts...)
		},
		name:     func(in *client.ACL) *string { return &in.Name },
		putFlags: aclFlags,
		header:   []string{"NAME", "INDEX", "MATCH", "ACTION"},
		row:      aclRow,
	}
}

// listFlag is a flag that may be given several times; split, when set,
// also splits each value at commas.
type listFlag struct {
	vals  []string
	split bool
}

func (l *listFlag) String() string { return strings.Join(l.vals, ",") }

func (l *listFlag) Set(v string) error {
	if l.split {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				l.vals = append(l.vals, p)
			}
		}
		return nil
	}
	l.vals = append(l.vals, v)
	return nil
}

// aclFlags registers the flags of acl put, each a field of the ACL body.
func aclFlags(fs *flag.FlagSet) func(in *client.ACL) (bool, error) {
	index := fs.Int("index", 0, "the order the ACL applies in (ascending)")
	subnets := &listFlag{split: true}
	fs.Var(subnets, "ip-subnet", "client CIDR to match (repeat, or comma-separated)")
	filter := fs.String("http-filter", "", "path_begin, path_end, regex or http_header_match")
	values := &listFlag{}
	fs.Var(values, "http-filter-value", "value the filter compares (repeat for several)")
	option := fs.String("http-filter-option", "", "the header name of http_header_match")
	invert := fs.Bool("invert", false, "match what the conditions do not")
	action := fs.String("action", "", "allow, deny or redirect")
	rtype := fs.String("redirect-type", "", "location (target is a URL) or scheme (target is http or https)")
	target := fs.String("redirect-target", "", "where a redirect goes")
	code := fs.Int("redirect-code", 0, "301, 302 (default), 303, 307 or 308")
	return func(in *client.ACL) (bool, error) {
		given, redirectFlags := false, false
		fs.Visit(func(f *flag.Flag) {
			redirect := func() *client.ACLRedirect {
				redirectFlags = true
				if in.Action.Redirect == nil {
					in.Action.Redirect = &client.ACLRedirect{}
				}
				return in.Action.Redirect
			}
			switch f.Name {
			case "index":
				in.Index = *index
			case "ip-subnet":
				in.Match.IPSubnet = subnets.vals
			case "http-filter":
				in.Match.HTTPFilter = *filter
			case "http-filter-value":
				in.Match.HTTPFilterValue = values.vals
			case "http-filter-option":
				in.Match.HTTPFilterOption = *option
			case "invert":
				in.Match.Invert = *invert
			case "action":
				in.Action.Type = *action
			case "redirect-type":
				redirect().Type = *rtype
			case "redirect-target":
				redirect().Target = *target
			case "redirect-code":
				redirect().Code = *code
			default:
				return // not a field of the ACL
			}
			given = true
		})
		switch {
		case redirectFlags && in.Action.Type == "":
			in.Action.Type = client.ActionRedirect
		case redirectFlags && in.Action.Type != client.ActionRedirect:
			return given, fmt.Errorf("--redirect-type, --redirect-target and --redirect-code need action redirect, not %q", in.Action.Type)
		}
		return given, nil
	}
}

// resolveFrontend is --frontend, else the only frontend of lb.
func resolveFrontend(ctx context.Context, c *client.Client, lb, fe string) (string, error) {
	if fe != "" {
		return fe, nil
	}
	l, _, err := c.ListFrontends(ctx, lb, client.PageSize(5), client.OrderBy("name_asc"))
	if err != nil {
		return "", err
	}
	switch l.TotalCount {
	case 0:
		return "", usagef("load balancer %q has no frontend yet: create one with gantry frontend put NAME -f FILE", lb)
	case 1:
		return l.Frontends[0].Name, nil
	}
	names := make([]string, len(l.Frontends))
	for i, f := range l.Frontends {
		names[i] = f.Name
	}
	if l.TotalCount > len(names) {
		names = append(names, "...")
	}
	return "", usagef("load balancer %q has %d frontends (%s): pass --frontend NAME", lb, l.TotalCount, strings.Join(names, ", "))
}

// simpleCmd parses the flags of a command without resources.
func simpleCmd(name string, args []string, stderr io.Writer, defaultOutput string, extra func(fs *flag.FlagSet)) (*ctlFlags, []string, int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	g := &ctlFlags{}
	g.register(fs, defaultOutput)
	if extra != nil {
		extra(fs)
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, 0
		}
		return nil, nil, 2
	}
	return g, pos, -1
}

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	g, pos, code := simpleCmd("status", args, stderr, "table", nil)
	if code >= 0 {
		return code
	}
	return finish(func() error {
		if err := noArgs("status", pos, g); err != nil {
			return err
		}
		return g.call(func(ctx context.Context, c *client.Client) error {
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			return printer{stdout, g.output}.print(st, nil, statusRows(st))
		})
	}(), stderr, g)
}

func noArgs(cmd string, pos []string, g *ctlFlags) error {
	if len(pos) > 0 {
		return usagef("%s takes no argument, got %q", cmd, pos[0])
	}
	return g.check()
}

func cmdHistory(args []string, stdout, stderr io.Writer) int {
	var limit int
	var before uint64
	g, pos, code := simpleCmd("history", args, stderr, "table", func(fs *flag.FlagSet) {
		fs.IntVar(&limit, "limit", 20, "how many revisions (1-1000)")
		fs.Uint64Var(&before, "before", 0, "only revisions older than this one")
	})
	if code >= 0 {
		return code
	}
	return finish(func() error {
		if err := noArgs("history", pos, g); err != nil {
			return err
		}
		return g.call(func(ctx context.Context, c *client.Client) error {
			h, err := c.History(ctx, limit, before)
			if err != nil {
				return err
			}
			return printer{stdout, g.output}.print(h, []string{"REVISION", "TIME", "AUTHOR", "MESSAGE", "CHANGES"}, historyRows(h))
		})
	}(), stderr, g)
}

func cmdRollback(args []string, stdout, stderr io.Writer) int {
	var w writeFlags
	g, pos, code := simpleCmd("rollback", args, stderr, "table", func(fs *flag.FlagSet) {
		fs.BoolVar(&w.dryRun, "dry-run", false, "print the diff; store nothing")
		fs.BoolVar(&w.wait, "wait", false, "return once the data plane serves the change")
		w.registerIfMatch(fs)
	})
	if code >= 0 {
		return code
	}
	return finish(func() error {
		if len(pos) != 1 {
			return usagef("rollback takes one REVISION")
		}
		rev, err := strconv.ParseUint(pos[0], 10, 64)
		if err != nil || rev == 0 {
			return usagef("rollback: %q is not a revision number", pos[0])
		}
		if err := g.check(); err != nil {
			return err
		}
		return g.call(func(ctx context.Context, c *client.Client) error {
			res, err := c.Rollback(ctx, rev, w.options()...)
			if err != nil {
				return err
			}
			if res.DryRun || g.output != "table" {
				return printer{stdout, g.output}.result(res, "")
			}
			fmt.Fprintf(stdout, "config rolled back to revision %d (now revision %d)\n", rev, res.Revision)
			return nil
		})
	}(), stderr, g)
}

func cmdApply(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var w writeFlags
	var file string
	g, pos, code := simpleCmd("apply", args, stderr, "table", func(fs *flag.FlagSet) {
		fs.StringVar(&file, "f", "", "the whole config, YAML or JSON (- for stdin)")
		fs.BoolVar(&w.dryRun, "dry-run", false, "print the diff; store nothing")
		fs.BoolVar(&w.wait, "wait", false, "return once the data plane serves the change")
		w.registerIfMatch(fs)
	})
	if code >= 0 {
		return code
	}
	return finish(func() error {
		if err := noArgs("apply", pos, g); err != nil {
			return err
		}
		if file == "" {
			return usagef("apply: -f FILE is required")
		}
		var doc []byte
		var err error
		if file == "-" {
			doc, err = io.ReadAll(stdin) // never cut short: the server answers 413 past its limit
		} else {
			doc, err = os.ReadFile(file)
		}
		if err != nil {
			return usagef("apply: %v", err)
		}
		return g.call(func(ctx context.Context, c *client.Client) error {
			res, err := c.PutConfig(ctx, doc, w.options()...)
			if err != nil {
				return err
			}
			if res.DryRun || g.output != "table" {
				return printer{stdout, g.output}.result(res, "")
			}
			fmt.Fprintf(stdout, "config applied (revision %d)\n", res.Revision)
			return nil
		})
	}(), stderr, g)
}

func cmdExport(args []string, stdout, stderr io.Writer) int {
	var rev uint64
	g, pos, code := simpleCmd("export", args, stderr, "yaml", func(fs *flag.FlagSet) {
		fs.Uint64Var(&rev, "revision", 0, "export the config as it was at this revision")
	})
	if code >= 0 {
		return code
	}
	return finish(func() error {
		if err := noArgs("export", pos, g); err != nil {
			return err
		}
		if g.output == "table" {
			return usagef("export: -o table makes no sense for a whole config; use yaml or json")
		}
		return g.call(func(ctx context.Context, c *client.Client) error {
			var opts []client.CallOption
			if rev != 0 {
				opts = append(opts, client.AtRevision(rev))
			}
			format := client.YAML
			if g.output == "json" {
				format = client.JSON
			}
			doc, _, err := c.GetConfig(ctx, format, opts...)
			if err != nil {
				return err
			}
			_, err = stdout.Write(doc)
			return err
		})
	}(), stderr, g)
}

func cmdTxn(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, "usage: gantry txn begin [--version N] | get ID | commit ID [--dry-run] [--wait] [-m MSG] | abort ID")
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	verb := args[0]
	var version uint64
	var msg string
	var w writeFlags
	var extra func(fs *flag.FlagSet)
	switch verb {
	case "begin":
		extra = func(fs *flag.FlagSet) {
			fs.Uint64Var(&version, "version", 0, "the revision to base it on; fails if it is not the newest (default: the newest)")
		}
	case "commit":
		extra = func(fs *flag.FlagSet) {
			fs.BoolVar(&w.dryRun, "dry-run", false, "validate and print the diff; keep the transaction open")
			fs.BoolVar(&w.wait, "wait", false, "return once the data plane serves the change")
			fs.StringVar(&msg, "m", "", "history message")
		}
	case "get", "abort":
	default:
		fmt.Fprintf(stderr, "gantry txn: unknown verb %q (want begin, get, commit or abort)\n", verb)
		return 2
	}
	g, pos, code := simpleCmd("txn "+verb, args[1:], stderr, "table", extra)
	if code >= 0 {
		return code
	}
	return finish(func() error {
		if err := g.check(); err != nil {
			return err
		}
		switch {
		case verb == "begin" && len(pos) != 0:
			return usagef("txn begin takes no argument")
		case verb != "begin" && len(pos) != 1:
			return usagef("txn %s takes one transaction ID", verb)
		}
		return g.call(func(ctx context.Context, c *client.Client) error {
			out := printer{stdout, g.output}
			switch verb {
			case "begin", "get":
				var tx *client.Transaction
				var err error
				if verb == "begin" {
					tx, err = c.BeginTxn(ctx, version)
				} else {
					tx, err = c.GetTxn(ctx, pos[0])
				}
				if err != nil {
					return err
				}
				return out.print(tx, []string{"ID", "VERSION", "CHANGES", "EXPIRES"}, [][]string{txnRow(tx)})
			case "commit":
				opts := w.options()
				if msg != "" {
					opts = append(opts, client.Message(msg))
				}
				res, err := c.CommitTxn(ctx, pos[0], opts...)
				if err != nil {
					return err
				}
				if res.DryRun || g.output != "table" {
					return out.result(res, "")
				}
				fmt.Fprintf(stdout, "transaction %s committed (revision %d)\n", pos[0], res.Revision)
				return nil
			default:
				if err := c.AbortTxn(ctx, pos[0]); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "transaction %s aborted\n", pos[0])
				return nil
			}
		})
	}(), stderr, g)
}
