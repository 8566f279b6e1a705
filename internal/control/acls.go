package control

import (
	"fmt"
	"slices"

	"github.com/gantry-lb/gantry/internal/config"
)

// The ACLs of a frontend as objects of their own, addressed by name. They
// live inline in their frontend (config/lbs/<lb>/frontends/<name>), so a
// write to one ACL is a write to its frontend, and the frontend is
// validated as a whole. Their order in the list does not matter: ACLs
// apply in ascending index, then name.

// FindACL returns the ACL called name of frontend fe of LB lb in cfg, or
// ErrNotFound. Unnamed ACLs (possible in a frontend body) are never found:
// they have no address.
func FindACL(cfg *config.Config, lb, fe, name string) (*config.ACL, error) {
	f, err := FindFrontend(cfg, lb, fe)
	if err != nil {
		return nil, err
	}
	if i := aclIndex(f.ACLs, name); i >= 0 {
		return &f.ACLs[i], nil
	}
	return nil, aclNotFound(lb, fe, name)
}

// PutACL creates or replaces the ACL called name of frontend fe of LB lb;
// the LB and the frontend must exist. edit receives the current ACL (nil
// when new) and returns the new one, whose name is set to name. A replaced
// ACL keeps its place in the list and a new one is appended.
func PutACL(lb, fe, name string, edit func(cur *config.ACL) (config.ACL, error)) func(*config.Config) error {
	return func(cfg *config.Config) error {
		f, err := FindFrontend(cfg, lb, fe)
		if err != nil {
			return err
		}
		at := aclIndex(f.ACLs, name)
		var cur *config.ACL
		if at >= 0 {
			cur = &f.ACLs[at]
		}
		next, err := edit(cur)
		if err != nil {
			return err
		}
		next.Name = name
		// The list is rebuilt rather than edited in place, so a caller's
		// view of the old slice never changes under it.
		acls := slices.Clone(f.ACLs)
		if at >= 0 {
			acls[at] = next
		} else {
			acls = append(acls, next)
		}
		f.ACLs = acls
		return nil
	}
}

// DeleteACL removes the ACL called name of frontend fe of LB lb.
func DeleteACL(lb, fe, name string) func(*config.Config) error {
	return func(cfg *config.Config) error {
		f, err := FindFrontend(cfg, lb, fe)
		if err != nil {
			return err
		}
		at := aclIndex(f.ACLs, name)
		if at < 0 {
			return aclNotFound(lb, fe, name)
		}
		f.ACLs = slices.Delete(slices.Clone(f.ACLs), at, at+1)
		if len(f.ACLs) == 0 {
			f.ACLs = nil // the stored frontend then has no "acls" at all
		}
		return nil
	}
}

// aclIndex is the position of the ACL called name, or -1; the empty name
// names nothing.
func aclIndex(acls []config.ACL, name string) int {
	if name == "" {
		return -1
	}
	return slices.IndexFunc(acls, func(a config.ACL) bool { return a.Name == name })
}

func aclNotFound(lb, fe, name string) error {
	return fmt.Errorf("ACL %q of frontend %q of load balancer %q: %w", name, fe, lb, ErrNotFound)
}
