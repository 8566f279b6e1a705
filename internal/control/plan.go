package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/store"
)

// plan is what turning one state into a config writes and makes: the store
// ops, the changes to answer, what the data plane must recompile, and the
// parts of the next State.
//
// Making a plan costs what changed, not the size of the config: objects are
// compared first by memory (a change copies only the objects it touches;
// see Request.Mutate), then, when they differ, by their stored form. A
// frontend's route list is compared from both ends to find the span that
// changed.
type plan struct {
	changes []Change
	ops     []store.Op
	delta   *config.Delta
	meta    map[string]ObjectMeta
	routes  map[string]chunkSeq[string]
	stale   map[string][]string
	// wide is true when the incremental check would not cover the change:
	// a route name may repeat one outside the span that changed.
	wide bool
	// hint, when not nil, tells the routes a change kept at both ends of
	// one frontend's list (a RouteOp), so they are not compared.
	hint *routeHint
}

// makePlan compares next with cur, for a commit that would make revision
// rev at time now. It puts next's objects in the order a read of the store
// gives them, and replaces every object it stores by what reading it back
// gives (see normalize), so that next can become the State of rev as it is.
func (c *Control) makePlan(ctx context.Context, cur *State, next *config.Config, rev uint64, now time.Time, hint *routeHint) (*plan, error) {
	p := &plan{delta: &config.Delta{}, meta: maps.Clone(cur.Meta), routes: maps.Clone(cur.routes), stale: maps.Clone(cur.stale), hint: hint}
	if p.meta == nil {
		p.meta = map[string]ObjectMeta{}
	}
	if p.routes == nil {
		p.routes = map[string]chunkSeq[string]{}
	}
	created := ObjectMeta{CreatedAt: now, UpdatedAt: now, CreatedRevision: rev, UpdatedRevision: rev}
	metaOf := func(path string) ObjectMeta {
		if m, ok := cur.Meta[path]; ok {
			return m
		}
		return created
	}
	canonicalOrder(next, metaOf)
	emptyIsNil(next)

	// What the stored objects below do not cover must not change: a
	// field added to the model needs a place in the store first.
	if err := sameRest(cur.Config, next); err != nil {
		return nil, err
	}

	var err error
	certPath := func(c *config.Certificate) string { return CertificatePath(c.Name) }
	if p.delta.Certificates, err = objects(p, cur.Config.Certificates, next.Certificates, certPath, now, rev); err != nil {
		return nil, err
	}
	ipPath := func(ip *config.IP) string { return IPPath(ip.Address) }
	if p.delta.IPs, err = objects(p, cur.Config.IPs, next.IPs, ipPath, now, rev); err != nil {
		return nil, err
	}

	oldLBs := byName(cur.Config.LBs, func(l *config.LB) string { return l.Name })
	for i := range next.LBs {
		lb := &next.LBs[i]
		old := oldLBs[lb.Name]
		delete(oldLBs, lb.Name)
		if err := p.lb(ctx, c, cur, old, lb, now, rev); err != nil {
			return nil, err
		}
	}
	for _, old := range oldLBs {
		if err := p.lb(ctx, c, cur, old, nil, now, rev); err != nil {
			return nil, err
		}
	}
	p.merge()
	return p, nil
}

// merge sorts the ops and changes by key, and makes one update of a delete
// and a put of the same key: an unnamed route that leaves a position
// another one takes.
func (p *plan) merge() {
	slices.SortStableFunc(p.changes, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	slices.SortStableFunc(p.ops, func(a, b store.Op) int { return strings.Compare(a.Key, b.Key) })
	ops := p.ops[:0]
	for _, op := range p.ops {
		if n := len(ops); n > 0 && ops[n-1].Key == op.Key && ops[n-1].Delete != op.Delete {
			if ops[n-1].Delete {
				ops[n-1] = op // the put wins
			}
			continue
		}
		ops = append(ops, op)
	}
	p.ops = ops
	out := p.changes[:0]
	for _, ch := range p.changes {
		if n := len(out); n > 0 && out[n-1].Path == ch.Path && (out[n-1].Kind == Deleted) != (ch.Kind == Deleted) {
			del, put := out[n-1], ch
			if put.Kind == Deleted {
				del, put = put, del
			}
			out[n-1] = Change{Path: ch.Path, Kind: Updated, Before: del.Before, After: put.After}
			continue
		}
		out = append(out, ch)
	}
	p.changes = out
}

// sameRest fails when next changed a part of the config that is not one of
// the objects makePlan stores.
func sameRest(cur, next *config.Config) error {
	a, b := *cur, *next
	a.LBs, a.IPs, a.Certificates = nil, nil, nil
	b.LBs, b.IPs, b.Certificates = nil, nil, nil
	ja, err := json.Marshal(a)
	if err != nil {
		return err
	}
	jb, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if !bytes.Equal(ja, jb) {
		return fmt.Errorf("control: the change sets %s, which the store has no place for", jb)
	}
	return nil
}

// canonicalOrder sorts next's objects as decode would read them back.
func canonicalOrder(next *config.Config, metaOf func(string) ObjectMeta) {
	slices.SortStableFunc(next.Certificates, func(a, b config.Certificate) int {
		return byCreation(metaOf(CertificatePath(a.Name)), metaOf(CertificatePath(b.Name)), a.Name, b.Name)
	})
	slices.SortStableFunc(next.IPs, func(a, b config.IP) int {
		return byCreation(metaOf(IPPath(a.Address)), metaOf(IPPath(b.Address)), a.Address, b.Address)
	})
	slices.SortStableFunc(next.LBs, func(a, b config.LB) int {
		return byCreation(metaOf(LBPath(a.Name)), metaOf(LBPath(b.Name)), a.Name, b.Name)
	})
	for i := range next.LBs {
		lb := &next.LBs[i]
		slices.SortStableFunc(lb.Frontends, func(a, b config.Frontend) int {
			return byCreation(metaOf(FrontendPath(lb.Name, a.Name)), metaOf(FrontendPath(lb.Name, b.Name)), a.Name, b.Name)
		})
		slices.SortStableFunc(lb.Backends, func(a, b config.Backend) int {
			return byCreation(metaOf(BackendPath(lb.Name, a.Name)), metaOf(BackendPath(lb.Name, b.Name)), a.Name, b.Name)
		})
	}
}

// emptyIsNil makes next's empty object lists nil, as decode reads them.
func emptyIsNil(next *config.Config) {
	if len(next.IPs) == 0 {
		next.IPs = nil
	}
	if len(next.Certificates) == 0 {
		next.Certificates = nil
	}
	if len(next.LBs) == 0 {
		next.LBs = nil
	}
	for i := range next.LBs {
		lb := &next.LBs[i]
		if len(lb.Frontends) == 0 {
			lb.Frontends = nil
		}
		if len(lb.Backends) == 0 {
			lb.Backends = nil
		}
		for j := range lb.Frontends {
			if f := &lb.Frontends[j]; f.Routes.Len() == 0 {
				f.Routes = config.RouteList{}
			}
		}
	}
}

// object compares one stored object (an LB's own fields, a frontend's own
// fields, a backend, an IP): old is nil when it is new. When it changed, it
// adds the op, the change and the meta, and replaces *cur by what its
// stored form reads back as; when only its memory differs, by old. keep
// puts back what the stored form leaves out (an LB's frontends). touch
// rewrites an unchanged object's envelope anyway (its routes changed).
// objects plans a list of objects that are stored whole, each at its
// path: old is the list in the current config, next the new one. It
// reports whether any object was created, changed or removed.
func objects[T any](p *plan, old, next []T, path func(*T) string, now time.Time, rev uint64) (bool, error) {
	olds := byName(old, path)
	changedAny := false
	for i := range next {
		o := &next[i]
		at := path(o)
		prev := olds[at]
		delete(olds, at)
		changed, err := object(p, at, prev, o, now, rev, nil, false)
		if err != nil {
			return false, err
		}
		changedAny = changedAny || changed
	}
	for at, prev := range olds {
		if err := p.remove(at, prev); err != nil {
			return false, err
		}
		changedAny = true
	}
	return changedAny, nil
}

func object[T any](p *plan, path string, old, cur *T, now time.Time, rev uint64, keep func(read, from *T), touch bool) (bool, error) {
	if old != nil && sameMemory(old, cur) && !touch {
		return false, nil
	}
	spec, err := json.Marshal(cur)
	if err != nil {
		return false, err
	}
	var before json.RawMessage
	if old != nil {
		if before, err = json.Marshal(old); err != nil {
			return false, err
		}
		if bytes.Equal(before, spec) {
			restore(cur, old, keep)
			if !touch {
				return false, nil
			}
		}
	}
	m := ObjectMeta{CreatedAt: now, UpdatedAt: now, CreatedRevision: rev, UpdatedRevision: rev}
	kind := Created
	if old != nil {
		m.CreatedAt, m.CreatedRevision = p.meta[path].CreatedAt, p.meta[path].CreatedRevision
		kind = Updated
	}
	val, err := json.Marshal(envelope{CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, Spec: spec})
	if err != nil {
		return false, err
	}
	p.ops = append(p.ops, store.Op{Key: configPrefix + path, Value: val})
	p.meta[path] = m
	if bytes.Equal(before, spec) {
		return false, nil // touched only: not a change
	}
	p.changes = append(p.changes, Change{Path: path, Kind: kind, Before: before, After: spec})
	var read T
	if err := json.Unmarshal(spec, &read); err != nil {
		return false, err
	}
	restore(cur, &read, keep)
	return true, nil
}

// restore sets *cur to *from, then puts back what keep keeps of the old *cur.
func restore[T any](cur, from *T, keep func(read, from *T)) {
	was := *cur
	*cur = *from
	if keep != nil {
		keep(cur, &was)
	}
}

// remove deletes one stored object.
func (p *plan) remove(path string, old any) error {
	before, err := json.Marshal(old)
	if err != nil {
		return err
	}
	p.ops = append(p.ops, store.Op{Key: configPrefix + path, Delete: true})
	p.changes = append(p.changes, Change{Path: path, Kind: Deleted, Before: before})
	delete(p.meta, path)
	return nil
}

// lb plans one LB: old or cur is nil when it was created or deleted.
func (p *plan) lb(ctx context.Context, c *Control, st *State, old, cur *config.LB, now time.Time, rev uint64) error {
	name := ""
	if cur != nil {
		name = cur.Name
	} else {
		name = old.Name
	}
	path := LBPath(name)
	var d *config.LBDelta
	mark := func() *config.LBDelta {
		if d == nil {
			d = entry(&p.delta.LBs, name)
		}
		return d
	}
	// The LB's own fields: its stored form has no frontends or backends.
	if cur == nil {
		own := *old
		own.Frontends, own.Backends = nil, nil
		if err := p.remove(path, &own); err != nil {
			return err
		}
		mark().Fields = true
	} else {
		own := *cur
		own.Frontends, own.Backends = nil, nil
		var oldOwn *config.LB
		if old != nil {
			o := *old
			o.Frontends, o.Backends = nil, nil
			oldOwn = &o
		}
		changed, err := object(p, path, oldOwn, &own, now, rev, nil, false)
		if err != nil {
			return err
		}
		own.Frontends, own.Backends = cur.Frontends, cur.Backends
		*cur = own
		if changed || old == nil {
			mark().Fields = true
		}
	}

	var oldBEs []config.Backend
	var oldFEs []config.Frontend
	if old != nil {
		oldBEs, oldFEs = old.Backends, old.Frontends
	}
	beByName := byName(oldBEs, func(b *config.Backend) string { return b.Name })
	if cur != nil {
		for i := range cur.Backends {
			b := &cur.Backends[i]
			o := beByName[b.Name]
			delete(beByName, b.Name)
			changed, err := object(p, BackendPath(name, b.Name), o, b, now, rev, nil, false)
			if err != nil {
				return err
			}
			if changed {
				markBackend(mark(), b.Name)
			}
		}
	}
	for bname, o := range beByName {
		if err := p.remove(BackendPath(name, bname), o); err != nil {
			return err
		}
		markBackend(mark(), bname)
	}

	feByName := byName(oldFEs, func(f *config.Frontend) string { return f.Name })
	if cur != nil {
		for i := range cur.Frontends {
			f := &cur.Frontends[i]
			o := feByName[f.Name]
			delete(feByName, f.Name)
			if err := p.frontend(ctx, c, st, name, o, f, now, rev, mark); err != nil {
				return err
			}
		}
	}
	for _, o := range feByName {
		if err := p.frontend(ctx, c, st, name, o, nil, now, rev, mark); err != nil {
			return err
		}
	}
	return nil
}

// frontend plans one frontend and its routes.
func (p *plan) frontend(ctx context.Context, c *Control, st *State, lb string, old, cur *config.Frontend, now time.Time, rev uint64, mark func() *config.LBDelta) error {
	name := ""
	if cur != nil {
		name = cur.Name
	} else {
		name = old.Name
	}
	path := FrontendPath(lb, name)
	pos := st.routes[path]
	var oldRoutes config.RouteList
	if old != nil {
		oldRoutes = old.Routes
	}
	// A frontend whose routes are inline (an older layout), or whose
	// stored positions could not be used, is rewritten whole: its inline
	// routes and the route keys decode could not use (stale) go.
	stale, legacy := st.stale[path]
	legacy = legacy || old != nil && (pos.len() != oldRoutes.Len() || oldRoutes.Len() > 0 && pos.at(0) == "")
	if legacy {
		for _, key := range stale {
			p.ops = append(p.ops, store.Op{Key: configPrefix + routePath(path, key), Delete: true})
		}
		delete(p.stale, path)
	}

	if cur == nil {
		before := *old
		if !legacy {
			before.Routes = config.RouteList{}
		}
		if err := p.remove(path, &before); err != nil {
			return err
		}
		if !legacy {
			for i, r := range oldRoutes.All() {
				if err := p.removeRoute(path, r, pos.at(i)); err != nil {
					return err
				}
			}
		}
		delete(p.routes, path)
		entry(&mark().Frontends, name).Fields = true
		return nil
	}

	// The routes first, so that a change of routes only touches the
	// frontend's envelope.
	var span *config.RouteSpan
	newRoutes := cur.Routes
	switch {
	case old == nil || legacy:
		positions := freshPos(newRoutes.Len())
		for i, r := range newRoutes.All() {
			// putRoute changes r only when it replaces a route (old != nil).
			if err := p.putRoute(path, nil, r, "", positions[i], now); err != nil {
				return err
			}
		}
		p.routes[path] = chunkSeqOf(positions)
	default:
		var err error
		if span, newRoutes, err = p.routeSpan(ctx, c, st, path, oldRoutes, newRoutes, pos, now); err != nil {
			return err
		}
	}

	own := *cur
	own.Routes = config.RouteList{}
	var oldOwn *config.Frontend
	if old != nil {
		o := *old
		if !legacy {
			o.Routes = config.RouteList{}
		}
		oldOwn = &o
	}
	touch := span != nil || legacy
	changed, err := object(p, path, oldOwn, &own, now, rev, nil, touch)
	if err != nil {
		return err
	}
	own.Routes = newRoutes
	*cur = own
	switch {
	case old == nil || changed || legacy:
		entry(&mark().Frontends, name).Fields = true
	case span != nil:
		entry(&mark().Frontends, name).Routes = span
	}
	return nil
}

// routeSpan plans the routes of a frontend that exists on both sides, and
// returns the span that changed (nil: none).
func (p *plan) routeSpan(ctx context.Context, c *Control, st *State, path string, a, b config.RouteList, pos chunkSeq[string], now time.Time) (*config.RouteSpan, config.RouteList, error) {
	n, m := a.Len(), b.Len()
	if a.Same(b) {
		return nil, b, nil
	}
	// The common head and tail: a RouteOp says what it kept, else they
	// are compared.
	head, tail := 0, 0
	if h := p.hint; h != nil && h.path == path && h.head+h.tail <= min(n, m) {
		head, tail = h.head, h.tail
	} else {
		head, tail = commonEnds(a, b)
	}
	// The middles are copies (O(span)): putRoute may replace a route of
	// bmid by the old one, and b takes them back below.
	amid, bmid := a.Slice(head, n-tail), b.Slice(head, m-tail)
	if len(amid) == 0 && len(bmid) == 0 {
		return nil, b, nil
	}

	// Routes of both middles with the same name are the same object: it
	// keeps its key, and its position unless it moved. Unnamed routes are
	// the same when they are equal. The longest run of them whose old
	// order is kept stays in place.
	oldAt := make(map[string]int, len(amid))
	unnamed := map[string][]int{} // stored form -> indexes in amid
	for i := range amid {
		if amid[i].Name != "" {
			oldAt[amid[i].Name] = i
		} else if spec, err := json.Marshal(&amid[i]); err == nil {
			unnamed[string(spec)] = append(unnamed[string(spec)], i)
		}
	}
	matchOf := make([]int, len(bmid)) // index in amid, or -1
	matched := make([]bool, len(amid))
	var cand []int // indexes in bmid of matched routes
	seen := make(map[string]bool, len(bmid))
	for j := range bmid {
		matchOf[j] = -1
		nm := bmid[j].Name
		if nm == "" {
			if spec, err := json.Marshal(&bmid[j]); err == nil {
				if is := unnamed[string(spec)]; len(is) > 0 {
					matched[is[0]], matchOf[j] = true, is[0]
					unnamed[string(spec)] = is[1:]
					cand = append(cand, j)
				}
			}
			continue
		}
		if seen[nm] {
			p.wide = true // a repeated name: the full check reports it
		}
		seen[nm] = true
		if i, ok := oldAt[nm]; ok && !matched[i] {
			matched[i], matchOf[j] = true, i
			cand = append(cand, j)
		}
	}
	stays := make([]bool, len(bmid))
	for _, j := range longestIncreasing(cand, matchOf) {
		stays[j] = true
	}

	lo, hi := "", ""
	if head > 0 {
		lo = pos.at(head - 1)
	}
	if tail > 0 {
		hi = pos.at(n - tail)
	}
	newPos := make([]string, len(bmid))
	for j := 0; j < len(bmid); {
		if stays[j] {
			newPos[j] = pos.at(head + matchOf[j])
			lo = newPos[j]
			j++
			continue
		}
		k := j
		for k < len(bmid) && !stays[k] {
			k++
		}
		next := hi
		if k < len(bmid) {
			next = pos.at(head + matchOf[k])
		}
		copy(newPos[j:k], posN(lo, next, k-j))
		j = k
	}

	for i := range amid {
		if !matched[i] {
			if err := p.removeRoute(path, &amid[i], pos.at(head+i)); err != nil {
				return nil, b, err
			}
		}
	}
	replaced := false
	for j := range bmid {
		var old *config.Route
		oldPos := ""
		if i := matchOf[j]; i >= 0 {
			old, oldPos = &amid[i], pos.at(head+i)
		} else if nm := bmid[j].Name; nm != "" {
			// A new name must not be one of the routes outside the span:
			// the store says (the full check names the duplicate).
			if len(bmid) > 64 {
				p.wide = true
			} else if _, err := c.st.Get(ctx, configPrefix+routePath(path, nm), st.head); err == nil || !errors.Is(err, store.ErrNotFound) {
				p.wide = true
			}
		}
		was := bmid[j]
		if err := p.putRoute(path, old, &bmid[j], oldPos, newPos[j], now); err != nil {
			return nil, b, err
		}
		replaced = replaced || !sameMemory(&was, &bmid[j])
	}
	if replaced {
		b = b.Splice(head, m-tail, bmid...)
	}
	p.routes[path] = pos.splice(head, n-tail, newPos)
	// Routes that read back the same are the same memory now (putRoute):
	// the span the data plane recompiles leaves them out at both ends.
	same := 0
	for same < min(len(amid), len(bmid)) && sameMemory(&amid[same], &bmid[same]) {
		same++
	}
	sameEnd := 0
	for sameEnd < min(len(amid), len(bmid))-same && sameMemory(&amid[len(amid)-1-sameEnd], &bmid[len(bmid)-1-sameEnd]) {
		sameEnd++
	}
	if same == len(amid) && same == len(bmid) {
		return nil, b, nil
	}
	return &config.RouteSpan{From: head + same, OldTo: n - tail - sameEnd, NewTo: m - tail - sameEnd}, b, nil
}

// commonEnds returns how many routes a and b share at their head and, after
// that, at their tail, compared by memory: a change copies the chunks of
// the list it touched but not the routes it keeps.
func commonEnds(a, b config.RouteList) (head, tail int) {
	n, m := a.Len(), b.Len()
	for head < min(n, m) && sameMemory(a.At(head), b.At(head)) {
		head++
	}
	for tail < min(n, m)-head && sameMemory(a.At(n-1-tail), b.At(m-1-tail)) {
		tail++
	}
	return head, tail
}

// putRoute stores route r at position at (old, at oldPos, is the route it
// replaces, nil when new), unless it is the same; like object, it replaces
// *r by what its stored form reads back as.
func (p *plan) putRoute(fePath string, old, r *config.Route, oldPos, at string, now time.Time) error {
	if old != nil && oldPos == at && sameMemory(old, r) {
		return nil
	}
	spec, err := json.Marshal(r)
	if err != nil {
		return err
	}
	var before json.RawMessage
	kind := Created
	if old != nil {
		kind = Updated
		if before, err = json.Marshal(old); err != nil {
			return err
		}
		if bytes.Equal(before, spec) {
			*r = *old
			if oldPos == at {
				return nil
			}
		}
	}
	val, err := json.Marshal(routeRecord{Pos: at, Spec: spec})
	if err != nil {
		return err
	}
	key := routePath(fePath, routeKey(r, at))
	if old != nil && old.Name == "" {
		// An unnamed route that moves changes key.
		if err := p.removeRoute(fePath, old, oldPos); err != nil {
			return err
		}
		kind = Created
	}
	p.ops = append(p.ops, store.Op{Key: configPrefix + key, Value: val})
	p.changes = append(p.changes, Change{Path: key, Kind: kind, Before: before, After: spec})
	if !bytes.Equal(before, spec) {
		var read config.Route
		if err := json.Unmarshal(spec, &read); err != nil {
			return err
		}
		*r = read
	}
	return nil
}

// removeRoute deletes the stored route r at position at.
func (p *plan) removeRoute(fePath string, r *config.Route, at string) error {
	before, err := json.Marshal(r)
	if err != nil {
		return err
	}
	key := routePath(fePath, routeKey(r, at))
	p.ops = append(p.ops, store.Op{Key: configPrefix + key, Delete: true})
	p.changes = append(p.changes, Change{Path: key, Kind: Deleted, Before: before})
	return nil
}

// longestIncreasing returns the longest subsequence of cand (indexes into
// val) along which val increases: the matched routes that keep their
// order, and so their positions.
func longestIncreasing(cand []int, val []int) []int {
	if len(cand) == 0 {
		return nil
	}
	tails := []int{}               // tails[k]: index in cand of the smallest tail of an increasing run of k+1
	prev := make([]int, len(cand)) // predecessor in the run, or -1
	for x := range cand {
		v := val[cand[x]]
		k, _ := slices.BinarySearchFunc(tails, v, func(t, v int) int { return val[cand[t]] - v })
		if k > 0 {
			prev[x] = tails[k-1]
		} else {
			prev[x] = -1
		}
		if k == len(tails) {
			tails = append(tails, x)
		} else {
			tails[k] = x
		}
	}
	out := make([]int, len(tails))
	for k, x := len(tails)-1, tails[len(tails)-1]; k >= 0; k, x = k-1, prev[x] {
		out[k] = cand[x]
	}
	return out
}

// checkProjectChange is the tenancy rule of a write made for a project: it
// may create, change and delete only LBs of that project, and an LB of
// another project answers as if it did not exist (ErrNotFound), so a
// project token cannot even learn its name. It looks at the LBs the change
// touched (d), whatever the mutation did and whichever handler made it, at
// the base of the commit, so a concurrent write cannot slip an LB out of
// the project between a check and the commit.
func checkProjectChange(before, after *config.Config, d *config.Delta, project string) error {
	if project == "" {
		return nil
	}
	for i := range after.LBs {
		lb := &after.LBs[i]
		if d.LBs[lb.Name] == nil {
			continue
		}
		if old := before.LB(lb.Name); old != nil && old.Project != project {
			return fmt.Errorf("load balancer %q: %w", lb.Name, ErrNotFound)
		}
		if lb.Project != project {
			return fmt.Errorf("%w: %w", ErrInvalid, &config.FieldError{Path: "lbs[" + lb.Name + "].project",
				Msg: fmt.Sprintf("%q: a token of project %q can only write LBs of its own project", lb.Project, project)})
		}
	}
	for i := range before.LBs {
		lb := &before.LBs[i]
		if d.LBs[lb.Name] != nil && lb.Project != project {
			return fmt.Errorf("load balancer %q: %w", lb.Name, ErrNotFound)
		}
	}
	return nil
}
