// Command gantry is a load balancer driven by an API. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gantry-lb/gantry/internal/app"
	"github.com/gantry-lb/gantry/internal/telemetry"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `gantry: a load balancer driven by an API

Usage:
  gantry serve [--admin 127.0.0.1:9980] [--data ./gantry-data] [--http :80]
                            run the admin API and the data plane (embedded store);
                            with Docker, route containers by their labels
                            (--docker auto|on|off; see docs/labels.md);
                            --file FILE serves its load balancers too, read-only,
                            following its changes (see docs/discovery.md);
                            --store etcd://HOST:PORT[,...][/PREFIX] shares one
                            store between several nodes (docs/operations.md)
  gantry proxy --from ADDR --to ADDR[,ADDR...] [--mode http|tcp]
                            forward one port to backends (round robin)
  gantry run -f FILE        serve the load balancers of a YAML/JSON config
  gantry validate -f FILE   check a config file and say what is wrong
  gantry version            print the version

Drive a running gantry serve (see docs/cli.md):
  gantry lb list|get|put|delete [NAME] [-f FILE] [--release-ip]
  gantry ip list|get|put|delete [ADDRESS] [-f FILE]
  gantry frontend list|get|put|delete [NAME] [--lb LB] [-f FILE]
  gantry backend list|get|put|delete [NAME] [--lb LB] [-f FILE]
  gantry route list|get|put|delete [NAME] [--lb LB] [--frontend FE] [-f FILE]
  gantry acl list|get|put|delete [NAME] [--lb LB] [--frontend FE] [-f FILE | flags]
  gantry cert list|get|put|delete [NAME] [-f FILE | --chain PEM [--key PEM] |
                            --common-name NAME [--san NAME...]]
                            load balancers, their IPs, frontends and backends,
                            the named routes and ACLs of a frontend, and TLS
                            certificates (custom or letsencrypt); put creates or
                            replaces from a JSON or YAML body
  gantry apply -f FILE      replace the whole config (YAML or JSON); --dry-run prints the diff
  gantry export             print the whole config as YAML (-o json for JSON)
  gantry history            list revisions, newest first
  gantry rollback N         make a new revision equal to revision N
  gantry txn begin|get|commit|abort [ID]
                            stage several writes (--txn ID) and commit them as one revision
  gantry status             stored revision and the revision traffic uses
  gantry explain [CONTAINER]
                            why a container is or is not routed (Docker discovery)
  gantry token list|create|revoke [NAME|ID] [--role admin|editor|viewer]
                            API tokens (admin tokens only); create prints the
                            secret once. token create NAME --role admin
                            --offline [--data DIR] writes into the store of a
                            stopped server, to recover a lost admin token

  Writes take --dry-run, --wait (until traffic uses it), --txn ID and --if-match REV.
  Commands that print objects take -o table|json|yaml (export: yaml or json).
  Every command takes --server URL (default $GANTRY_SERVER, else
  http://127.0.0.1:9980) and --token (default $GANTRY_TOKEN, else, for a server
  on this machine, the file ./gantry-data/admin.token, or DIR/admin.token with
  --data DIR).

Run "gantry COMMAND -h" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit code: 0 success,
// 1 runtime failure, 2 usage error.
func run(args []string, stdout, stderr io.Writer) int { return runWith(args, os.Stdin, stdout, stderr) }

// runWith is run reading "-f -" from stdin.
func runWith(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "proxy":
		return cmdProxy(args[1:], stderr)
	case "run":
		return cmdRun(args[1:], stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "lb":
		return runResource(lbResource(), args[1:], stdin, stdout, stderr)
	case "ip":
		return runResource(ipResource(), args[1:], stdin, stdout, stderr)
	case "frontend":
		return runResource(frontendResource(), args[1:], stdin, stdout, stderr)
	case "backend":
		return runResource(backendResource(), args[1:], stdin, stdout, stderr)
	case "route":
		return runResource(routeResource(), args[1:], stdin, stdout, stderr)
	case "acl":
		return runResource(aclResource(), args[1:], stdin, stdout, stderr)
	case "cert", "certificate":
		return runResource(certResource(), args[1:], stdin, stdout, stderr)
	case "apply":
		return cmdApply(args[1:], stdin, stdout, stderr)
	case "export":
		return cmdExport(args[1:], stdout, stderr)
	case "history":
		return cmdHistory(args[1:], stdout, stderr)
	case "rollback":
		return cmdRollback(args[1:], stdout, stderr)
	case "txn":
		return cmdTxn(args[1:], stdout, stderr)
	case "status":
		return cmdStatus(args[1:], stdout, stderr)
	case "explain":
		return cmdExplain(args[1:], stdout, stderr)
	case "token":
		return cmdToken(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "gantry", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "gantry: unknown command %q\n\n%s", args[0], usage)
	return 2
}

type logFlags struct {
	level, format string
	drain         time.Duration
	pprof         string
}

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&l.format, "log-format", "text", "log format: text or json")
	fs.DurationVar(&l.drain, "drain-timeout", 30*time.Second, "on SIGTERM, how long connections in flight may take to finish")
	fs.StringVar(&l.pprof, "pprof", "", "serve the Go profiler on this address (e.g. 127.0.0.1:6060), for debugging")
}

func parse(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "gantry %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2
	}
	return -1
}

func cmdProxy(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o app.ProxyOptions
	var to string
	var lf logFlags
	fs.StringVar(&o.From, "from", "", "listen address, host:port (\":8080\" for all addresses)")
	fs.StringVar(&to, "to", "", "backend addresses, comma separated host:port")
	fs.StringVar(&o.Mode, "mode", "http", "http (HTTP/1.1 and h2c reverse proxy) or tcp (port forwarding)")
	lf.register(fs)
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if o.From == "" || to == "" {
		fmt.Fprintln(stderr, "gantry proxy: --from and --to are required")
		fs.Usage()
		return 2
	}
	o.To = strings.Split(to, ",")
	cfg, err := app.ProxyConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "gantry proxy: %v\n", err)
		return 2
	}
	return serve(lf, stderr, func(ctx context.Context, o app.RunOptions) error { return app.Run(ctx, cfg, o) })
}

func cmdServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := fs.String("admin", "127.0.0.1:9980", "admin API address")
	data := fs.String("data", "./gantry-data", "data directory (store, admin token)")
	storeURL := fs.String("store", "bolt", "desired-state store: bolt (a file in --data, one process) or etcd://host:port[,host:port...][/prefix], shared by several gantry serve (copy certs.key of --data to every node)")
	var dk app.DockerOptions
	fs.StringVar(&dk.Mode, "docker", app.DockerAuto, "Docker discovery: auto (on when the engine answers at start), on (keep trying), off")
	fs.StringVar(&dk.Host, "docker-host", "", "Docker engine address (default $DOCKER_HOST, else unix:///var/run/docker.sock)")
	fs.DurationVar(&dk.Resync, "docker-resync", 30*time.Second, "interval of full resyncs of the containers")
	fs.StringVar(&dk.Network, "docker-network", "", "network whose address is used for containers on several networks")
	fs.StringVar(&dk.HTTP, "http", "", "address of the HTTP entry point discovered routes attach to, e.g. :80 (load balancer \"docker\", frontend \"http\")")
	fs.StringVar(&dk.StackDomain, "stack-domain", os.Getenv("STACK_DOMAIN"), "rancher-haproxy mode: serve stack S at S.DOMAIN ($STACK_DOMAIN)")
	fs.StringVar(&dk.RancherLabel, "label", os.Getenv("RANCHER_LABEL"), "rancher-haproxy label whose value is the container port ($RANCHER_LABEL, default map-public-http)")
	fs.StringVar(&dk.ProxyLabel, "proxy-label", os.Getenv("RANCHER_PROXY_LABEL"), "label whose value send-proxy or send-proxy-v2 sets the PROXY protocol ($RANCHER_PROXY_LABEL, default proxy_protocol)")
	fs.StringVar(&dk.AliasLabel, "alias-label", os.Getenv("RANCHER_ALIAS_LABEL"), "label listing more names A served at A.DOMAIN ($RANCHER_ALIAS_LABEL, default aliases)")
	var fo app.FileOptions
	fs.StringVar(&fo.Path, "file", "", "YAML/JSON file of load balancers (the format of gantry run -f) served besides the API's, read-only, re-read on change and on SIGHUP")
	fs.DurationVar(&fo.Interval, "file-interval", time.Second, "how often --file is checked for changes")
	var acme app.ACMEOptions
	fs.StringVar(&acme.DirectoryURL, "acme-directory", "", "ACME directory URL for letsencrypt certificates (default Let's Encrypt's production directory)")
	fs.StringVar(&acme.CABundleFile, "acme-ca-bundle", "", "PEM file of CAs trusted for the ACME directory's HTTPS, besides the system roots")
	fs.StringVar(&acme.Email, "acme-email", "", "contact address of the ACME account")
	fs.IntVar(&acme.HTTPPort, "acme-http-port", 0, "port the CA validates HTTP-01 on (default 80)")
	fs.IntVar(&acme.TLSALPNPort, "acme-tls-port", 0, "port the CA validates TLS-ALPN-01 on (default 443)")
	var lf logFlags
	lf.register(fs)
	if code := parse(fs, args); code >= 0 {
		return code
	}
	return serve(lf, stderr, func(ctx context.Context, o app.RunOptions) error {
		return app.Serve(ctx, app.ServeOptions{Admin: *admin, DataDir: *data, Store: *storeURL, Log: o.Log, DrainTimeout: o.DrainTimeout, Docker: dk, File: fo, ACME: acme}, stdout)
	})
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "config file (YAML or JSON)")
	var lf logFlags
	lf.register(fs)
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if *file == "" {
		fmt.Fprintln(stderr, "gantry run: -f FILE is required")
		return 2
	}
	cfg, err := app.LoadConfigFile(*file)
	if err != nil {
		fmt.Fprintf(stderr, "gantry run: %v\n", err)
		return 1
	}
	return serve(lf, stderr, func(ctx context.Context, o app.RunOptions) error { return app.Run(ctx, cfg, o) })
}

// serve runs start until SIGINT or SIGTERM, which drain and exit.
func serve(lf logFlags, stderr io.Writer, start func(context.Context, app.RunOptions) error) int {
	log, err := telemetry.NewLogger(stderr, lf.level, lf.format)
	if err != nil {
		fmt.Fprintln(stderr, "gantry:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if lf.pprof != "" {
		if err := telemetry.ServePprof(ctx, lf.pprof, log); err != nil {
			fmt.Fprintln(stderr, "gantry: --pprof:", err)
			return 2
		}
	}
	if err := start(ctx, app.RunOptions{Log: log, DrainTimeout: lf.drain}); err != nil {
		fmt.Fprintln(stderr, "gantry:", err)
		return 1
	}
	return 0
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "config file (YAML or JSON)")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if *file == "" {
		fmt.Fprintln(stderr, "gantry validate: -f FILE is required")
		return 2
	}
	if _, err := app.LoadConfigFile(*file); err != nil {
		fmt.Fprintf(stderr, "gantry validate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", *file)
	return 0
}
