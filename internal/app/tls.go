package app

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/gantry-lb/gantry/internal/certs"
	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/listener"
	"github.com/gantry-lb/gantry/internal/snapshot"
	"github.com/gantry-lb/gantry/internal/store"
)

// TLS termination. One certs.Manager per data plane holds the certificates
// (custom ones unsealed with the data directory's key, ACME ones obtained
// through the store, so every node on it shares them), and builds each
// https frontend's *tls.Config, which the snapshot carries. Certificates are
// looked up per handshake from the Manager's catalog: a certificate
// replaced through the API reaches new handshakes as soon as the revision
// is applied, while open connections keep theirs.

// ACMEOptions is how gantry serve obtains certificates of type letsencrypt.
type ACMEOptions struct {
	// DirectoryURL of the ACME CA (default Let's Encrypt's production
	// directory).
	DirectoryURL string
	// CABundleFile is a PEM file of CAs trusted for the CA's HTTPS
	// endpoint besides the system roots (pebble's, in tests).
	CABundleFile string
	// Email is the ACME account contact (optional).
	Email string
	// HTTPPort and TLSALPNPort are where the CA validates HTTP-01 and
	// TLS-ALPN-01 (default 80 and 443): frontends on those ports answer.
	HTTPPort, TLSALPNPort int
	// ListenHost is where certmagic answers validations itself when no
	// frontend holds those ports (default: every address).
	ListenHost string
	// DisableHTTP01 and DisableTLSALPN01 turn a challenge type off.
	DisableHTTP01, DisableTLSALPN01 bool
	// RetryMin is the first wait after a failed order (default 5 min).
	RetryMin time.Duration
	// NodeID names this node in the store's locks (default: the host name).
	NodeID string
}

// tlsHandshakeTimeout bounds a client's TLS handshake when its frontend
// has no timeout_http_request.
const tlsHandshakeTimeout = 10 * time.Second

// tlsState is the TLS side of a Dataplane; guarded by Dataplane.mu.
type tlsState struct {
	m       *certs.Manager
	configs map[string]tlsEntry // by "lb/frontend"
	synced  *certs.Desired      // what the Manager was last given
}

// tlsEntry is a frontend's *tls.Config and the options it was built from.
type tlsEntry struct {
	key string
	cfg *tls.Config
}

// NewCertManager returns the Manager of gantry serve: custom certificates
// unsealed with sealer, ACME through st (shared by every node on it).
func NewCertManager(st store.Store, sealer *certs.Sealer, o ACMEOptions, log *slog.Logger) (*certs.Manager, error) {
	ao := certs.ACMEOptions{DirectoryURL: o.DirectoryURL, Email: o.Email, HTTPPort: o.HTTPPort, TLSALPNPort: o.TLSALPNPort,
		ListenHost: o.ListenHost, RetryMin: o.RetryMin, NodeID: o.NodeID,
		DisableHTTP01: o.DisableHTTP01, DisableTLSALPN01: o.DisableTLSALPN01}
	if o.CABundleFile != "" {
		b, err := os.ReadFile(o.CABundleFile)
		if err != nil {
			return nil, fmt.Errorf("--acme-ca-bundle: %w", err)
		}
		ao.CABundle = string(b)
	}
	m, err := certs.New(certs.Options{Logger: log, Sealer: sealer, Store: st, ACME: ao})
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	return m, nil
}

// SetCertificates gives the data plane the Manager that serves https
// frontends and answers ACME validations on http ones. Call it before the
// first Apply; without it, a config with an https frontend is refused. The
// caller closes the Manager after Shutdown.
func (d *Dataplane) SetCertificates(m *certs.Manager) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tls.m = m
	d.http.SetChallenges(m)
}

// CertStatus reports how this data plane serves certificate name (false:
// it does not know it, or has no Manager).
func (d *Dataplane) CertStatus(name string) (certs.Info, bool) {
	d.mu.Lock()
	m := d.tls.m
	d.mu.Unlock()
	if m == nil {
		return certs.Info{}, false
	}
	return m.Status(name)
}

// isTLSFrontend reports whether f terminates TLS once defaults apply: its
// protocol is https, or is derived and it lists certificates (validation
// allows certificates on https frontends only).
func isTLSFrontend(f *config.Frontend) bool {
	return f.Protocol == config.ProtocolHTTPS || f.Protocol == "" && len(f.Certificates) > 0
}

// attachTLS sets the TLS settings of cfg's frontends on snap before it is
// published: each https frontend's *tls.Config (reused while its options
// do not change), HSTS as a response header rule, and the redirects of
// http frontends. Not on the hot path.
func (d *Dataplane) attachTLS(snap *snapshot.Snapshot, cfg *config.Config) error {
	type want struct {
		lb string
		f  *config.Frontend
	}
	var wants []want
	for i := range cfg.LBs {
		lb := &cfg.LBs[i]
		for j := range lb.Frontends {
			if f := &lb.Frontends[j]; isTLSFrontend(f) || f.HTTPSRedirect != nil {
				wants = append(wants, want{lb.Name, f})
			}
		}
	}
	if len(wants) == 0 {
		d.tls.configs = nil
		return nil
	}
	byName := map[string][]*snapshot.Frontend{}
	for _, fe := range snap.Frontends() {
		byName[fe.LB+"/"+fe.Name] = append(byName[fe.LB+"/"+fe.Name], fe)
	}
	configs := make(map[string]tlsEntry, len(wants))
	for _, w := range wants {
		key := w.lb + "/" + w.f.Name
		fes := byName[key]
		if len(fes) == 0 {
			continue
		}
		if r := w.f.HTTPSRedirect; r != nil && !isTLSFrontend(w.f) {
			code := r.Code
			if code == 0 {
				code = config.DefaultRedirectCode
			}
			for _, fe := range fes {
				fe.HTTPSRedirect, fe.HTTPSPort = code, r.Port
			}
			continue
		}
		if d.tls.m == nil {
			return fmt.Errorf("lbs[%s].frontends[%s]: TLS termination needs gantry serve (its data directory holds the key that opens certificates)", w.lb, w.f.Name)
		}
		entry, err := d.tlsConfig(key, w.f)
		if err != nil {
			return fmt.Errorf("lbs[%s].frontends[%s]: %w", w.lb, w.f.Name, err)
		}
		configs[key] = entry
		var rules []snapshot.HeaderRule
		if h := w.f.HSTS; h != nil {
			rules = append(slices.Clone(fes[0].ResponseHeaders), snapshot.HeaderRule{Action: snapshot.HeaderSet,
				Name: "Strict-Transport-Security", Value: []byte(h.Value())})
		}
		for _, fe := range fes {
			fe.TLS = entry.cfg
			if rules != nil {
				fe.ResponseHeaders = rules
			}
		}
	}
	d.tls.configs = configs
	return nil
}

// tlsConfig returns the *tls.Config of frontend key, the one built before
// when its options are the same.
func (d *Dataplane) tlsConfig(key string, f *config.Frontend) (tlsEntry, error) {
	ca := sha256.Sum256([]byte(f.ClientAuth + "\x00" + f.ClientCA))
	o := certs.TLSOptions{
		Certificates: f.Certificates,
		Profile:      certs.Profile(f.SSLCompatibilityLevel),
		DisableHTTP2: f.DisableHTTP2,
		ClientCA:     f.ClientCA,
		ClientAuth:   certs.ClientAuth(f.ClientAuth),
		// A session resumes only on the frontend, and with the client
		// CA, it was established with.
		TicketScope: key + "|" + hex.EncodeToString(ca[:8]),
	}
	optsKey := fmt.Sprintf("%q|%s|%t|%s", o.Certificates, o.Profile, o.DisableHTTP2, o.TicketScope)
	if e, ok := d.tls.configs[key]; ok && e.key == optsKey {
		return e, nil
	}
	cfg, err := d.tls.m.TLSConfig(o)
	if err != nil {
		var ve *certs.ValidationError
		if errors.As(err, &ve) {
			return tlsEntry{}, fmt.Errorf("%s: %s", ve.Field, ve.Reason)
		}
		return tlsEntry{}, err
	}
	return tlsEntry{key: optsKey, cfg: cfg}, nil
}

// syncCerts gives the Manager the certificates of cfg when they changed.
// A certificate that cannot be restored is logged and shown by its status;
// it never keeps a revision from being applied.
func (d *Dataplane) syncCerts(cfg *config.Config) {
	m := d.tls.m
	if m == nil {
		return
	}
	want := certs.Desired{Custom: map[string]certs.Stored{}, ACME: map[string]certs.ACMESpec{}}
	for i := range cfg.Certificates {
		c := &cfg.Certificates[i]
		switch c.Type {
		case config.CertCustom:
			want.Custom[c.Name] = certs.Stored{ChainPEM: c.ChainPEM, SealedKey: c.SealedKey}
		case config.CertLetsEncrypt:
			want.ACME[c.Name] = certs.ACMESpec{CommonName: c.CommonName, SubjectAlternativeNames: c.SubjectAlternativeName}
		}
	}
	if prev := d.tls.synced; prev != nil && sameDesired(*prev, want) {
		return
	}
	d.tls.synced = &want
	if err := m.Sync(want); err != nil {
		d.log.Warn("certificates not served", "err", err)
	}
}

func sameDesired(a, b certs.Desired) bool {
	return maps.EqualFunc(a.Custom, b.Custom, func(x, y certs.Stored) bool {
		return x.ChainPEM == y.ChainPEM && string(x.SealedKey) == string(y.SealedKey)
	}) && maps.EqualFunc(a.ACME, b.ACME, func(x, y certs.ACMESpec) bool {
		return x.CommonName == y.CommonName && slices.Equal(x.SubjectAlternativeNames, y.SubjectAlternativeNames)
	})
}

// serveTLS runs the TLS handshake of a connection to an https frontend,
// within its timeout_http_request, then hands it to the HTTP proxy. A
// connection that only answered an ACME TLS-ALPN-01 validation is closed.
func (d *Dataplane) serveTLS(c *listener.Conn, fe *snapshot.Frontend) {
	if fe.TLS == nil {
		return // an https frontend without its config is never served in clear
	}
	timeout := fe.TimeoutHTTPRequest
	if timeout <= 0 {
		timeout = tlsHandshakeTimeout
	}
	tc := tls.Server(c.Conn, fe.TLS)
	c.Conn.SetDeadline(time.Now().Add(timeout))
	if err := tc.Handshake(); err != nil {
		d.debug("TLS handshake failed", "frontend", fe.Name, "remote", c.Peer, "err", err)
		return
	}
	c.Conn.SetDeadline(time.Time{})
	if certs.IsACMEChallenge(tc.ConnectionState()) {
		tc.Close()
		return
	}
	d.http.ServeTLS(c, tc)
}

// startCertificates opens the data directory's sealing key (created on
// first use, 0600) and starts the Manager of gantry serve over st.
func startCertificates(o ServeOptions, st store.Store, d *Dataplane) (*certs.Manager, *certs.Sealer, error) {
	sealer, err := certs.OpenSealer(o.DataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("certificates: %w", err)
	}
	m, err := NewCertManager(st, sealer, o.ACME, o.Log)
	if err != nil {
		return nil, nil, err
	}
	d.SetCertificates(m)
	return m, sealer, nil
}
