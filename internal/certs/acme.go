package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"

	"github.com/gantry-lb/gantry/internal/store"
)

// LetsEncryptDirectory is the default ACME directory.
const LetsEncryptDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// ACMEOptions configures how certificates of type letsencrypt are obtained.
type ACMEOptions struct {
	// DirectoryURL of the ACME CA; default LetsEncryptDirectory.
	DirectoryURL string
	// CABundle is a PEM bundle trusted, besides the system roots, for the
	// CA's HTTPS endpoint (pebble's test CA in tests).
	CABundle string
	// Email is the ACME account contact; optional.
	Email string
	// DisableHTTP01 / DisableTLSALPN01 turn a challenge type off. Leave
	// both on unless a frontend cannot answer one.
	DisableHTTP01    bool
	DisableTLSALPN01 bool
	// HTTPPort and TLSALPNPort are the ports the CA validates on (80 and
	// 443 in production; tests point pebble elsewhere). They matter only
	// when no gantry listener holds that port: certmagic then answers
	// from a short-lived listener of its own on ListenHost:port.
	HTTPPort    int
	TLSALPNPort int
	ListenHost  string
	// Profile asks the CA for a certificate profile (ACME profiles
	// extension, e.g. "shortlived"); empty for the CA's default.
	Profile string
	// RenewalWindowRatio is the part of a certificate's lifetime, at its
	// end, in which it is renewed; default 1/3.
	RenewalWindowRatio float64
	// RetryMin and RetryMax bound the wait after a failed order, which
	// doubles from RetryMin at each failure; defaults 5 minutes and 1 hour
	// (Let's Encrypt allows 5 failed validations per name and hour).
	RetryMin, RetryMax time.Duration
	// ObtainTimeout bounds one order, challenges included; default 5
	// minutes.
	ObtainTimeout time.Duration
	// LockTTL and LockPoll: see StorageOptions (defaults 2m and 1s).
	LockTTL, LockPoll time.Duration
	// Prefix of every store key; default "acme/".
	Prefix string
	// NodeID names this node in lock values; default the host name.
	NodeID string
}

// ACMESpec is the wanted content of an ACME certificate: CommonName and
// extra names, all DNS names validated with HTTP-01 or TLS-ALPN-01.
type ACMESpec struct {
	CommonName              string   `json:"common_name"`
	SubjectAlternativeNames []string `json:"subject_alternative_name,omitempty"`
}

// Validate checks the names as the API receives them (errors are
// *ValidationError naming common_name or subject_alternative_name[i]).
func (s ACMESpec) Validate() error {
	_, _, err := s.normalize()
	return err
}

// normalize returns the set id and the names, common name first, lower
// case and without duplicates.
func (s ACMESpec) normalize() (string, []string, error) {
	cn := strings.ToLower(strings.TrimSpace(s.CommonName))
	if cn == "" {
		return "", nil, invalid("common_name", "is required")
	}
	if err := checkACMEName("common_name", cn); err != nil {
		return "", nil, err
	}
	names := []string{cn}
	for i, n := range s.SubjectAlternativeNames {
		n = strings.ToLower(strings.TrimSpace(n))
		field := "subject_alternative_name[" + strconv.Itoa(i) + "]"
		if err := checkACMEName(field, n); err != nil {
			return "", nil, err
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) > 100 {
		return "", nil, invalid("subject_alternative_name", "at most 99 names besides common_name")
	}
	sorted := slices.Sorted(slices.Values(names))
	sum := sha256.Sum256([]byte(strings.Join(sorted, ",")))
	return cn + "-" + hex.EncodeToString(sum[:6]), names, nil
}

func checkACMEName(field, n string) error {
	switch {
	case n == "":
		return invalid(field, "is empty")
	case strings.HasPrefix(n, "*."):
		return invalid(field, "wildcard names need the DNS-01 challenge, which gantry does not offer")
	case net.ParseIP(n) != nil:
		return invalid(field, "IP addresses are not supported for ACME certificates")
	case len(n) > 253:
		return invalid(field, "is longer than 253 characters")
	}
	labels := strings.Split(n, ".")
	if len(labels) < 2 {
		return invalid(field, "must be a fully qualified domain name (at least two labels)")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return invalid(field, "has an empty label or one longer than 63 characters")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return invalid(field, "has a label starting or ending with '-'")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return invalid(field, fmt.Sprintf("has the character %q; use letters, digits and '-' (punycode xn-- for international names)", c))
			}
		}
	}
	return nil
}

// acmeEngine is the ACME side of a Manager: certmagic's issuer (accounts,
// orders, challenge solving, distributed through the store) driven by one
// worker per certificate.
type acmeEngine struct {
	m       *Manager
	opts    ACMEOptions
	st      store.Store
	storage *Storage
	cache   *certmagic.Cache
	magic   *certmagic.Config
	issuer  *certmagic.ACMEIssuer
	caKey   string
	log     *slog.Logger
	ctx     context.Context

	challengeConfig *tls.Config // answers TLS-ALPN-01 validations

	issued  atomic.Int64
	changed atomic.Pointer[chan struct{}] // closed and replaced on every store commit
}

func newACMEEngine(ctx context.Context, m *Manager, st store.Store, o ACMEOptions) (*acmeEngine, error) {
	if o.DirectoryURL == "" {
		o.DirectoryURL = LetsEncryptDirectory
	}
	u, err := url.Parse(o.DirectoryURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("certs: ACME directory URL %q is not a URL", o.DirectoryURL)
	}
	if o.RenewalWindowRatio <= 0 || o.RenewalWindowRatio >= 1 {
		o.RenewalWindowRatio = 1.0 / 3
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 5 * time.Minute
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(time.Hour, o.RetryMin)
	}
	if o.ObtainTimeout <= 0 {
		o.ObtainTimeout = 5 * time.Minute
	}
	if o.LockPoll <= 0 {
		o.LockPoll = time.Second
	}
	if o.Prefix == "" {
		o.Prefix = "acme/"
	}
	log := m.log.With("component", "certs.acme")
	storage, err := NewStorage(st, StorageOptions{
		Prefix: o.Prefix, Sealer: m.sealer, Owner: o.NodeID,
		LockTTL: o.LockTTL, LockPoll: o.LockPoll, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	var roots *x509.CertPool
	if o.CABundle != "" {
		roots, err = x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		certsIn, _, err := decodeField("acme_ca_bundle", o.CABundle)
		if err != nil {
			return nil, err
		}
		if len(certsIn) == 0 {
			return nil, invalid("acme_ca_bundle", "no certificate found")
		}
		for _, c := range certsIn {
			roots.AddCert(c)
		}
	}
	zl := zapToSlog(log)
	e := &acmeEngine{m: m, opts: o, st: st, storage: storage, log: log, ctx: ctx}
	e.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return e.magic, nil },
		Logger:           zl,
	})
	e.magic = certmagic.New(e.cache, certmagic.Config{Storage: storage, Logger: zl})
	e.issuer = certmagic.NewACMEIssuer(e.magic, certmagic.ACMEIssuer{
		CA:                      o.DirectoryURL,
		TestCA:                  o.DirectoryURL,
		Email:                   o.Email,
		Agreed:                  true,
		DisableHTTPChallenge:    o.DisableHTTP01,
		DisableTLSALPNChallenge: o.DisableTLSALPN01,
		ListenHost:              o.ListenHost,
		AltHTTPPort:             o.HTTPPort,
		AltTLSALPNPort:          o.TLSALPNPort,
		TrustedRoots:            roots,
		CertObtainTimeout:       o.ObtainTimeout,
		Profile:                 o.Profile,
		Logger:                  zl,
	})
	e.magic.Issuers = []certmagic.Issuer{e.issuer}
	e.challengeConfig = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{ALPNACME},
		GetCertificate: e.challengeCert,
	}
	e.caKey = sanitizeKey(u.Host + u.Path)
	ch := make(chan struct{})
	e.changed.Store(&ch)
	watch := st.Watch(ctx)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for range watch {
			next := make(chan struct{})
			close(*e.changed.Swap(&next))
		}
	}()
	return e, nil
}

func (e *acmeEngine) close() {
	e.cache.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.storage.releaseAll(ctx)
}

func (e *acmeEngine) changes() <-chan struct{} { return *e.changed.Load() }

// challengeCert answers a TLS-ALPN-01 validation for a challenge started by
// any node sharing the store.
func (e *acmeEngine) challengeCert(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return e.magic.GetCertificate(hello)
}

// configForClient is a tls.Config.GetConfigForClient: nil (use the
// frontend's config) unless the hello is a TLS-ALPN-01 validation. On the
// hot path: a length check, no allocation.
func (e *acmeEngine) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	if isACMEHello(hello) {
		return e.challengeConfig, nil
	}
	return nil, nil
}

func isACMEHello(hello *tls.ClientHelloInfo) bool {
	return len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == ALPNACME
}

func (e *acmeEngine) recordKey(id string) string {
	return e.storage.prefix + subCerts + e.caKey + "/" + id
}

func sanitizeKey(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	return strings.Trim(string(b), "-")
}

// acmeRecord is what the store keeps of one ACME certificate, shared by
// every node: the current certificate (key sealed) and the last failure.
// Only the holder of the certificate's lock writes it.
type acmeRecord struct {
	Names       []string  `json:"names"`
	ChainPEM    string    `json:"chain_pem,omitempty"`
	SealedKey   []byte    `json:"sealed_key,omitempty"`
	NotBefore   time.Time `json:"not_before,omitzero"`
	NotAfter    time.Time `json:"not_after,omitzero"`
	ObtainedAt  time.Time `json:"obtained_at,omitzero"`
	ObtainedBy  string    `json:"obtained_by,omitempty"`
	Issuances   int       `json:"issuances"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Failures    int       `json:"failures,omitempty"`
	RetryAt     time.Time `json:"retry_at,omitzero"`
}

// loadRecord reads a record; a missing one is an empty record at rev 0.
func (e *acmeEngine) loadRecord(ctx context.Context, key string) (acmeRecord, uint64, error) {
	var rec acmeRecord
	kv, err := e.st.Get(ctx, key, 0)
	if errors.Is(err, store.ErrNotFound) {
		return rec, 0, nil
	}
	if err != nil {
		return rec, 0, err
	}
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return rec, kv.ModRevision, fmt.Errorf("decoding %s: %w", key, err)
	}
	return rec, kv.ModRevision, nil
}

func (e *acmeEngine) saveRecord(ctx context.Context, key string, rec acmeRecord, why string) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return e.storage.update(ctx, key, why, func([]byte, bool) ([]byte, bool, bool, error) { return v, false, false, nil })
}

// openRecord turns a record's chain and sealed key into a Certificate.
func (e *acmeEngine) openRecord(rec acmeRecord) (*Certificate, error) {
	der, err := e.m.sealer.Open(rec.SealedKey)
	if err != nil {
		return nil, err
	}
	return assemble([]byte(rec.ChainPEM), der)
}

// assemble validates a PEM chain and a PKCS#8 key into a Certificate,
// whatever the current time.
func assemble(chainPEM, pkcs8 []byte) (*Certificate, error) {
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	certsIn, _, err := decodeField(FieldChain, string(chainPEM))
	if err != nil {
		return nil, err
	}
	_, keys, err := decodeField(FieldKey, string(keyPEM))
	if err != nil {
		return nil, err
	}
	if len(certsIn) == 0 || len(keys) != 1 {
		return nil, errors.New("incomplete certificate")
	}
	leafStart := certsIn[0].NotBefore
	for _, c := range certsIn {
		if publicKeysEqual(c.PublicKey, keys[0].Public()) {
			leafStart = c.NotBefore
		}
	}
	return buildCertificate(certsIn, keys[0], FieldKey, leafStart)
}

// acmeWorker obtains, loads and renews one ACME certificate (one set of
// names). Its goroutine is the only writer of its fields but cert and
// info, which handshakes and Status read.
type acmeWorker struct {
	e      *acmeEngine
	id     string
	names  []string
	key    string // store key of the record
	lock   string // lock name
	cancel context.CancelFunc
	done   chan struct{}

	cert    atomic.Pointer[tls.Certificate]
	info    atomic.Pointer[Info]
	current *Certificate // what cert holds; the worker goroutine's only
}

func (e *acmeEngine) start(id string, spec ACMESpec) *acmeWorker {
	ctx, cancel := context.WithCancel(e.ctx)
	w := &acmeWorker{
		e: e, id: id,
		names:  append([]string{spec.CommonName}, spec.SubjectAlternativeNames...),
		key:    e.recordKey(id),
		lock:   "gantry_obtain_" + e.caKey + "_" + id,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	w.setInfo(StatusPending, "waiting for the certificate authority", nil)
	go w.run(ctx)
	return w
}

func (w *acmeWorker) status() Info { return cloneInfo(*w.info.Load()) }

func (w *acmeWorker) setInfo(st Status, details string, c *Certificate) {
	var in Info
	if c != nil {
		in = describeLeaf(TypeLetsEncrypt, c.tls.Leaf)
	} else {
		in = Info{Type: TypeLetsEncrypt, CommonName: w.names[0], SubjectAlternativeName: append([]string{}, w.names[1:]...)}
	}
	in.Status, in.StatusDetails = st, details
	w.info.Store(&in)
}

func (w *acmeWorker) run(ctx context.Context) {
	defer close(w.done)
	var applied uint64
	for {
		changed := w.e.changes()
		rec, rev, err := w.e.loadRecord(ctx, w.key)
		if ctx.Err() != nil {
			return
		}
		wait := w.e.opts.LockPoll
		switch {
		case err != nil:
			w.e.log.Warn("reading ACME certificate record", "names", w.names, "err", err)
			wait = 5 * time.Second
		default:
			if rev != applied || rev == 0 {
				w.apply(rec)
				applied = rev
			}
			act, at := w.plan(rec, time.Now())
			if !act {
				wait = time.Until(at)
				break
			}
			took, err := w.e.storage.TryLock(ctx, w.lock)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				w.e.log.Warn("taking ACME lock", "names", w.names, "err", err)
				break
			}
			if !took {
				w.e.log.Debug("ACME lock held elsewhere; waiting", "names", w.names)
				if w.cert.Load() == nil {
					w.setInfo(StatusPending, "another node is obtaining this certificate", nil)
				}
				break
			}
			w.obtainLocked(ctx)
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := w.e.storage.Unlock(uctx, w.lock); err != nil {
				w.e.log.Warn("releasing ACME lock", "names", w.names, "err", err)
			}
			cancel()
			continue
		}
		t := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// plan says whether the certificate must be obtained (or renewed) now, or
// else when to look again.
func (w *acmeWorker) plan(rec acmeRecord, now time.Time) (bool, time.Time) {
	if rec.ChainPEM != "" {
		life := rec.NotAfter.Sub(rec.NotBefore)
		renewAt := rec.NotAfter.Add(-time.Duration(w.e.opts.RenewalWindowRatio * float64(life)))
		if now.Before(renewAt) {
			return false, renewAt
		}
	}
	if !rec.RetryAt.IsZero() && now.Before(rec.RetryAt) {
		return false, rec.RetryAt
	}
	return true, now
}

// apply serves the record's certificate (if new) and sets the status.
func (w *acmeWorker) apply(rec acmeRecord) {
	var failure string
	waiting := rec.RetryAt.After(time.Now())
	if rec.LastError != "" {
		failure = rec.LastError
		if waiting {
			failure += " (next attempt at " + rec.RetryAt.UTC().Format(time.RFC3339) + ")"
		}
	}
	if rec.ChainPEM == "" {
		switch {
		case failure != "" && waiting:
			w.setInfo(StatusError, failure, nil)
		case failure != "":
			w.setInfo(StatusPending, "retrying; the last attempt failed: "+failure, nil)
		}
		return
	}
	c, err := w.e.openRecord(rec)
	if err != nil {
		w.setInfo(StatusError, "the stored certificate cannot be opened: "+err.Error(), nil)
		return
	}
	details := ""
	if failure != "" {
		details = "renewal failed: " + failure
	}
	if time.Now().After(c.tls.Leaf.NotAfter) {
		w.setInfo(StatusError, joinDetails("expired on "+c.tls.Leaf.NotAfter.UTC().Format(time.RFC3339), details), c)
	} else {
		w.setInfo(StatusReady, details, c)
	}
	if w.current == nil || w.current.info.FingerprintSHA256 != c.info.FingerprintSHA256 {
		w.current = c
		w.cert.Store(c.TLS())
		w.e.m.republish()
		w.e.log.Info("serving ACME certificate", "names", w.names, "not_after", c.tls.Leaf.NotAfter, "sha256", c.info.FingerprintSHA256)
	}
}

func joinDetails(a, b string) string {
	if b == "" {
		return a
	}
	return a + "; " + b
}

// obtainLocked orders a certificate while holding the lock, after checking
// that no other node did meanwhile, and records the outcome.
func (w *acmeWorker) obtainLocked(ctx context.Context) {
	rec, _, err := w.e.loadRecord(ctx, w.key)
	if err != nil {
		w.e.log.Warn("reading ACME certificate record", "names", w.names, "err", err)
		return
	}
	if act, _ := w.plan(rec, time.Now()); !act {
		return // another node obtained it while we waited for the lock
	}
	if w.cert.Load() == nil {
		w.setInfo(StatusPending, "ordering from "+w.e.opts.DirectoryURL, nil)
	}
	w.e.log.Info("ordering ACME certificate", "names", w.names, "renewal", rec.ChainPEM != "")
	c, err := w.order(ctx)
	if ctx.Err() != nil {
		return // stopped: neither a success nor the CA's failure
	}
	now := time.Now()
	if err != nil {
		rec.Names = w.names
		rec.LastError = caReason(err)
		rec.LastErrorAt = now
		rec.Failures++
		rec.RetryAt = now.Add(w.backoff(rec.Failures))
		w.e.log.Warn("ACME order failed", "names", w.names, "err", err, "retry_at", rec.RetryAt)
	} else {
		sealed, serr := w.e.m.sealer.Seal(c.keyPKCS)
		if serr != nil {
			w.e.log.Error("sealing ACME key", "err", serr)
			return
		}
		rec = acmeRecord{
			Names: w.names, ChainPEM: c.ChainPEM(), SealedKey: sealed,
			NotBefore: c.tls.Leaf.NotBefore, NotAfter: c.tls.Leaf.NotAfter,
			ObtainedAt: now, ObtainedBy: w.e.storage.owner, Issuances: rec.Issuances + 1,
		}
		w.e.issued.Add(1)
	}
	if err := w.e.saveRecord(ctx, w.key, rec, "acme: certificate "+w.names[0]); err != nil {
		w.e.log.Error("saving ACME certificate record", "names", w.names, "err", err)
	}
}

func (w *acmeWorker) backoff(failures int) time.Duration {
	d := w.e.opts.RetryMin
	for i := 1; i < failures && d < w.e.opts.RetryMax; i++ {
		d *= 2
	}
	return min(d, w.e.opts.RetryMax)
}

// order makes a key and a CSR and has the CA sign it.
func (w *acmeWorker) order(ctx context.Context) (*Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.CertificateRequest{DNSNames: w.names}
	if len(w.names[0]) <= 64 {
		tmpl.Subject.CommonName = w.names[0]
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("making CSR: %w", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("making CSR: %w", err)
	}
	octx, cancel := context.WithTimeout(ctx, w.e.opts.ObtainTimeout)
	defer cancel()
	if err := w.e.issuer.PreCheck(octx, w.names, false); err != nil {
		return nil, err
	}
	ic, err := w.e.issuer.Issue(octx, csr)
	if err != nil {
		return nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	c, err := assemble(ic.Certificate, pkcs8)
	if err != nil {
		return nil, fmt.Errorf("the CA returned an unusable certificate: %w", err)
	}
	for _, n := range w.names {
		if err := c.tls.Leaf.VerifyHostname(n); err != nil {
			return nil, fmt.Errorf("the CA returned a certificate without %s", n)
		}
	}
	return c, nil
}

// retry clears the record's backoff so that every node tries again now.
func (e *acmeEngine) retry(ctx context.Context, w *acmeWorker) error {
	return e.storage.update(ctx, w.key, "acme: retry "+w.names[0], func(cur []byte, exists bool) ([]byte, bool, bool, error) {
		var rec acmeRecord
		if !exists || json.Unmarshal(cur, &rec) != nil || rec.RetryAt.IsZero() {
			return nil, false, true, nil
		}
		rec.RetryAt = time.Time{}
		v, err := json.Marshal(rec)
		return v, false, false, err
	})
}

// caReason renders an order failure for status_details, with the CA's
// problem document when there is one.
func caReason(err error) string {
	var p acme.Problem
	if !errors.As(err, &p) {
		return err.Error()
	}
	s := p.Detail
	if s == "" {
		s = p.Title
	}
	for _, sp := range p.Subproblems {
		s += "; " + sp.Identifier.Value + ": " + sp.Detail
	}
	return "the CA refused: " + s + " (" + p.Type + ")"
}
