package control

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/store"
)

// The routes of a frontend are stored as objects of their own, one key per
// route, so that a change to one route of 100,000 writes one small value:
//
//	config/lbs/<lb>/frontends/<fe>/routes/<name>   a named route
//	config/lbs/<lb>/frontends/<fe>/routes/_<pos>   an unnamed route
//
// The value is a routeRecord: the route and its position, a string that
// sorts like the route's place in the list (see posBetween); route names
// never start with '_', so the two kinds of keys never meet. The frontend's
// own value then has no "routes"; a frontend stored by an older gantry with
// its routes inline still loads (its inline routes come first), and its
// next change moves them out.
//
// Routes have no entry in State.Meta: the API shows their frontend's times.
// A change to a frontend's routes rewrites the frontend's envelope with the
// same spec (updated_at moves), which history does not list as a change.

// routeRecord is how a route is stored.
type routeRecord struct {
	Pos  string          `json:"pos"`
	Spec json.RawMessage `json:"spec"`
}

// routeKey is the last part of a route's key.
func routeKey(r *config.Route, pos string) string {
	if r.Name != "" {
		return r.Name
	}
	return "_" + pos
}

// routePath names a route object of the frontend at fePath.
func routePath(fePath, key string) string { return fePath + "/routes/" + key }

// isRoutePath reports whether path names a route object.
func isRoutePath(path string) bool {
	parts := strings.Split(path, "/")
	return len(parts) == 6 && parts[0] == "lbs" && parts[2] == "frontends" && parts[4] == "routes"
}

// decode reads a config from its stored objects.
func decode(kvs []store.KV, rev uint64) (*State, error) {
	s := &State{Revision: rev, Config: &config.Config{}, Meta: map[string]ObjectMeta{}, routes: map[string]chunkSeq[string]{}, stale: map[string][]string{}}
	type item struct {
		meta ObjectMeta
		spec json.RawMessage
		name string
	}
	type keyed struct {
		pos, key string
		route    config.Route
	}
	lbs := map[string]*config.LB{}
	var order []string
	var certs certDecoder
	ips := map[string]*config.IP{}
	var ipOrder []string
	fes, bes := map[string][]item{}, map[string][]item{}
	routes := map[string][]keyed{} // by frontend path
	for _, kv := range kvs {
		path := strings.TrimPrefix(kv.Key, configPrefix)
		parts := strings.Split(path, "/")
		if len(parts) == 6 && parts[0] == "lbs" && parts[2] == "frontends" && parts[4] == "routes" {
			var rec struct {
				Pos  string       `json:"pos"`
				Spec config.Route `json:"spec"`
			}
			if err := json.Unmarshal(kv.Value, &rec); err != nil {
				return nil, fmt.Errorf("control: decoding %s: %w", kv.Key, err)
			}
			fp := FrontendPath(parts[1], parts[3])
			routes[fp] = append(routes[fp], keyed{rec.Pos, parts[5], rec.Spec})
			continue
		}
		var env envelope
		if err := json.Unmarshal(kv.Value, &env); err != nil {
			return nil, fmt.Errorf("control: decoding %s: %w", kv.Key, err)
		}
		m := ObjectMeta{CreatedAt: env.CreatedAt, UpdatedAt: env.UpdatedAt, CreatedRevision: kv.CreateRevision, UpdatedRevision: kv.ModRevision}
		s.Meta[path] = m
		switch {
		case len(parts) == 2 && parts[0] == "lbs":
			lb := new(config.LB)
			if err := json.Unmarshal(env.Spec, lb); err != nil {
				return nil, fmt.Errorf("control: decoding %s: %w", kv.Key, err)
			}
			lbs[parts[1]] = lb
			order = append(order, parts[1])
		case len(parts) == 2 && parts[0] == "certificates":
			if err := certs.add(kv.Key, parts[1], env.Spec); err != nil {
				return nil, err
			}
		case len(parts) == 2 && parts[0] == "ips":
			ip := new(config.IP)
			if err := json.Unmarshal(env.Spec, ip); err != nil {
				return nil, fmt.Errorf("control: decoding %s: %w", kv.Key, err)
			}
			ip.Address = parts[1]
			ips[parts[1]] = ip
			ipOrder = append(ipOrder, parts[1])
		case len(parts) == 4 && parts[0] == "lbs" && parts[2] == "frontends":
			fes[parts[1]] = append(fes[parts[1]], item{m, env.Spec, parts[3]})
		case len(parts) == 4 && parts[0] == "lbs" && parts[2] == "backends":
			bes[parts[1]] = append(bes[parts[1]], item{m, env.Spec, parts[3]})
		default:
			return nil, fmt.Errorf("control: unexpected key %s", kv.Key)
		}
	}
	slices.SortStableFunc(order, func(a, b string) int { return byCreation(s.Meta[LBPath(a)], s.Meta[LBPath(b)], a, b) })
	slices.SortStableFunc(ipOrder, func(a, b string) int { return byCreation(s.Meta[IPPath(a)], s.Meta[IPPath(b)], a, b) })
	s.Config.Certificates = certs.list(s.Meta)
	for _, addr := range ipOrder {
		s.Config.IPs = append(s.Config.IPs, *ips[addr])
	}
	sortItems := func(items []item) {
		slices.SortStableFunc(items, func(a, b item) int { return byCreation(a.meta, b.meta, a.name, b.name) })
	}
	for _, name := range order {
		lb := lbs[name]
		lb.Name = name
		fs := fes[name]
		sortItems(fs)
		for _, it := range fs {
			var f config.Frontend
			if err := json.Unmarshal(it.spec, &f); err != nil {
				return nil, fmt.Errorf("control: decoding frontend %s/%s: %w", name, it.name, err)
			}
			f.Name = it.name
			fp := FrontendPath(name, it.name)
			pos := make([]string, f.Routes.Len(), f.Routes.Len()+len(routes[fp]))
			if ks := routes[fp]; len(ks) > 0 {
				slices.SortFunc(ks, func(a, b keyed) int {
					if c := strings.Compare(a.pos, b.pos); c != 0 {
						return c
					}
					return strings.Compare(a.key, b.key)
				})
				ok := f.Routes.Len() == 0
				rs := f.Routes.Routes()
				for i, k := range ks {
					rs = append(rs, k.route)
					pos = append(pos, k.pos)
					// A position that is malformed, repeated or does not
					// match the key makes the next change rewrite them all.
					if !validPos(k.pos) || i > 0 && k.pos == ks[i-1].pos || k.key != routeKey(&k.route, k.pos) {
						ok = false
					}
				}
				f.Routes = config.RoutesOf(rs...)
				if !ok {
					clear(pos)
					for _, k := range ks {
						s.stale[fp] = append(s.stale[fp], k.key)
					}
				}
				delete(routes, fp)
			}
			s.routes[fp] = chunkSeqOf(pos)
			lb.Frontends = append(lb.Frontends, f)
		}
		bs := bes[name]
		sortItems(bs)
		for _, it := range bs {
			var b config.Backend
			if err := json.Unmarshal(it.spec, &b); err != nil {
				return nil, fmt.Errorf("control: decoding backend %s/%s: %w", name, it.name, err)
			}
			b.Name = it.name
			lb.Backends = append(lb.Backends, b)
		}
		s.Config.LBs = append(s.Config.LBs, *lb)
	}
	for fp := range routes {
		return nil, fmt.Errorf("control: routes stored for %s, which does not exist", fp)
	}
	return s, nil
}

// byCreation orders objects as they were created: by creation time, then
// revision, then name (objects created by one revision).
func byCreation(a, b ObjectMeta, na, nb string) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	if c := int(a.CreatedRevision) - int(b.CreatedRevision); c != 0 {
		return c
	}
	return strings.Compare(na, nb)
}

// sameMemory reports whether *a and *b hold the same bytes. Then they are
// equal field for field, including the pointers, so what they point to is
// the same too: states are never changed in place (see State). It is a
// cheap first test; objects that differ in memory are compared by their
// stored form.
func sameMemory[T any](a, b *T) bool {
	n := int(unsafe.Sizeof(*a))
	return unsafe.String((*byte)(unsafe.Pointer(a)), n) == unsafe.String((*byte)(unsafe.Pointer(b)), n)
}

// sameMemorySlice is sameMemory for two slices of the same length.
func sameMemorySlice[T any](a, b []T) bool {
	if len(a) == 0 {
		return true
	}
	n := len(a) * int(unsafe.Sizeof(a[0]))
	return unsafe.String((*byte)(unsafe.Pointer(&a[0])), n) == unsafe.String((*byte)(unsafe.Pointer(&b[0])), n)
}
