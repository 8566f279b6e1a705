package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"net/http"
	"sort"
	"sync"
	"time"
	"weak"

	"github.com/gantry-lb/gantry/internal/store"
)

// Options configures a Manager.
type Options struct {
	Logger *slog.Logger
	// Sealer opens the keys of custom certificates and seals ACME keys.
	// Required.
	Sealer *Sealer
	// Store holds ACME accounts, certificates and locks, shared by every
	// node on it. Nil disables ACME: letsencrypt certificates then report
	// StatusError.
	Store store.Store
	// ACME configures the ACME client; used only with Store.
	ACME ACMEOptions
	// TicketRotation is how often a new session ticket key is made (default
	// 1h); TicketKeys how many are kept for resumption (default 4, so a
	// ticket resumes for 3 to 4 rotations).
	TicketRotation time.Duration
	TicketKeys     int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Desired is the whole set of certificates the configuration asks for, by
// gantry certificate name. Names are unique across both maps.
type Desired struct {
	Custom map[string]Stored
	ACME   map[string]ACMESpec
}

// Manager holds the certificates being served (custom and ACME-obtained),
// answers TLS handshakes by SNI for each frontend, obtains and renews ACME
// certificates, and rotates session ticket keys.
//
// The served set is an immutable catalog behind an atomic pointer; each
// frontend's SNI table is rebuilt when the catalog changes, off the hot
// path, and swapped atomically, so a handshake never waits on a lock and a
// replaced certificate is served to the next handshake. Safe for
// concurrent use.
type Manager struct {
	log     *slog.Logger
	now     func() time.Time
	sealer  *Sealer
	tickets *ticketRing
	acme    *acmeEngine // nil without a store

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex // guards the fields below; never taken by a handshake
	closed    bool
	catalog   *catalog
	custom    map[string]*customEntry
	acmeNames map[string]string      // gantry name → ACME set id
	workers   map[string]*acmeWorker // set id → worker
	selectors []weak.Pointer[selector]
}

type customEntry struct {
	stored Stored
	cert   *Certificate // nil if it could not be restored
	err    error
}

// New returns a running Manager; Close stops it.
func New(o Options) (*Manager, error) {
	if o.Sealer == nil {
		return nil, errors.New("certs: a Sealer is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TicketRotation <= 0 {
		o.TicketRotation = time.Hour
	}
	if o.TicketKeys <= 0 {
		o.TicketKeys = 4
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		log:       o.Logger.With("component", "certs"),
		now:       o.Now,
		sealer:    o.Sealer,
		tickets:   newTicketRing(o.TicketKeys),
		ctx:       ctx,
		cancel:    cancel,
		catalog:   &catalog{certs: map[string]*tls.Certificate{}},
		custom:    map[string]*customEntry{},
		acmeNames: map[string]string{},
		workers:   map[string]*acmeWorker{},
	}
	if o.Store != nil {
		e, err := newACMEEngine(ctx, m, o.Store, o.ACME)
		if err != nil {
			cancel()
			return nil, err
		}
		m.acme = e
	}
	m.wg.Add(1)
	go m.rotateTickets(o.TicketRotation)
	return m, nil
}

// Close stops ACME work and ticket rotation, releases the locks this node
// holds, and waits for its goroutines. Handshakes keep being answered with
// the last catalog. Calling Close again returns nil.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	workers := make([]*acmeWorker, 0, len(m.workers))
	for _, w := range m.workers {
		workers = append(workers, w)
	}
	m.mu.Unlock()
	m.cancel()
	for _, w := range workers {
		<-w.done
	}
	m.wg.Wait()
	if m.acme != nil {
		m.acme.close()
	}
	return nil
}

func (m *Manager) rotateTickets(every time.Duration) {
	defer m.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
			m.tickets.rotate()
		}
	}
}

// Sync makes the served set what d says: custom certificates are restored
// (unsealed and parsed; unchanged ones are kept as they are), ACME
// certificates start being obtained (or loaded from the store when another
// node already has them), and names no longer desired stop being served.
// The new catalog is published before Sync returns. Custom certificates
// that cannot be restored are left out and reported in the joined error
// (and by Status); the rest is applied regardless.
func (m *Manager) Sync(d Desired) error {
	now := m.now()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	var errs []error
	custom := make(map[string]*customEntry, len(d.Custom))
	for name, st := range d.Custom {
		if old := m.custom[name]; old != nil && old.stored.ChainPEM == st.ChainPEM && bytes.Equal(old.stored.SealedKey, st.SealedKey) {
			custom[name] = old
			if old.err != nil {
				errs = append(errs, old.err)
			}
			continue
		}
		c, err := Restore(st, m.sealer, now)
		if err != nil {
			err = fmt.Errorf("certificate %s: %w", name, err)
			errs = append(errs, err)
		}
		custom[name] = &customEntry{stored: st, cert: c, err: err}
	}
	m.custom = custom

	var stopped []*acmeWorker
	acmeNames := make(map[string]string, len(d.ACME))
	wanted := map[string]ACMESpec{}
	for name, spec := range d.ACME {
		id, names, err := spec.normalize()
		if err != nil {
			errs = append(errs, fmt.Errorf("certificate %s: %w", name, err))
			continue
		}
		acmeNames[name] = id
		wanted[id] = ACMESpec{CommonName: names[0], SubjectAlternativeNames: names[1:]}
	}
	m.acmeNames = acmeNames
	for id, w := range m.workers {
		if _, ok := wanted[id]; !ok {
			w.cancel()
			stopped = append(stopped, w)
			delete(m.workers, id)
		}
	}
	if m.acme != nil {
		for id, spec := range wanted {
			if m.workers[id] == nil {
				m.workers[id] = m.acme.start(id, spec)
			}
		}
	}
	m.publishLocked()
	m.mu.Unlock()
	for _, w := range stopped {
		<-w.done
	}
	return errors.Join(errs...)
}

// publishLocked builds a new catalog from the current entries and rebuilds
// every live frontend table. m.mu must be held.
func (m *Manager) publishLocked() {
	c := &catalog{certs: make(map[string]*tls.Certificate, len(m.custom)+len(m.acmeNames))}
	for name, e := range m.custom {
		if e.cert != nil {
			c.certs[name] = e.cert.TLS()
		}
	}
	for name, id := range m.acmeNames {
		if w := m.workers[id]; w != nil {
			if cert := w.cert.Load(); cert != nil {
				c.certs[name] = cert
			}
		}
	}
	m.catalog = c
	live := m.selectors[:0]
	for _, wp := range m.selectors {
		if s := wp.Value(); s != nil {
			s.table.Store(newTable(c, s.names))
			live = append(live, wp)
		}
	}
	clear(m.selectors[len(live):])
	m.selectors = live
}

// republish is called by ACME workers when their certificate changed.
func (m *Manager) republish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.publishLocked()
	}
}

// GetCertificateFunc returns a tls.Config.GetCertificate for a frontend
// listing names (in order; the first available is the default). It answers
// ACME TLS-ALPN-01 validations first (a config built by hand must then also
// offer acme-tls/1 in NextProtos; TLSConfig does it for you). On the hot
// path: two atomic loads and two map lookups, no allocation.
func (m *Manager) GetCertificateFunc(names []string) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s := &selector{names: append([]string(nil), names...)}
	m.mu.Lock()
	s.table.Store(newTable(m.catalog, s.names))
	m.selectors = append(m.selectors, weak.Make(s))
	m.mu.Unlock()
	e := m.acme
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if e != nil && isACMEHello(hello) {
			return e.challengeCert(hello)
		}
		return s.get(hello.ServerName)
	}
}

// HandleHTTPChallenge answers an ACME HTTP-01 validation request
// (GET /.well-known/acme-challenge/<token>) for a challenge started by any
// node sharing the store, and reports whether it did. Call it first on
// every plain-HTTP frontend (before redirects); it returns false at once
// for any other path.
func (m *Manager) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	if m.acme == nil || !IsHTTPChallengePath(r.URL.Path) {
		return false
	}
	return m.acme.issuer.HandleHTTPChallenge(w, r)
}

// HTTPChallengePrefix is the path prefix of ACME HTTP-01 validations.
const HTTPChallengePrefix = "/.well-known/acme-challenge/"

// IsHTTPChallengePath reports whether a request path is an ACME HTTP-01
// validation; cheap enough for every request.
func IsHTTPChallengePath(p string) bool {
	return len(p) > len(HTTPChallengePrefix) && p[:len(HTTPChallengePrefix)] == HTTPChallengePrefix
}

// Status returns what the API shows of a certificate by gantry name:
// custom certificates with their validity at the current time, ACME ones
// with their progress. ok is false for an unknown name.
func (m *Manager) Status(name string) (Info, bool) {
	now := m.now()
	m.mu.Lock()
	e := m.custom[name]
	id, isACME := m.acmeNames[name]
	w := m.workers[id]
	hasACME := m.acme != nil
	m.mu.Unlock()
	switch {
	case e != nil && e.cert != nil:
		return e.cert.InfoAt(now), true
	case e != nil:
		return Info{Type: TypeCustom, SubjectAlternativeName: []string{}, Status: StatusError, StatusDetails: e.err.Error()}, true
	case isACME && w != nil:
		return w.status(), true
	case isACME && !hasACME:
		return Info{Type: TypeLetsEncrypt, SubjectAlternativeName: []string{}, Status: StatusError, StatusDetails: "ACME is not configured on this node (no store)"}, true
	}
	return Info{}, false
}

// Statuses returns Status for every certificate, by name.
func (m *Manager) Statuses() map[string]Info {
	m.mu.Lock()
	names := slicesSorted(maps.Keys(m.custom), maps.Keys(m.acmeNames))
	m.mu.Unlock()
	out := make(map[string]Info, len(names))
	for _, n := range names {
		if in, ok := m.Status(n); ok {
			out[n] = in
		}
	}
	return out
}

func slicesSorted(seqs ...iter.Seq[string]) []string {
	var out []string
	for _, seq := range seqs {
		for k := range seq {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// RetryACME ends the wait after a failed order of a letsencrypt
// certificate, so that it is ordered again at once (by whichever node takes
// the lock), for instance once DNS points at gantry.
func (m *Manager) RetryACME(ctx context.Context, name string) error {
	m.mu.Lock()
	id, ok := m.acmeNames[name]
	w := m.workers[id]
	m.mu.Unlock()
	if !ok || w == nil {
		return fmt.Errorf("certs: no ACME certificate named %q on this node", name)
	}
	return m.acme.retry(ctx, w)
}

// Issued returns how many certificates this Manager obtained from the CA
// since it started (renewals included).
func (m *Manager) Issued() int64 {
	if m.acme == nil {
		return 0
	}
	return m.acme.issued.Load()
}
