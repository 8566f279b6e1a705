package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/certs"
	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/control"
)

// Certificates are config objects of their own (/v1/certificates/{name}),
// referenced by name from frontends. They belong to no project, like IPs:
// only tokens bound to no project manage them.
//
// A custom certificate's private key is sealed before it is stored, and
// no answer ever carries it: the API shows certificates as
// client.Certificate (public data), and the whole config, history and
// change lists go through redactConfig and redactChanges.

func (s *Server) listCertificates(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, func(st *control.State) (any, error) {
		all := make([]client.Certificate, 0, len(st.Config.Certificates))
		for i := range st.Config.Certificates {
			c := &st.Config.Certificates[i]
			all = append(all, s.toCertificateOut(st.Config, c, st.Meta[control.CertificatePath(c.Name)]))
		}
		out, total, err := page(r, all, func(c client.Certificate) string { return c.Name }, func(c client.Certificate) int64 { return c.CreatedAt.UnixNano() })
		if err != nil {
			return nil, err
		}
		return client.CertificateList{Certificates: out, TotalCount: total}, nil
	})
}

// certificateView shows certificate name.
func (s *Server) certificateView(name string) view {
	return func(st *control.State) (any, error) {
		c, err := control.FindCertificate(st.Config, name)
		if err != nil {
			return nil, err
		}
		return s.toCertificateOut(st.Config, c, st.Meta[control.CertificatePath(c.Name)]), nil
	}
}

func (s *Server) getCertificate(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, s.certificateView(r.PathValue("name")))
}

func (s *Server) putCertificate(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	req, err := s.writeRequest(r, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in client.CertificateInput
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkName(in.Name, name); err != nil {
		s.fail(w, r, err)
		return
	}
	next, parsed, err := s.certificateToConfig(in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	existed := false
	req.Mutate = control.PutCertificate(name, func(cur *config.Certificate) (config.Certificate, error) {
		existed = cur != nil
		// The same chain and key again keeps the stored seal, so a
		// repeated PUT changes nothing (a new seal differs every time).
		if cur != nil && parsed != nil && cur.Type == config.CertCustom && cur.ChainPEM == next.ChainPEM && parsed.SameKey(s.o.Sealer, cur.SealedKey) {
			next.SealedKey = bytes.Clone(cur.SealedKey)
		}
		return next, nil
	})
	s.change(w, r, req, http.StatusOK, s.viewAt(r, created(w, "/v1/certificates/"+name, &existed, s.certificateView(name))))
}

func (s *Server) deleteCertificate(w http.ResponseWriter, r *http.Request) {
	s.remove(w, r, control.DeleteCertificate(r.PathValue("name")))
}

// errNoSealer answers a custom certificate on a server without a data
// directory key.
var errNoSealer = errors.New("api: this server cannot seal private keys (no data directory key): custom certificates are refused")

// certificateToConfig validates a PUT body and returns the certificate to
// store, and for a custom one the parsed certificate. A chain or key that
// is rejected answers 422 naming the field and why; nothing is stored.
func (s *Server) certificateToConfig(in client.CertificateInput) (config.Certificate, *certs.Certificate, error) {
	typ := in.Type
	if typ == "" {
		switch {
		case in.CertificateChain != "" || in.PrivateKey != "":
			typ = config.CertCustom
		case in.CommonName != "":
			typ = config.CertLetsEncrypt
		default:
			return config.Certificate{}, nil, &badRequest{"type", "required: custom (with certificate_chain) or letsencrypt (with common_name)"}
		}
	}
	switch typ {
	case config.CertCustom:
		if in.CommonName != "" || len(in.SubjectAlternativeName) > 0 {
			return config.Certificate{}, nil, &badRequest{"common_name", "a custom certificate takes its names from its leaf: give certificate_chain only"}
		}
		if strings.TrimSpace(in.CertificateChain) == "" {
			return config.Certificate{}, nil, &badRequest{"certificate_chain", "required for a custom certificate: the PEM chain and private key (plain or base64)"}
		}
		if s.o.Sealer == nil {
			return config.Certificate{}, nil, errNoSealer
		}
		c, err := certs.ParseCustom(in.CertificateChain, in.PrivateKey, time.Now())
		if err != nil {
			return config.Certificate{}, nil, certError(err)
		}
		st, err := c.Seal(s.o.Sealer)
		if err != nil {
			return config.Certificate{}, nil, err
		}
		return config.Certificate{Type: config.CertCustom, ChainPEM: st.ChainPEM, SealedKey: st.SealedKey}, c, nil
	case config.CertLetsEncrypt:
		if in.CertificateChain != "" || in.PrivateKey != "" {
			return config.Certificate{}, nil, &badRequest{"certificate_chain", "a letsencrypt certificate is obtained through ACME: give common_name and subject_alternative_name only"}
		}
		spec := certs.ACMESpec{CommonName: in.CommonName, SubjectAlternativeNames: in.SubjectAlternativeName}
		if err := spec.Validate(); err != nil {
			return config.Certificate{}, nil, certError(err)
		}
		return config.Certificate{Type: config.CertLetsEncrypt, CommonName: strings.TrimSpace(in.CommonName), SubjectAlternativeName: in.SubjectAlternativeName}, nil, nil
	}
	return config.Certificate{}, nil, &badRequest{"type", fmt.Sprintf("%q is not one of custom, letsencrypt", in.Type)}
}

// certError turns a rejected chain, key or name into a 422 naming the
// request field and why.
func certError(err error) error {
	var ve *certs.ValidationError
	if errors.As(err, &ve) {
		return &config.FieldError{Path: ve.Field, Msg: ve.Reason}
	}
	return err
}

// toCertificateOut shows a certificate: its public description, with the
// status this node serves it with when the data plane has it.
func (s *Server) toCertificateOut(cfg *config.Config, c *config.Certificate, m control.ObjectMeta) client.Certificate {
	now := time.Now()
	out := client.Certificate{Name: c.Name, Type: c.Type, SubjectAlternativeName: []string{}, Frontends: []string{},
		CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	for i := range cfg.LBs {
		lb := &cfg.LBs[i]
		for j := range lb.Frontends {
			for _, n := range lb.Frontends[j].Certificates {
				if n == c.Name {
					out.Frontends = append(out.Frontends, lb.Name+"/"+lb.Frontends[j].Name)
				}
			}
		}
	}
	var live certs.Info
	hasLive := false
	if s.o.CertStatus != nil {
		live, hasLive = s.o.CertStatus(c.Name)
	}
	switch c.Type {
	case config.CertCustom:
		in, err := certs.Describe(c.ChainPEM, now)
		if err != nil {
			out.Status, out.StatusDetails = client.CertificateError, err.Error()
			return out
		}
		setInfo(&out, in)
		// The data plane's status counts only if it serves this very
		// chain (not the one before a replacement it has not applied).
		if hasLive && live.Fingerprint == in.Fingerprint {
			out.Status, out.StatusDetails = string(live.Status), live.StatusDetails
		}
	case config.CertLetsEncrypt:
		out.CommonName = c.CommonName
		out.SubjectAlternativeName = nonNil(c.SubjectAlternativeName)
		out.Status, out.StatusDetails = client.CertificatePending, "not applied by the data plane yet"
		if hasLive {
			out.Status, out.StatusDetails = string(live.Status), live.StatusDetails
			out.Fingerprint, out.FingerprintSHA256 = live.Fingerprint, live.FingerprintSHA256
			out.NotValidBefore, out.NotValidAfter = live.NotValidBefore, live.NotValidAfter
		}
	}
	return out
}

func setInfo(out *client.Certificate, in certs.Info) {
	out.CommonName, out.SubjectAlternativeName = in.CommonName, nonNil(in.SubjectAlternativeName)
	out.Fingerprint, out.FingerprintSHA256 = in.Fingerprint, in.FingerprintSHA256
	out.NotValidBefore, out.NotValidAfter = in.NotValidBefore, in.NotValidAfter
	out.Status, out.StatusDetails = string(in.Status), in.StatusDetails
}

// redactConfig returns cfg without the sealed keys of its certificates (a
// copy when there are any: cfg may be shared).
func redactConfig(cfg *config.Config) *config.Config {
	has := false
	for i := range cfg.Certificates {
		has = has || len(cfg.Certificates[i].SealedKey) > 0
	}
	if !has {
		return cfg
	}
	out := *cfg
	out.Certificates = make([]config.Certificate, len(cfg.Certificates))
	copy(out.Certificates, cfg.Certificates)
	for i := range out.Certificates {
		out.Certificates[i].SealedKey = nil
	}
	return &out
}

// keepSealedKeys gives each custom certificate of next that comes without
// its sealed key (a config exported by GET /v1/config, which never shows
// them) the key stored in cur for the same name and chain.
func keepSealedKeys(next, cur *config.Config) {
	for i := range next.Certificates {
		c := &next.Certificates[i]
		if c.Type != config.CertCustom || len(c.SealedKey) > 0 {
			continue
		}
		if old := cur.Certificate(c.Name); old != nil && old.Type == config.CertCustom && old.ChainPEM == c.ChainPEM {
			c.SealedKey = bytes.Clone(old.SealedKey)
		}
	}
}

// redactChanges removes sealed keys from the certificates in a list of
// changes (a write's answer, the history).
func redactChanges(chs []control.Change) {
	for i := range chs {
		if !control.IsCertificatePath(chs[i].Path) {
			continue
		}
		chs[i].Before = redactSpec(chs[i].Before)
		chs[i].After = redactSpec(chs[i].After)
	}
}

func redactSpec(spec json.RawMessage) json.RawMessage {
	if len(spec) == 0 {
		return spec
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(spec, &m); err != nil {
		return json.RawMessage(`{}`) // never risk showing what could not be read
	}
	if _, ok := m["sealed_key"]; !ok {
		return spec
	}
	delete(m, "sealed_key")
	out, err := json.Marshal(m)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return out
}

// frontendTLSToConfig copies a frontend body's TLS settings to the model.
func frontendTLSToConfig(in client.FrontendTLS, f *config.Frontend) {
	if r := in.HTTPSRedirect; r != nil {
		f.HTTPSRedirect = &config.HTTPSRedirect{Code: r.Code, Port: r.Port}
	}
	if h := in.HSTS; h != nil {
		f.HSTS = &config.HSTS{MaxAge: h.MaxAge, IncludeSubdomains: h.IncludeSubdomains, Preload: h.Preload}
	}
	f.SSLCompatibilityLevel, f.ClientCA, f.ClientAuth, f.DisableHTTP2 = in.SSLCompatibilityLevel, in.ClientCA, in.ClientAuth, in.DisableHTTP2
}

// frontendTLSOut is a frontend's TLS settings as the API shows them.
func frontendTLSOut(f *config.Frontend) client.FrontendTLS {
	out := client.FrontendTLS{SSLCompatibilityLevel: f.SSLCompatibilityLevel, ClientCA: f.ClientCA, ClientAuth: f.ClientAuth, DisableHTTP2: f.DisableHTTP2}
	if r := f.HTTPSRedirect; r != nil {
		out.HTTPSRedirect = &client.HTTPSRedirect{Code: r.Code, Port: r.Port}
	}
	if h := f.HSTS; h != nil {
		out.HSTS = &client.HSTS{MaxAge: h.MaxAge, IncludeSubdomains: h.IncludeSubdomains, Preload: h.Preload}
	}
	return out
}

// tlsOptions maps seed 004's options.tls and options.tls_verify onto the
// backend's ssl_bridging and ignore_ssl_server_verify.
func tlsOptions(o *backendOptions, b *config.Backend) error {
	if o.TLSVerify && !o.TLS {
		return &badRequest{"options.tls_verify", "verifies the servers' TLS certificates: it needs tls: true"}
	}
	if !o.TLS {
		return nil
	}
	b.SSLBridging = true
	if o.TLSVerify && b.IgnoreSSLServerVerify {
		return &badRequest{"options.tls_verify", "contradicts ignore_ssl_server_verify; give one"}
	}
	if !o.TLSVerify {
		b.IgnoreSSLServerVerify = true
	}
	return nil
}
