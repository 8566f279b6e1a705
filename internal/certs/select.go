package certs

import (
	"crypto/tls"
	"strings"
	"sync/atomic"
)

// catalog is one immutable generation of every servable certificate, by
// gantry certificate name. It is replaced as a whole, never modified.
type catalog struct {
	certs map[string]*tls.Certificate
}

// table answers SNI for one frontend: built from a catalog and the
// frontend's ordered certificate names, immutable.
type table struct {
	exact map[string]*tls.Certificate // lower-case host name → first listed certificate naming it
	wild  map[string]*tls.Certificate // "example.com" for a "*.example.com" name
	def   *tls.Certificate            // first listed certificate present; nil if none
}

func newTable(c *catalog, names []string) *table {
	t := &table{exact: map[string]*tls.Certificate{}, wild: map[string]*tls.Certificate{}}
	for _, n := range names {
		cert := c.certs[n]
		if cert == nil {
			continue
		}
		if t.def == nil {
			t.def = cert
		}
		for _, h := range hostNames(cert) {
			h = strings.ToLower(strings.TrimSuffix(h, "."))
			if rest, ok := strings.CutPrefix(h, "*."); ok {
				if _, dup := t.wild[rest]; !dup {
					t.wild[rest] = cert
				}
				continue
			}
			if _, dup := t.exact[h]; !dup {
				t.exact[h] = cert
			}
		}
	}
	return t
}

// hostNames returns the names a certificate answers for: its DNS SANs and
// IP SANs, or its common name when it has no SAN.
func hostNames(c *tls.Certificate) []string {
	l := c.Leaf
	if l == nil {
		return nil
	}
	out := append([]string(nil), l.DNSNames...)
	for _, ip := range l.IPAddresses {
		out = append(out, ip.String())
	}
	if len(out) == 0 && l.Subject.CommonName != "" {
		out = append(out, l.Subject.CommonName)
	}
	return out
}

// lookup picks the certificate for a server name: exact, then wildcard
// (one label), then the default. On the hot path: no allocation unless the
// name has upper-case letters.
func (t *table) lookup(serverName string) *tls.Certificate {
	name := strings.TrimSuffix(serverName, ".")
	if name != "" {
		if hasUpper(name) {
			name = strings.ToLower(name)
		}
		if c := t.exact[name]; c != nil {
			return c
		}
		if i := strings.IndexByte(name, '.'); i > 0 {
			if c := t.wild[name[i+1:]]; c != nil {
				return c
			}
		}
	}
	return t.def
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return true
		}
	}
	return false
}

// selector is one frontend's view: its certificate names and the table for
// the current catalog, rebuilt by the Manager (off the hot path) whenever
// the catalog changes. Managers keep only weak references to selectors, so
// a selector lives as long as the tls.Config using it.
type selector struct {
	names []string
	table atomic.Pointer[table]
}

func (s *selector) get(serverName string) (*tls.Certificate, error) {
	if c := s.table.Load().lookup(serverName); c != nil {
		return c, nil
	}
	return nil, ErrNoCertificate
}
