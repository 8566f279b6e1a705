package control

import (
	"encoding/json"
	"fmt"

	"github.com/gantry-lb/gantry/internal/config"
)

// checkProject is the tenancy rule of a write made for a project: it may
// create, change and delete only LBs of that project, and an LB of another
// project answers as if it did not exist (ErrNotFound), so a project token
// cannot even learn its name. It compares the config before and after the
// write, so it holds whatever the mutation did and whichever handler made
// it, and it runs at the base of the commit, so a concurrent write cannot
// slip an LB out of the project between a check and the commit.
func checkProject(before, after *config.Config, project string) error {
	if project == "" {
		return nil
	}
	for i := range after.LBs {
		lb := &after.LBs[i]
		old := before.LB(lb.Name)
		if old != nil && old.Project != project {
			if !sameLB(old, lb) {
				return fmt.Errorf("load balancer %q: %w", lb.Name, ErrNotFound)
			}
			continue
		}
		if old != nil && sameLB(old, lb) {
			continue
		}
		if lb.Project != project {
			return fmt.Errorf("%w: %w", ErrInvalid, &config.FieldError{Path: "lbs[" + lb.Name + "].project",
				Msg: fmt.Sprintf("%q: a token of project %q can only write LBs of its own project", lb.Project, project)})
		}
	}
	for i := range before.LBs {
		lb := &before.LBs[i]
		if lb.Project != project && after.LB(lb.Name) == nil {
			return fmt.Errorf("load balancer %q: %w", lb.Name, ErrNotFound)
		}
	}
	return nil
}

// sameLB compares two LBs by their stored form, the one that matters (an
// empty and a nil slice are the same LB).
func sameLB(a, b *config.LB) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}
