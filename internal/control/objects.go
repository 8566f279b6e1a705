package control

import (
	"fmt"

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
// fields.
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
			return nil
		}
		next.Frontends, next.Backends = cur.Frontends, cur.Backends
		*cur = next
		return nil
	}
}

// DeleteLB removes an LB with its frontends and backends.
func DeleteLB(name string) func(*config.Config) error {
	return func(cfg *config.Config) error {
		for i := range cfg.LBs {
			if cfg.LBs[i].Name == name {
				cfg.LBs = append(cfg.LBs[:i], cfg.LBs[i+1:]...)
				return nil
			}
		}
		return fmt.Errorf("load balancer %q: %w", name, ErrNotFound)
	}
}

// PutFrontend creates or replaces a frontend of an existing LB. edit
// receives the current frontend (nil when new).
func PutFrontend(lb, name string, edit func(cur *config.Frontend) (config.Frontend, error)) func(*config.Config) error {
	return func(cfg *config.Config) error {
		l, err := FindLB(cfg, lb)
		if err != nil {
			return err
		}
		for i := range l.Frontends {
			if l.Frontends[i].Name == name {
				next, err := edit(&l.Frontends[i])
				if err != nil {
					return err
				}
				next.Name = name
				l.Frontends[i] = next
				return nil
			}
		}
		next, err := edit(nil)
		if err != nil {
			return err
		}
		next.Name = name
		l.Frontends = append(l.Frontends, next)
		return nil
	}
}

// DeleteFrontend removes a frontend.
func DeleteFrontend(lb, name string) func(*config.Config) error {
	return func(cfg *config.Config) error {
		l, err := FindLB(cfg, lb)
		if err != nil {
			return err
		}
		for i := range l.Frontends {
			if l.Frontends[i].Name == name {
				l.Frontends = append(l.Frontends[:i], l.Frontends[i+1:]...)
				return nil
			}
		}
		return fmt.Errorf("frontend %q of load balancer %q: %w", name, lb, ErrNotFound)
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
		for i := range l.Backends {
			if l.Backends[i].Name == name {
				next, err := edit(&l.Backends[i])
				if err != nil {
					return err
				}
				next.Name = name
				l.Backends[i] = next
				return nil
			}
		}
		next, err := edit(nil)
		if err != nil {
			return err
		}
		next.Name = name
		l.Backends = append(l.Backends, next)
		return nil
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
		for i := range l.Backends {
			if l.Backends[i].Name == name {
				l.Backends = append(l.Backends[:i], l.Backends[i+1:]...)
				return nil
			}
		}
		return fmt.Errorf("backend %q of load balancer %q: %w", name, lb, ErrNotFound)
	}
}
