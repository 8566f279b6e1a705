package certs

import (
	"crypto/subtle"
	"crypto/x509"
	"encoding/pem"
	"time"
)

// Describe returns the public description of a stored custom certificate
// from its chain alone (no key needed): names, fingerprints, validity and
// the status its validity gives at now. It is what the API shows of a
// certificate the data plane has not loaded (yet). Errors are
// *ValidationError naming chain_pem.
func Describe(chainPEM string, now time.Time) (Info, error) {
	rest := []byte(chainPEM)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return Info{}, invalid("chain_pem", "no certificate found")
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		leaf, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return Info{}, invalid("chain_pem", "leaf: "+err.Error())
		}
		in := describeLeaf(TypeCustom, leaf)
		in.Status, in.StatusDetails = validityStatus(leaf, now)
		return in, nil
	}
}

// SameKey reports whether sealed (a key sealed with s, as stored) holds
// c's private key, so that storing c again can keep the stored seal. A
// nil Sealer, or a seal that does not open, reports false.
func (c *Certificate) SameKey(s *Sealer, sealed []byte) bool {
	if s == nil || len(sealed) == 0 {
		return false
	}
	der, err := s.Open(sealed)
	return err == nil && subtle.ConstantTimeCompare(der, c.keyPKCS) == 1
}
