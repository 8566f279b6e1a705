package config

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"
)

// Certificate types (Scaleway's names).
const (
	CertCustom      = "custom"
	CertLetsEncrypt = "letsencrypt"
)

// ProtocolHTTPS is a frontend that terminates TLS and speaks HTTP/1.1 and
// HTTP/2 (chosen by ALPN) to clients. Its backends forward http.
const ProtocolHTTPS Protocol = "https"

// Client certificate modes of a frontend (ClientAuth).
const (
	ClientAuthOptional = "optional"
	ClientAuthRequired = "required"
)

// DefaultRedirectCode is the status of an https_redirect without a code.
const DefaultRedirectCode = 301

// Certificate is a TLS certificate that https frontends serve, by name in
// their certificates list. Names are unique across the config.
//
// A custom certificate holds its chain in clear and its private key sealed
// (AES-GCM under a key kept in the data directory of the node that sealed
// it): SealedKey is never shown by the API. A letsencrypt certificate holds
// only the names to obtain through ACME; the certificate itself lives in
// the store, shared by every node.
type Certificate struct {
	Name string `json:"name"`
	// Type is custom or letsencrypt.
	Type string `json:"type"`
	// ChainPEM is a custom certificate's chain in PEM, leaf first, without
	// the key.
	ChainPEM string `json:"chain_pem,omitempty"`
	// SealedKey is a custom certificate's private key, sealed.
	SealedKey []byte `json:"sealed_key,omitempty"`
	// CommonName and SubjectAlternativeName are the DNS names of a
	// letsencrypt certificate (a custom certificate takes them from its
	// leaf).
	CommonName             string   `json:"common_name,omitempty"`
	SubjectAlternativeName []string `json:"subject_alternative_name,omitempty"`
}

// HTTPSRedirect makes an http frontend answer every request (but ACME
// HTTP-01 validations) with a redirect to the same host, path and query
// over https.
type HTTPSRedirect struct {
	// Code is 301 (default), 302, 303, 307 or 308.
	Code int `json:"code,omitempty"`
	// Port is the https port to name in the Location; 0 or 443 names none.
	Port int `json:"port,omitempty"`
}

// HSTS is the Strict-Transport-Security header an https frontend sets on
// every response it forwards.
type HSTS struct {
	// MaxAge is in seconds (at least 1).
	MaxAge            int64 `json:"max_age"`
	IncludeSubdomains bool  `json:"include_subdomains,omitempty"`
	// Preload asks browsers to list the domain; it needs
	// include_subdomains and a max_age of at least a year.
	Preload bool `json:"preload,omitempty"`
}

// Value returns the header value, as "max-age=N[; includeSubDomains][; preload]".
func (h *HSTS) Value() string {
	s := fmt.Sprintf("max-age=%d", h.MaxAge)
	if h.IncludeSubdomains {
		s += "; includeSubDomains"
	}
	if h.Preload {
		s += "; preload"
	}
	return s
}

// Certificate returns the certificate named name, or nil.
func (c *Config) Certificate(name string) *Certificate {
	for i := range c.Certificates {
		if c.Certificates[i].Name == name {
			return &c.Certificates[i]
		}
	}
	return nil
}

// IsHTTP reports whether p speaks HTTP to clients (http or https).
func (p Protocol) IsHTTP() bool { return p == ProtocolHTTP || p == ProtocolHTTPS }

func (c Certificate) clone() Certificate {
	c.SealedKey = bytes.Clone(c.SealedKey)
	c.SubjectAlternativeName = cloneStrings(c.SubjectAlternativeName)
	return c
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

// setTLSDefaults fills in the TLS settings' defaults. A frontend whose
// protocol is derived (not given) and that lists certificates terminates
// TLS, as Scaleway's frontends with a certificate do.
func (f *Frontend) setTLSDefaults(derived bool) {
	if derived && f.Protocol == ProtocolHTTP && len(f.Certificates) > 0 {
		f.Protocol = ProtocolHTTPS
	}
	if r := f.HTTPSRedirect; r != nil && r.Code == 0 {
		r.Code = DefaultRedirectCode
	}
}

// certificates checks the certificate objects and returns them by name.
func (v *validator) certificates(cs []Certificate) map[string]*Certificate {
	byName := make(map[string]*Certificate, len(cs))
	for i := range cs {
		c := &cs[i]
		p := "certificates[" + key(c.Name, i) + "]"
		v.name(p+".name", c.Name)
		if byName[c.Name] != nil {
			v.add(p+".name", "duplicate certificate name %q", c.Name)
		}
		byName[c.Name] = c
		switch c.Type {
		case CertCustom:
			if strings.TrimSpace(c.ChainPEM) == "" {
				v.add(p+".chain_pem", "required for a custom certificate")
			} else if n := countPEM(c.ChainPEM, "CERTIFICATE"); n == 0 {
				v.add(p+".chain_pem", "holds no PEM certificate")
			}
			if len(c.SealedKey) == 0 {
				v.add(p+".sealed_key", "required for a custom certificate: create it with PUT /v1/certificates/%s, which seals its key", c.Name)
			}
			if c.CommonName != "" || len(c.SubjectAlternativeName) > 0 {
				v.add(p+".common_name", "a custom certificate takes its names from its leaf certificate")
			}
		case CertLetsEncrypt:
			if c.ChainPEM != "" || len(c.SealedKey) > 0 {
				v.add(p+".chain_pem", "a letsencrypt certificate is obtained through ACME: give common_name and subject_alternative_name only")
			}
			v.acmeName(p+".common_name", c.CommonName, true)
			for j, n := range c.SubjectAlternativeName {
				v.acmeName(fmt.Sprintf("%s.subject_alternative_name[%d]", p, j), n, false)
			}
			if len(c.SubjectAlternativeName) > 99 {
				v.add(p+".subject_alternative_name", "at most 99 names besides common_name")
			}
		default:
			v.add(p+".type", "%q is not one of custom, letsencrypt", c.Type)
		}
	}
	return byName
}

// acmeName checks a DNS name to obtain through ACME (HTTP-01 or
// TLS-ALPN-01: no wildcard, no IP address).
func (v *validator) acmeName(path, n string, required bool) {
	switch {
	case n == "" && required:
		v.add(path, "required for a letsencrypt certificate")
	case n == "":
		v.add(path, "is empty")
	case strings.HasPrefix(n, "*"):
		v.add(path, "%q: wildcard names need the DNS-01 challenge, which gantry does not offer", n)
	case strings.HasPrefix(n, "["), isIPLiteral(n):
		v.add(path, "%q: IP addresses cannot get ACME certificates", n)
	case !strings.Contains(strings.Trim(n, "."), "."):
		v.add(path, "%q is not a fully qualified domain name", n)
	default:
		if err := ValidHostPattern(n); err != nil {
			v.add(path, "%q: %v", n, err)
		}
	}
}

func isIPLiteral(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c == '.' || c == ':') {
			return false
		}
	}
	return strings.Count(s, ".") == 3 || strings.Contains(s, ":")
}

// frontendTLS checks a frontend's TLS settings against its protocol and
// the certificates of the config.
func (v *validator) frontendTLS(fp string, f *Frontend, certs map[string]*Certificate) {
	https := f.Protocol == ProtocolHTTPS
	if https && len(f.Certificates) == 0 {
		v.add(fp+".certificates", "an https frontend needs at least one certificate")
	}
	if !https && len(f.Certificates) > 0 {
		v.add(fp+".certificates", "certificates need protocol https (the frontend speaks %s)", f.Protocol)
	}
	seen := map[string]bool{}
	for i, n := range f.Certificates {
		cp := fmt.Sprintf("%s.certificates[%d]", fp, i)
		switch {
		case certs[n] == nil:
			v.add(cp, "no certificate named %q (create it with PUT /v1/certificates/%s)", n, n)
		case seen[n]:
			v.add(cp, "%q is listed twice", n)
		}
		seen[n] = true
	}
	if r := f.HTTPSRedirect; r != nil {
		if f.Protocol != ProtocolHTTP {
			v.add(fp+".https_redirect", "only an http frontend redirects to https (this one speaks %s)", f.Protocol)
		}
		switch r.Code {
		case 301, 302, 303, 307, 308:
		default:
			v.add(fp+".https_redirect.code", "%d is not one of 301, 302, 303, 307, 308", r.Code)
		}
		if r.Port < 0 || r.Port > 65535 {
			v.add(fp+".https_redirect.port", "%d is not a port (0-65535; 0 means the default, 443)", r.Port)
		}
	}
	tlsOnly := func(field string, set bool) {
		if set && !https {
			v.add(fp+"."+field, "only applies to an https frontend")
		}
	}
	tlsOnly("ssl_compatibility_level", f.SSLCompatibilityLevel != "")
	tlsOnly("hsts", f.HSTS != nil)
	tlsOnly("client_ca", f.ClientCA != "")
	tlsOnly("client_auth", f.ClientAuth != "")
	tlsOnly("disable_http2", f.DisableHTTP2)
	switch strings.TrimPrefix(strings.ToLower(strings.TrimSpace(f.SSLCompatibilityLevel)), "ssl_compatibility_level_") {
	case "", "unknown", "modern", "intermediate", "old":
	default:
		v.add(fp+".ssl_compatibility_level", "%q is not one of ssl_compatibility_level_modern, ssl_compatibility_level_intermediate, ssl_compatibility_level_old (or modern, intermediate, old)", f.SSLCompatibilityLevel)
	}
	if h := f.HSTS; h != nil {
		if h.MaxAge < 1 || h.MaxAge > 2*365*24*3600 {
			v.add(fp+".hsts.max_age", "%d is out of range 1-63072000 (seconds)", h.MaxAge)
		}
		if h.Preload && (!h.IncludeSubdomains || h.MaxAge < 365*24*3600) {
			v.add(fp+".hsts.preload", "needs include_subdomains and a max_age of at least 31536000 (one year), as preload lists require")
		}
	}
	switch f.ClientAuth {
	case "":
	case ClientAuthOptional, ClientAuthRequired:
		if f.ClientCA == "" {
			v.add(fp+".client_auth", "client certificates are verified against client_ca: give it")
		}
	default:
		v.add(fp+".client_auth", "%q is not one of optional, required", f.ClientAuth)
	}
	if f.ClientCA != "" && https {
		if err := checkCABundle(f.ClientCA); err != nil {
			v.add(fp+".client_ca", "%v", err)
		}
	}
}

// backendTLS checks a backend's TLS settings.
func (v *validator) backendTLS(bp string, b *Backend) {
	if b.SSLBridging && b.ForwardProtocol != ProtocolHTTP {
		v.add(bp+".ssl_bridging", "TLS to servers needs forward_protocol http (a tcp backend passes TLS through as it is)")
	}
	if b.IgnoreSSLServerVerify && !b.SSLBridging {
		v.add(bp+".ignore_ssl_server_verify", "only applies with ssl_bridging")
	}
	if b.H2 && b.ForwardProtocol != ProtocolHTTP {
		v.add(bp+".h2", "HTTP/2 to servers needs forward_protocol http")
	}
	if b.H2 && b.ProxyProtocol != ProxyNone {
		v.add(bp+".h2", "HTTP/2 connections to servers are shared by clients: they cannot carry a PROXY header (proxy_protocol %s)", b.ProxyProtocol)
	}
}

// checkCABundle accepts PEM certificates, or base64 of them, and nothing else.
func checkCABundle(s string) error {
	data := []byte(s)
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		dec, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return fmt.Errorf("neither PEM nor base64 of PEM")
		}
		data = dec
	}
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("holds a %s block: give CA certificates only", b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no PEM certificate found")
	}
	return nil
}

// countPEM counts the PEM blocks of type typ in s.
func countPEM(s, typ string) int {
	data, n := []byte(s), 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return n
		}
		if b.Type == typ {
			n++
		}
	}
}
