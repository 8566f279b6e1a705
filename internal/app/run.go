package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-lb/gantry/internal/config"
)

// ProxyOptions is what `gantry proxy` takes.
type ProxyOptions struct {
	From string   // listen address, host:port
	To   []string // backend addresses, host:port
	Mode string   // "http" (default) or "tcp"
}

// ProxyConfig turns the one-liner's options into a config: one load balancer
// with one frontend and one round-robin backend. Host names in To are
// resolved once, here; the data plane only ever dials addresses.
func ProxyConfig(o ProxyOptions) (*config.Config, error) {
	host, port, err := net.SplitHostPort(o.From)
	if err != nil {
		return nil, fmt.Errorf("--from %q: %w", o.From, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("--from %q: port %q is not a number", o.From, port)
	}
	mode := config.Protocol(o.Mode)
	if mode == "" {
		mode = config.ProtocolHTTP
	}
	lb := config.LB{Name: "proxy"}
	if host != "" {
		a, err := resolve(host)
		if err != nil {
			return nil, fmt.Errorf("--from %q: %w", o.From, err)
		}
		lb.IPs = []string{a}
	}
	be := config.Backend{Name: "backend", ForwardProtocol: mode}
	if len(o.To) == 0 {
		return nil, fmt.Errorf("--to: at least one backend address is required")
	}
	for _, t := range o.To {
		h, tp, err := net.SplitHostPort(strings.TrimSpace(t))
		if err != nil {
			return nil, fmt.Errorf("--to %q: %w", t, err)
		}
		n, err := strconv.Atoi(tp)
		if err != nil {
			return nil, fmt.Errorf("--to %q: port %q is not a number", t, tp)
		}
		a, err := resolve(h)
		if err != nil {
			return nil, fmt.Errorf("--to %q: %w", t, err)
		}
		be.Servers = append(be.Servers, config.Server{IP: a, Port: n})
	}
	lb.Backends = []config.Backend{be}
	lb.Frontends = []config.Frontend{{Name: "frontend", InboundPort: p, Protocol: mode, Backend: be.Name}}
	return &config.Config{LBs: []config.LB{lb}}, nil
}

func resolve(host string) (string, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.String(), nil
	}
	addrs, err := net.LookupHost(host)
	if err != nil {
		return "", err
	}
	return addrs[0], nil
}

// LoadConfigFile reads and validates a YAML or JSON config file.
func LoadConfigFile(path string) (*config.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// RunOptions is what Run needs besides the config.
type RunOptions struct {
	Log          *slog.Logger
	DrainTimeout time.Duration
}

// Run serves cfg until ctx is done, then drains for up to DrainTimeout.
func Run(ctx context.Context, cfg *config.Config, o RunOptions) error {
	d := NewDataplane(o.Log)
	d.SetDrainTimeout(o.DrainTimeout)
	if err := d.Apply(cfg); err != nil {
		d.Shutdown(context.Background())
		return err
	}
	o.Log.Info("gantry is running", "listeners", d.Snapshot().Addrs())
	<-ctx.Done()
	o.Log.Info("shutting down: draining connections", "timeout", o.DrainTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), o.DrainTimeout)
	defer cancel()
	d.Shutdown(sctx)
	return nil
}
