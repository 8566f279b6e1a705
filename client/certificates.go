package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Certificate types.
const (
	CertificateCustom      = "custom"
	CertificateLetsEncrypt = "letsencrypt"
)

// Certificate statuses.
const (
	CertificatePending = "pending"
	CertificateReady   = "ready"
	CertificateError   = "error"
)

// CertificateInput is the body of PUT /v1/certificates/{name}.
//
// A custom certificate takes CertificateChain: the PEM chain and the
// private key in one blob (or the key apart, in PrivateKey), each plain PEM
// or base64 of PEM. The key is sealed with the server's data-directory key
// and never returned. A letsencrypt certificate takes CommonName and
// SubjectAlternativeName, obtained through ACME (HTTP-01 or TLS-ALPN-01).
type CertificateInput struct {
	// Name, if given, must equal the name in the path.
	Name string `json:"name,omitempty"`
	// Type is custom or letsencrypt.
	Type                   string   `json:"type"`
	CertificateChain       string   `json:"certificate_chain,omitempty"`
	PrivateKey             string   `json:"private_key,omitempty"`
	CommonName             string   `json:"common_name,omitempty"`
	SubjectAlternativeName []string `json:"subject_alternative_name,omitempty"`
}

// Certificate is a certificate as the API shows it: its names, validity
// and status, never its key.
type Certificate struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	CommonName string `json:"common_name"`
	// SubjectAlternativeName lists the names besides CommonName.
	SubjectAlternativeName []string `json:"subject_alternative_name"`
	// Fingerprint is the SHA-1 of the leaf in hex (Scaleway's
	// identifier), FingerprintSHA256 its SHA-256; empty until a
	// letsencrypt certificate is obtained.
	Fingerprint       string    `json:"fingerprint,omitempty"`
	FingerprintSHA256 string    `json:"fingerprint_sha256,omitempty"`
	NotValidBefore    time.Time `json:"not_valid_before,omitzero"`
	NotValidAfter     time.Time `json:"not_valid_after,omitzero"`
	// Status is pending (an ACME certificate not obtained yet, or not
	// valid yet), ready (served) or error (StatusDetails says why: the
	// CA's reason, or an expiry).
	Status        string `json:"status"`
	StatusDetails string `json:"status_details,omitempty"`
	// Frontends lists the frontends serving it, as "lb/frontend".
	Frontends []string  `json:"frontends"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CertificateList is one page of GET /v1/certificates.
type CertificateList struct {
	Certificates []Certificate `json:"certificates"`
	TotalCount   int           `json:"total_count"`
}

func certificatePath(name string) string {
	p := "/v1/certificates"
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

// ListCertificates lists certificates. Options: Page, PageSize, OrderBy,
// NameContains, AtRevision.
func (c *Client) ListCertificates(ctx context.Context, opts ...CallOption) (*CertificateList, uint64, error) {
	var out CertificateList
	rev, err := get(ctx, c, certificatePath(""), opts, &out)
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// GetCertificate reads certificate name with its live status. Options:
// AtRevision.
func (c *Client) GetCertificate(ctx context.Context, name string, opts ...CallOption) (*Certificate, uint64, error) {
	var out Certificate
	rev, err := get(ctx, c, certificatePath(name), opts, &out)
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// PutCertificate creates or replaces certificate name. A chain that does
// not parse, a key that does not match it, or an expired leaf answers 422
// naming the field and why, and stores nothing. Frontends serving the name
// serve the new certificate from their next handshake.
func (c *Client) PutCertificate(ctx context.Context, name string, in CertificateInput, opts ...CallOption) (*Certificate, *Result, error) {
	return write[Certificate](ctx, c, http.MethodPut, certificatePath(name), in, opts)
}

// DeleteCertificate deletes certificate name; 422 while a frontend serves it.
func (c *Client) DeleteCertificate(ctx context.Context, name string, opts ...CallOption) (*Result, error) {
	return c.del(ctx, certificatePath(name), opts)
}

// FrontendTLS are the TLS settings of a frontend, embedded in
// FrontendInput and Frontend. Certificates (in those types) names the
// certificates an https frontend serves.
type FrontendTLS struct {
	// HTTPSRedirect (http frontends) answers every request with a
	// redirect to https, keeping host, path and query.
	HTTPSRedirect *HTTPSRedirect `json:"https_redirect,omitempty"`
	// SSLCompatibilityLevel is ssl_compatibility_level_intermediate
	// (default), _modern or _old.
	SSLCompatibilityLevel string `json:"ssl_compatibility_level,omitempty"`
	// HSTS adds Strict-Transport-Security to every response.
	HSTS *HSTS `json:"hsts,omitempty"`
	// ClientCA (PEM) verifies client certificates; ClientAuth is required
	// (the default with a ClientCA) or optional.
	ClientCA   string `json:"client_ca,omitempty"`
	ClientAuth string `json:"client_auth,omitempty"`
	// DisableHTTP2 offers only http/1.1 by ALPN.
	DisableHTTP2 bool `json:"disable_http2,omitempty"`
}

// HTTPSRedirect is a frontend's redirect of HTTP to HTTPS.
type HTTPSRedirect struct {
	// Code is 301 (default), 302, 303, 307 or 308.
	Code int `json:"code,omitempty"`
	// Port is the https port named in the Location (0: the default, 443).
	Port int `json:"port,omitempty"`
}

// HSTS is a Strict-Transport-Security policy.
type HSTS struct {
	MaxAge            int64 `json:"max_age"` // seconds
	IncludeSubdomains bool  `json:"include_subdomains,omitempty"`
	Preload           bool  `json:"preload,omitempty"`
}

// BackendTLS are the TLS settings of a backend toward its servers,
// embedded in BackendInput and Backend.
type BackendTLS struct {
	// SSLBridging speaks TLS to the servers (forward_protocol http), with
	// the SNI of the backend's host, else of the request's Host.
	SSLBridging bool `json:"ssl_bridging,omitempty"`
	// IgnoreSSLServerVerify skips the verification of the servers'
	// certificates (else: the system roots).
	IgnoreSSLServerVerify bool `json:"ignore_ssl_server_verify,omitempty"`
	// H2 speaks HTTP/2 to the servers: h2c with prior knowledge, or h2 by
	// ALPN with SSLBridging. gRPC passes through, trailers included.
	H2 bool `json:"h2,omitempty"`
}
