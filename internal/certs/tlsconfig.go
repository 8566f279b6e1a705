package certs

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"sync"
	"weak"
)

// Profile is a TLS compatibility level after Mozilla's server-side TLS
// guidelines, as Scaleway's ssl_compatibility_level names them.
type Profile string

// The profiles. What Go's crypto/tls cannot do is left out: it has no
// finite-field DHE, no ECDHE-*-AES256-SHA384 CBC suites, and its CBC-SHA256
// suites lack Lucky13 countermeasures, so those are not offered.
const (
	// ProfileModern: TLS 1.3 only (all its suites are AEAD).
	ProfileModern Profile = "modern"
	// ProfileIntermediate (the default): TLS 1.2 and 1.3; for 1.2 only
	// ECDHE with AES-GCM or ChaCha20-Poly1305.
	ProfileIntermediate Profile = "intermediate"
	// ProfileOld: TLS 1.0 to 1.3 for old clients: the intermediate suites,
	// then ECDHE with AES-CBC-SHA, then RSA key exchange with AES-GCM and
	// AES-CBC-SHA. No RC4 and no 3DES (Sweet32), which Mozilla's old
	// profile still lists for IE 8 on Windows XP.
	ProfileOld Profile = "old"
)

// ParseProfile accepts a profile name, Scaleway's ssl_compatibility_level
// value (ssl_compatibility_level_modern, ..._intermediate, ..._old), or ""
// (and Scaleway's ..._unknown) for the default, intermediate.
func ParseProfile(s string) (Profile, error) {
	p := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "ssl_compatibility_level_")
	switch p {
	case "", "unknown", string(ProfileIntermediate):
		return ProfileIntermediate, nil
	case string(ProfileModern):
		return ProfileModern, nil
	case string(ProfileOld):
		return ProfileOld, nil
	}
	return "", invalid("ssl_compatibility_level", fmt.Sprintf("unknown profile %q (want modern, intermediate or old)", s))
}

var intermediateSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

var oldSuites = append(append([]uint16(nil), intermediateSuites...),
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_RSA_WITH_AES_256_CBC_SHA,
)

// ClientAuth says whether a frontend asks for client certificates.
type ClientAuth string

// The client authentication modes.
const (
	ClientAuthNone     ClientAuth = ""         // no client certificate asked
	ClientAuthOptional ClientAuth = "optional" // verified against ClientCA if given
	ClientAuthRequired ClientAuth = "required" // must be given and verify
)

// ALPN protocol names.
const (
	ALPNHTTP2  = "h2"
	ALPNHTTP11 = "http/1.1"
	// ALPNACME is the protocol of the TLS-ALPN-01 challenge (RFC 8737). A
	// connection that negotiated it carries no traffic: close it after the
	// handshake (see IsACMEChallenge).
	ALPNACME = "acme-tls/1"
)

// IsACMEChallenge reports whether a finished handshake answered an ACME
// TLS-ALPN-01 validation; the listener must then close the connection
// instead of serving it.
func IsACMEChallenge(cs tls.ConnectionState) bool { return cs.NegotiatedProtocol == ALPNACME }

// TLSOptions describes one TLS frontend.
type TLSOptions struct {
	// Certificates are gantry certificate names in order: SNI picks the
	// first whose names match exactly, then the first whose wildcard
	// matches, else the first listed that is available (the default).
	Certificates []string
	// Profile; "" means intermediate.
	Profile Profile
	// DisableHTTP2 leaves h2 out of ALPN (only http/1.1 is offered).
	DisableHTTP2 bool
	// NextProtos, if set, replaces the ALPN list (e.g. nothing for a TCP
	// frontend terminating TLS); DisableHTTP2 is then ignored.
	NextProtos []string
	// ClientCA is a PEM bundle of the CAs client certificates must chain
	// to; with ClientAuth "" it means ClientAuthRequired.
	ClientCA   string
	ClientAuth ClientAuth
	// TicketScope separates session tickets: a ticket issued under one
	// scope never resumes under another. Use the frontend's identity, so
	// that a session established without (or with another) client CA
	// cannot be resumed on an mTLS frontend.
	TicketScope string
	// DisableSessionTickets turns resumption by ticket off.
	DisableSessionTickets bool
}

// TLSConfig builds the *tls.Config of a frontend. Certificates are looked
// up at each handshake, so a certificate replaced with Sync is served to
// new handshakes at once while established connections keep theirs.
// ACME TLS-ALPN-01 validations are answered before SNI selection (through
// GetConfigForClient, which returns nil for every other hello). Session
// tickets are encrypted with keys the Manager rotates. The config may be
// cloned; it stays bound to the Manager.
func (m *Manager) TLSConfig(o TLSOptions) (*tls.Config, error) {
	prof, err := ParseProfile(string(o.Profile))
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{GetCertificate: m.GetCertificateFunc(o.Certificates)}
	switch prof {
	case ProfileModern:
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
	case ProfileIntermediate:
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS13
		cfg.CipherSuites = intermediateSuites
	case ProfileOld:
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS13
		cfg.CipherSuites = oldSuites
	}
	switch {
	case o.NextProtos != nil:
		cfg.NextProtos = append([]string(nil), o.NextProtos...)
	case o.DisableHTTP2:
		cfg.NextProtos = []string{ALPNHTTP11}
	default:
		cfg.NextProtos = []string{ALPNHTTP2, ALPNHTTP11}
	}
	if m.acme != nil {
		// A TLS-ALPN-01 validation offers only acme-tls/1; answer it with a
		// config of its own so the frontend's ALPN list never has to carry
		// acme-tls/1 (a client offering protocols the list lacks would then
		// be refused instead of falling back to no ALPN).
		cfg.GetConfigForClient = m.acme.configForClient
	}
	mode := o.ClientAuth
	if mode == ClientAuthNone && o.ClientCA != "" {
		mode = ClientAuthRequired
	}
	switch mode {
	case ClientAuthNone:
	case ClientAuthOptional, ClientAuthRequired:
		if o.ClientCA == "" {
			return nil, invalid("client_ca", "client certificate verification needs a CA bundle")
		}
		pool, err := parseCABundle("client_ca", o.ClientCA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if mode == ClientAuthRequired {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	default:
		return nil, invalid("client_auth", fmt.Sprintf("unknown mode %q (want optional or required)", mode))
	}
	if o.DisableSessionTickets {
		cfg.SessionTicketsDisabled = true
	} else {
		h := m.tickets.holder(o.TicketScope)
		cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			return h.EncryptTicket(cs, ss)
		}
		cfg.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
			return h.DecryptTicket(identity, cs)
		}
	}
	return cfg, nil
}

// parseCABundle reads every certificate of a PEM bundle (or base64 of one).
func parseCABundle(field, bundle string) (*x509.CertPool, error) {
	certsIn, keys, err := decodeField(field, bundle)
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		return nil, invalid(field, "holds a private key; give certificates only")
	}
	if len(certsIn) == 0 {
		return nil, invalid(field, "no certificate found")
	}
	pool := x509.NewCertPool()
	for _, c := range certsIn {
		pool.AddCert(c)
	}
	return pool, nil
}

// ticketRing holds the session ticket master keys, newest first, and one
// holder config per scope whose keys are derived from them. Frontend
// configs encrypt and decrypt tickets through their scope's holder, so a
// rotation reaches every config (and their clones) at once.
type ticketRing struct {
	keep int

	mu      sync.Mutex
	keys    [][32]byte
	holders map[string]weak.Pointer[tls.Config]
}

func newTicketRing(keep int) *ticketRing {
	r := &ticketRing{keep: keep, holders: map[string]weak.Pointer[tls.Config]{}}
	r.rotate()
	return r
}

// holder returns the config holding scope's keys. Not on the hot path.
func (r *ticketRing) holder(scope string) *tls.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.holders[scope].Value(); h != nil {
		return h
	}
	h := &tls.Config{}
	h.SetSessionTicketKeys(r.derive(scope))
	r.holders[scope] = weak.Make(h)
	return h
}

// rotate adds a new master key, drops the oldest beyond keep, and updates
// every live holder; holders no config uses any more are forgotten.
func (r *ticketRing) rotate() {
	var k [32]byte
	_, _ = rand.Read(k[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append([][32]byte{k}, r.keys...)
	if len(r.keys) > r.keep {
		r.keys = r.keys[:r.keep]
	}
	for scope, wp := range r.holders {
		h := wp.Value()
		if h == nil {
			delete(r.holders, scope)
			continue
		}
		h.SetSessionTicketKeys(r.derive(scope))
	}
}

func (r *ticketRing) derive(scope string) [][32]byte {
	out := make([][32]byte, len(r.keys))
	for i, k := range r.keys {
		mac := hmac.New(sha256.New, k[:])
		mac.Write([]byte("gantry session ticket scope\x00" + scope))
		copy(out[i][:], mac.Sum(nil))
	}
	return out
}
