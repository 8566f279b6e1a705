package main

import (
	"flag"

	"github.com/gantry-lb/gantry/client"
)

// routeFlags registers the flags of route put, each a field of the route
// body: --rule takes a Rancher port rule ("vpn.example.com:80=80").
func routeFlags(fs *flag.FlagSet) func(in *client.RouteInput) (bool, error) {
	rule := fs.String("rule", "", "a Rancher port rule, [host][:source_port][/path]=target_port: source_port must be the frontend's port, target_port a port of the backend")
	backend := fs.String("backend", "", "the backend the route leads to")
	host := fs.String("host", "", "host_header: an exact name or *.example.com")
	path := fs.String("path", "", "path_begin: a prefix of the path")
	priority := fs.Int("priority", 0, "higher routes are tried first")
	return func(in *client.RouteInput) (bool, error) {
		given := false
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "rule":
				in.Rule = *rule
			case "backend":
				in.Backend = *backend
			case "host":
				in.HostHeader = *host
			case "path":
				in.PathBegin = *path
			case "priority":
				in.Priority = *priority
			default:
				return
			}
			given = true
		})
		return given, nil
	}
}
