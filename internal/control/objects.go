package control

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/gantry-lb/gantry/internal/config"
)

// The functions below build Request.Mutate closures for one object. They
// run on the head config inside Change, so a read-modify-write (PATCH) is
// atomic with respect to other writers.

// FindLB returns the LB named name in cfg, or ErrNotFound.
func FindLB(cfg *config.Config, name string) (*config.LB, error) {
	if lb := cfg.LB(name); lb != nil {
		return lb, nil
	}
	return nil, fmt.Errorf("load balancer %q: %w", name, ErrNotFound)
}

// PutLB creates or replaces the LB's own fields; its frontends and backends
// are kept. edit receives the current LB (nil when new) and returns the new
// fields. Addresses the LB names that have no IP object yet get one in the
// same change, so clients that only know LB.ips keep working.
func PutLB(name string, edit func(cur *config.LB) (config.LB, error)) func(*config.Config) error {
	return func(cfg *config.Config) error {
		cur := cfg.LB(name)
		next, err := edit(cur)
		if err != nil {
			return err
		}
		next.Name = name
		if cur == nil {
			next.Frontends, next.Backends = nil, nil
			cfg.LBs = append(cfg.LBs, next)
		} else {
			next.Frontends, next.Backends = cur.Frontends, cur.Backends
			*cur = next
		}
		if len(next.IPs) > 0 {
			ensureIPs(cfg)
		}
		return nil
	}
}

// ensureIPs adds an IP object for every valid address an LB binds that has
// none. It covers every LB, not only the one written: the first IP object
// of a config written before IPs were objects turns on the rule that LBs
// bind only known addresses.
func ensureIPs(cfg *config.Config) {
	for i := range cfg.LBs {
		for _, a := range cfg.LBs[i].IPs {
			addr, err := netip.ParseAddr(a)
			if err != nil || addr.Zone() != "" || cfg.IP(a) != nil {
				continue // validation reports a bad address
			}
			cfg.IPs = append(cfg.IPs, config.IP{Address: addr.String()})
		}
	}
}

// DeleteLB removes an LB with its frontends and backends. Its IP objects
// are kept unless releaseIP, which deletes those no other LB binds.
func DeleteLB(name string, releaseIP bool) func(*config.Config) error {
	return func(cfg *config.Config) error {
		i := slices.IndexFunc(cfg.LBs, func(lb config.LB) bool { return lb.Name == name })
		if i < 0 {
			return fmt.Errorf("load balancer %q: %w", name, ErrNotFound)
		}
		addrs := cfg.LBs[i].IPs
		cfg.LBs = slices.Delete(cfg.LBs, i, i+1)
		if !releaseIP {
			return nil
		}
		for _, a := range addrs {
			if len(cfg.IPUsers(a)) > 0 {
				continue
			}
			want := config.CanonicalIP(a)
			cfg.IPs = slices.DeleteFunc(cfg.IPs, func(ip config.IP) bool { return config.CanonicalIP(ip.Address) == want })
		}
		return nil
	}
}

// FindIP returns the IP object of address addr in cfg, or ErrNotFound.
func FindIP(cfg *config.Config, addr string) (*config.IP, error) {
	if ip := cfg.IP(addr); ip != nil {
		return ip, nil
	}
	return nil, fmt.Errorf("IP %q: %w", addr, ErrNotFound)
}

// PutIP creates or replaces the IP object of address addr. edit receives
// the current object (nil when new) and returns the new one; a new object
// is stored under the canonical form of addr when it is an IP literal.
func PutIP(addr string, edit func(cur *config.IP) (config.IP, error)) func(*config.Config) error {
	return func(cfg *config.Config) error {
		cur := cfg.IP(addr)
		next, err := edit(cur)
		if err != nil {
			return err
		}
		if cur != nil {
			next.Address = cur.Address
			*cur = next
			return nil
		}
		next.Address = config.CanonicalIP(addr)
		cfg.IPs = append(cfg.IPs, next)
		return nil
	}
}

// DeleteIP removes an IP object. An LB that still binds the address makes
// it fail with that LB's field path: checked here, because removing the
// last IP object would otherwise turn the rule off.
func DeleteIP(addr string) func(*config.Config) error {
	return func(cfg *config.Config) error {
		ip := cfg.IP(addr)
		if ip == nil {
			return fmt.Errorf("IP %q: %w", addr, ErrNotFound)
		}
		want := config.CanonicalIP(ip.Address)
		var errs config.Errors
		for i := range cfg.LBs {
			for j, a := range cfg.LBs[i].IPs {
				if config.CanonicalIP(a) == want {
					errs = append(errs, &config.FieldError{Path: fmt.Sprintf("lbs[%s].ips[%d]", cfg.LBs[i].Name, j),
						Msg: fmt.Sprintf("binds %s: remove it from the load balancer first, or delete the load balancer with release_ip", ip.Address)})
				}
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%w: %w", ErrInvalid, errs)
		}
		cfg.IPs = slices.DeleteFunc(cfg.IPs, func(x config.IP) bool { return config.CanonicalIP(x.Address) == want })
		return nil
	}
}

// named is a config object addressed by name within its LB.
type named interface {
	config.Frontend | config.Backend
}

// nameOf returns the name of a frontend or backend.
func nameOf[T named](v *T) *string {
	switch x := any(v).(type) {
	case *config.Frontend:
		return &x.Name
	case *config.Backend:
		return &x.Name
	}
	panic("unreachable")
}

// upsert creates or replaces the item called name in *items: edit receives
// the current one (nil when new) and returns its replacement.
func upsert[T named](items *[]T, name string, edit func(cur *T) (T, error)) error {
	if cur := find(*items, name); cur != nil {
		next, err := edit(cur)
		if err != nil {
			return err
		}
		*nameOf(&next) = name
		*cur = next
		return nil
	}
	next, err := edit(nil)
	if err != nil {
		return err
	}
	*nameOf(&next) = name
	*items = append(*items, next)
	return nil
}

// remove deletes the item called name from *items, or reports false.
func remove[T named](items *[]T, name string) bool {
	for i := range *items {
		if *nameOf(&(*items)[i]) == name {
			*items = append((*items)[:i], (*items)[i+1:]...)
			return true
		}
	}
	return false
}

// PutFrontend creates or replaces a frontend of an existing LB. edit
// receives the current frontend (nil when new).
func PutFrontend(lb, name string, edit func(cur *config.Frontend) (config.Frontend, error)) func(*config.Config) error {
	return func(cfg *config.Config) error {
		l, err := FindLB(cfg, lb)
		if err != nil {
			return err
		}
		return upsert(&l.Frontends, name, edit)
	}
}

// DeleteFrontend removes a frontend.
func DeleteFrontend(lb, name string) func(*config.Config) error {
	return func(cfg *config.Config) error {
		l, err := FindLB(cfg, lb)
		if err != nil {
			return err
		}
		if !remove(&l.Frontends, name) {
			return fmt.Errorf("frontend %q of load balancer %q: %w", name, lb, ErrNotFound)
		}
		return nil
	}
}

// PutBackend creates or replaces a backend of an existing LB. edit receives
// the current backend (nil when new).
func PutBackend(lb, name string, edit func(cur *config.Backend) (config.Backend, error)) func(*config.Config) error {
	return func(cfg *config.Config) error {
		l, err := FindLB(cfg, lb)
		if err != nil {
			return err
		}
		return upsert(&l.Backends, name, edit)
	}
}

// DeleteBackend removes a backend. A frontend or route that still names it
// makes the change fail validation, with that field's path.
func DeleteBackend(lb, name string) func(*config.Config) error {
	return func(cfg *config.Config) error {
		l, err := FindLB(cfg, lb)
		if err != nil {
			return err
		}
		if !remove(&l.Backends, name) {
			return fmt.Errorf("backend %q of load balancer %q: %w", name, lb, ErrNotFound)
		}
		return nil
	}
}

// find returns the item called name in items, or nil.
func find[T named](items []T, name string) *T {
	for i := range items {
		if *nameOf(&items[i]) == name {
			return &items[i]
		}
	}
	return nil
}

// FindFrontend returns frontend name of LB lb in cfg, or ErrNotFound.
func FindFrontend(cfg *config.Config, lb, name string) (*config.Frontend, error) {
	l, err := FindLB(cfg, lb)
	if err != nil {
		return nil, err
	}
	if f := find(l.Frontends, name); f != nil {
		return f, nil
	}
	return nil, fmt.Errorf("frontend %q of load balancer %q: %w", name, lb, ErrNotFound)
}

// FindBackend returns backend name of LB lb in cfg, or ErrNotFound.
func FindBackend(cfg *config.Config, lb, name string) (*config.Backend, error) {
	l, err := FindLB(cfg, lb)
	if err != nil {
		return nil, err
	}
	if b := find(l.Backends, name); b != nil {
		return b, nil
	}
	return nil, fmt.Errorf("backend %q of load balancer %q: %w", name, lb, ErrNotFound)
}

// PutRoute creates or replaces the route called name of frontend fe of LB
// lb; the LB and the frontend must exist. edit receives the current route
// (nil when new) and its index (-1 when new), and returns the new route and
// the index it goes to: a negative index keeps an existing route where it is
// and appends a new one; an index past the end of the list appends.
// Routes order a frontend's matching only among equal priorities (see
// docs/routing.md), but the order is kept as given.
func PutRoute(lb, fe, name string, edit func(cur *config.Route, curIndex int) (config.Route, int, error)) func(*config.Config) error {
	return func(cfg *config.Config) error {
		f, err := FindFrontend(cfg, lb, fe)
		if err != nil {
			return err
		}
		at := f.Routes.Index(func(r *config.Route) bool { return r.Name == name })
		var cur *config.Route
		if at >= 0 {
			c := *f.Routes.At(at)
			cur = &c
		}
		next, idx, err := edit(cur, at)
		if err != nil {
			return err
		}
		next.Name = name
		// A RouteList is never edited in place, so a caller's view of the
		// old list never changes under it.
		routes := f.Routes
		switch {
		case at >= 0 && idx < 0:
			routes = routes.Set(at, next)
		default:
			if at >= 0 {
				routes = routes.Delete(at, at+1)
			}
			if idx < 0 || idx > routes.Len() {
				idx = routes.Len()
			}
			routes = routes.Insert(idx, next)
		}
		f.Routes = routes
		return nil
	}
}

// DeleteRoute removes the route called name of frontend fe of LB lb.
func DeleteRoute(lb, fe, name string) func(*config.Config) error {
	return func(cfg *config.Config) error {
		f, err := FindFrontend(cfg, lb, fe)
		if err != nil {
			return err
		}
		at := f.Routes.Index(func(r *config.Route) bool { return r.Name == name })
		if name == "" || at < 0 {
			return fmt.Errorf("route %q of frontend %q of load balancer %q: %w", name, fe, lb, ErrNotFound)
		}
		f.Routes = f.Routes.Delete(at, at+1)
		return nil
	}
}

// PutHealthCheck sets the health check of an existing backend, leaving the
// rest of the backend as it is. edit receives the current check (nil when
// there is none).
func PutHealthCheck(lb, backend string, edit func(cur *config.HealthCheck) (*config.HealthCheck, error)) func(*config.Config) error {
	return func(cfg *config.Config) error {
		b, err := FindBackend(cfg, lb, backend)
		if err != nil {
			return err
		}
		next, err := edit(b.HealthCheck)
		if err != nil {
			return err
		}
		b.HealthCheck = next
		return nil
	}
}

// DeleteHealthCheck removes the health check of a backend: no active check
// runs on its servers then. A backend without one is ErrNotFound.
func DeleteHealthCheck(lb, backend string) func(*config.Config) error {
	return func(cfg *config.Config) error {
		b, err := FindBackend(cfg, lb, backend)
		if err != nil {
			return err
		}
		if b.HealthCheck == nil {
			return fmt.Errorf("health check of backend %q of load balancer %q: %w", backend, lb, ErrNotFound)
		}
		b.HealthCheck = nil
		return nil
	}
}
