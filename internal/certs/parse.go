package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Field names used in validation errors; they are the API's field names.
const (
	FieldChain = "certificate_chain"
	FieldKey   = "private_key"
)

// Status is the state of a certificate as Scaleway names it.
type Status string

// The statuses of a certificate.
const (
	// StatusPending: an ACME certificate not obtained yet, or a custom
	// certificate whose validity has not started.
	StatusPending Status = "pending"
	// StatusReady: a certificate being served.
	StatusReady Status = "ready"
	// StatusError: the CA refused an ACME order (StatusDetails holds its
	// reason), or a custom certificate expired or could not be restored.
	StatusError Status = "error"
)

// The certificate types, as the API names them.
const (
	TypeCustom      = "custom"
	TypeLetsEncrypt = "letsencrypt"
)

// Info is what the API shows of a certificate. It holds public data only:
// no field of Info can carry a private key.
type Info struct {
	Type       string `json:"type"`
	CommonName string `json:"common_name"`
	// SubjectAlternativeName lists the DNS names and IP addresses of the
	// leaf besides CommonName, in certificate order.
	SubjectAlternativeName []string `json:"subject_alternative_name"`
	// Fingerprint is the SHA-1 of the leaf's DER in lower-case hex without
	// separators: what Scaleway calls the certificate's identifier.
	Fingerprint string `json:"fingerprint"`
	// FingerprintSHA256 is the SHA-256 of the leaf's DER, same format.
	FingerprintSHA256 string    `json:"fingerprint_sha256"`
	NotValidBefore    time.Time `json:"not_valid_before,omitzero"`
	NotValidAfter     time.Time `json:"not_valid_after,omitzero"`
	Status            Status    `json:"status"`
	StatusDetails     string    `json:"status_details,omitempty"`
}

// Certificate is a parsed, validated certificate chain with its private key.
// It is immutable once returned. Its only exported data is Info; the key is
// reachable only through TLS (for serving) and Seal (for storage), and
// MarshalJSON encodes Info alone, so a Certificate cannot leak its key into
// an API answer.
type Certificate struct {
	info    Info
	tls     *tls.Certificate // Leaf set; Certificate[0] is the leaf
	chain   []byte           // PEM of the ordered chain, leaf first, no key
	keyPKCS []byte           // PKCS#8 DER of the private key
	extra   string           // notes appended to StatusDetails (expired intermediates)
}

// Info returns the certificate's public description with the status it had
// when parsed. Use InfoAt for the status at another time.
func (c *Certificate) Info() Info { return cloneInfo(c.info) }

// InfoAt returns the certificate's description with Status and
// StatusDetails computed for now: pending before the validity starts,
// error once it has expired, ready in between.
func (c *Certificate) InfoAt(now time.Time) Info {
	in := cloneInfo(c.info)
	in.Status, in.StatusDetails = validityStatus(c.tls.Leaf, now)
	if c.extra != "" {
		if in.StatusDetails != "" {
			in.StatusDetails += "; "
		}
		in.StatusDetails += c.extra
	}
	return in
}

// TLS returns the certificate for serving. Never nil; Leaf is set. The
// caller must not modify it.
func (c *Certificate) TLS() *tls.Certificate { return c.tls }

// ChainPEM returns the ordered chain (leaf first) as PEM, without the key.
func (c *Certificate) ChainPEM() string { return string(c.chain) }

// MarshalJSON encodes Info only.
func (c *Certificate) MarshalJSON() ([]byte, error) { return json.Marshal(c.info) }

// String describes the leaf (never the key), for logs.
func (c *Certificate) String() string {
	return "certificate CN=" + c.info.CommonName + " sha1=" + c.info.Fingerprint
}

func cloneInfo(in Info) Info {
	in.SubjectAlternativeName = append([]string(nil), in.SubjectAlternativeName...)
	return in
}

// ParseCustom parses and validates a custom certificate as the API receives
// it. chain holds PEM certificates and usually the private key too (one
// blob, as Scaleway's certificate_chain); key optionally holds the key
// separately. Each is plain PEM or base64 of PEM (whitespace ignored; a
// literal "\n" is read as a newline). It checks that there is at least one
// certificate and exactly one key, that the key is of a supported type (RSA
// of at least 2048 bits, ECDSA P-256 or P-384, Ed25519) and matches the
// leaf, that the leaf has not expired at now and may serve TLS, and that
// the certificates form one chain from the leaf; a chain given in another
// order is reordered leaf first. A leaf that is not valid yet is accepted
// with StatusPending. Errors are *ValidationError naming the field and why.
func ParseCustom(chain, key string, now time.Time) (*Certificate, error) {
	certsIn, keys, err := decodeField(FieldChain, chain)
	if err != nil {
		return nil, err
	}
	keyField := FieldChain
	if strings.TrimSpace(key) != "" {
		moreCerts, moreKeys, err := decodeField(FieldKey, key)
		if err != nil {
			return nil, err
		}
		if len(moreCerts) > 0 {
			return nil, invalid(FieldKey, "holds a certificate; put certificates in "+FieldChain)
		}
		if len(keys) > 0 && len(moreKeys) > 0 {
			return nil, invalid(FieldKey, "a private key is given both here and in "+FieldChain)
		}
		if len(moreKeys) > 0 {
			keys, keyField = moreKeys, FieldKey
		}
	}
	if len(certsIn) == 0 {
		return nil, invalid(FieldChain, "no certificate found (expected a PEM block BEGIN CERTIFICATE)")
	}
	switch len(keys) {
	case 0:
		return nil, invalid(FieldChain, "no private key found (expected a PEM block BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY, in "+FieldChain+" or "+FieldKey+")")
	case 1:
	default:
		return nil, invalid(keyField, "holds "+strconv.Itoa(len(keys))+" private keys; give exactly one")
	}
	return buildCertificate(certsIn, keys[0], keyField, now)
}

// buildCertificate validates a decoded chain and key and assembles the Certificate.
func buildCertificate(certsIn []*x509.Certificate, key crypto.Signer, keyField string, now time.Time) (*Certificate, error) {
	if err := checkKeyType(keyField, key); err != nil {
		return nil, err
	}
	leafIdx := -1
	for i, c := range certsIn {
		if publicKeysEqual(c.PublicKey, key.Public()) {
			leafIdx = i
			break
		}
	}
	if leafIdx < 0 {
		return nil, invalid(keyField, "private key does not match the certificate (leaf "+describe(certsIn[0])+")")
	}
	leaf := certsIn[leafIdx]
	ordered, err := orderChain(leaf, certsIn, leafIdx)
	if err != nil {
		return nil, err
	}
	if now.After(leaf.NotAfter) {
		return nil, invalid(FieldChain, "the certificate expired on "+leaf.NotAfter.UTC().Format(time.RFC3339)+" (leaf "+describe(leaf)+")")
	}
	if !serverAuthAllowed(leaf) {
		return nil, invalid(FieldChain, "the certificate may not be used for TLS servers: its extended key usage lacks serverAuth (leaf "+describe(leaf)+")")
	}
	if len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 0 && leaf.Subject.CommonName == "" {
		return nil, invalid(FieldChain, "the certificate names no host: no DNS name or IP address and no common name (leaf "+describe(leaf)+")")
	}
	var notes []string
	for _, c := range ordered[1:] {
		if now.After(c.NotAfter) && !isSelfSigned(c) {
			notes = append(notes, "intermediate "+describe(c)+" expired on "+c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, invalid(keyField, "cannot encode the private key: "+err.Error())
	}
	der := make([][]byte, len(ordered))
	var chainPEM bytes.Buffer
	for i, c := range ordered {
		der[i] = c.Raw
		_ = pem.Encode(&chainPEM, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	c := &Certificate{
		tls:     &tls.Certificate{Certificate: der, PrivateKey: key, Leaf: leaf},
		chain:   chainPEM.Bytes(),
		keyPKCS: pkcs8,
		extra:   strings.Join(notes, "; "),
	}
	c.info = describeLeaf(TypeCustom, leaf)
	c.info = c.InfoAt(now)
	return c, nil
}

// describeLeaf fills the public description of leaf (status left empty).
func describeLeaf(typ string, leaf *x509.Certificate) Info {
	s1 := sha1.Sum(leaf.Raw)
	s256 := sha256.Sum256(leaf.Raw)
	in := Info{
		Type:                   typ,
		CommonName:             leaf.Subject.CommonName,
		SubjectAlternativeName: []string{},
		Fingerprint:            hex.EncodeToString(s1[:]),
		FingerprintSHA256:      hex.EncodeToString(s256[:]),
		NotValidBefore:         leaf.NotBefore.UTC(),
		NotValidAfter:          leaf.NotAfter.UTC(),
	}
	names := make([]string, 0, len(leaf.DNSNames)+len(leaf.IPAddresses))
	names = append(names, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if in.CommonName == "" && len(names) > 0 {
		in.CommonName = names[0]
	}
	for _, n := range names {
		if !strings.EqualFold(n, in.CommonName) {
			in.SubjectAlternativeName = append(in.SubjectAlternativeName, n)
		}
	}
	return in
}

func validityStatus(leaf *x509.Certificate, now time.Time) (Status, string) {
	switch {
	case now.Before(leaf.NotBefore):
		return StatusPending, "not valid before " + leaf.NotBefore.UTC().Format(time.RFC3339)
	case now.After(leaf.NotAfter):
		return StatusError, "expired on " + leaf.NotAfter.UTC().Format(time.RFC3339)
	default:
		return StatusReady, ""
	}
}

// decodeField turns one input field into certificates and keys.
func decodeField(field, in string) ([]*x509.Certificate, []crypto.Signer, error) {
	data, err := decodeText(field, in)
	if err != nil {
		return nil, nil, err
	}
	var (
		certsOut []*x509.Certificate
		keys     []crypto.Signer
	)
	starts := blockStarts(data)
	if len(starts) == 0 {
		return nil, nil, invalid(field, "no PEM block found")
	}
	for i, start := range starts {
		end := len(data)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		block, _ := pem.Decode(data[start:end])
		if block == nil {
			return nil, nil, invalid(field, "PEM block "+strconv.Itoa(i+1)+" is malformed (bad base64 or no matching END line)")
		}
		n := strconv.Itoa(i + 1)
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, nil, invalid(field, "PEM block "+n+" is not a valid X.509 certificate: "+err.Error())
			}
			certsOut = append(certsOut, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if _, ok := block.Headers["Proc-Type"]; ok {
				return nil, nil, invalid(field, "the private key is encrypted with a passphrase; give it unencrypted")
			}
			k, err := parseKey(block)
			if err != nil {
				return nil, nil, invalid(field, "PEM block "+n+" ("+block.Type+"): "+err.Error())
			}
			keys = append(keys, k)
		case "ENCRYPTED PRIVATE KEY":
			return nil, nil, invalid(field, "the private key is encrypted with a passphrase; give it unencrypted")
		case "EC PARAMETERS":
			// openssl ecparam -genkey writes it before the key; it adds nothing.
		case "TRUSTED CERTIFICATE":
			return nil, nil, invalid(field, "PEM block "+n+" is an OpenSSL TRUSTED CERTIFICATE; give it as BEGIN CERTIFICATE")
		default:
			return nil, nil, invalid(field, "PEM block "+n+" has unexpected type "+strconv.Quote(block.Type))
		}
	}
	return certsOut, keys, nil
}

// decodeText returns PEM bytes from plain PEM or base64 of PEM.
func decodeText(field, in string) ([]byte, error) {
	t := strings.TrimSpace(in)
	if t == "" {
		return nil, invalid(field, "is empty")
	}
	if strings.Contains(t, "-----BEGIN ") {
		if !strings.Contains(t, "\n") && strings.Contains(t, `\n`) {
			// JSON written by hand often carries "\n" escaped twice.
			t = strings.ReplaceAll(t, `\n`, "\n")
		}
		return []byte(t), nil
	}
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\n', '\r', '\t':
			return -1
		}
		return r
	}, t)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(clean)
		if err != nil {
			continue
		}
		if !bytes.Contains(b, []byte("-----BEGIN ")) {
			return nil, invalid(field, "is base64, but what it encodes is not PEM (no -----BEGIN line)")
		}
		return b, nil
	}
	return nil, invalid(field, "is neither PEM (no -----BEGIN line) nor base64 of PEM")
}

// blockStarts returns the offsets of every "-----BEGIN " that starts a line.
func blockStarts(data []byte) []int {
	var out []int
	marker := []byte("-----BEGIN ")
	for off := 0; off < len(data); {
		i := bytes.Index(data[off:], marker)
		if i < 0 {
			break
		}
		pos := off + i
		if pos == 0 || data[pos-1] == '\n' || data[pos-1] == '\r' {
			out = append(out, pos)
		}
		off = pos + len(marker)
	}
	return out
}

func parseKey(block *pem.Block) (crypto.Signer, error) {
	var (
		k   any
		err error
	)
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("not a valid private key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign; use RSA, ECDSA or Ed25519", k)
	}
	return s, nil
}

// checkKeyType enforces the supported key types.
func checkKeyType(field string, k crypto.Signer) error {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < 2048 {
			return invalid(field, "RSA key of "+strconv.Itoa(bits)+" bits is too short (at least 2048)")
		}
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384():
		default:
			return invalid(field, "ECDSA curve "+k.Curve.Params().Name+" is not supported (use P-256 or P-384)")
		}
	case ed25519.PrivateKey:
	default:
		return invalid(field, fmt.Sprintf("key type %T is not supported (use RSA, ECDSA P-256/P-384 or Ed25519)", k))
	}
	return nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// orderChain returns the leaf followed by its issuers, each the issuer of
// the one before. Every given certificate must be on that path.
func orderChain(leaf *x509.Certificate, all []*x509.Certificate, leafIdx int) ([]*x509.Certificate, error) {
	rest := make([]*x509.Certificate, 0, len(all)-1)
	for i, c := range all {
		if i != leafIdx {
			rest = append(rest, c)
		}
	}
	out := []*x509.Certificate{leaf}
	for cur := leaf; len(rest) > 0 && !isSelfSigned(cur); {
		next := -1
		for i, cand := range rest {
			if issued(cand, cur) {
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		cur = rest[next]
		out = append(out, cur)
		rest = append(rest[:next], rest[next+1:]...)
	}
	if len(rest) > 0 {
		c := rest[0]
		pos := 0
		for i, a := range all {
			if a == c {
				pos = i + 1
			}
		}
		return nil, invalid(FieldChain, "certificate "+strconv.Itoa(pos)+" ("+describe(c)+") is not part of the chain of the leaf ("+describe(leaf)+"): no certificate of the chain was issued by it")
	}
	return out, nil
}

// issued reports whether parent issued child: names and key identifiers
// link, and the signature verifies (or uses an algorithm Go refuses to
// verify, such as SHA-1, in which case the names decide).
func issued(parent, child *x509.Certificate) bool {
	if !bytes.Equal(parent.RawSubject, child.RawIssuer) {
		return false
	}
	if len(parent.SubjectKeyId) > 0 && len(child.AuthorityKeyId) > 0 && !bytes.Equal(parent.SubjectKeyId, child.AuthorityKeyId) {
		return false
	}
	err := child.CheckSignatureFrom(parent)
	var insecure x509.InsecureAlgorithmError
	return err == nil || errors.As(err, &insecure)
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}

func serverAuthAllowed(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageServerAuth || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// describe names a certificate for error messages: CN=..., or its first
// DNS name, or its serial number.
func describe(c *x509.Certificate) string {
	switch {
	case c.Subject.CommonName != "":
		return "CN=" + c.Subject.CommonName
	case len(c.DNSNames) > 0:
		return "DNS=" + c.DNSNames[0]
	default:
		return "serial=" + c.SerialNumber.Text(16)
	}
}
