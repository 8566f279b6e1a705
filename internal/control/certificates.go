package control

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/gantry-lb/gantry/internal/config"
)

// Certificates are stored one object per certificate, beside the LBs:
//
//	config/certificates/<name>   a certificate (type, chain, sealed key or ACME names)
//
// They belong to no project, like IP objects.

// CertificatePath names a certificate object, as in State.Meta and
// Change.Path.
func CertificatePath(name string) string { return "certificates/" + name }

// IsCertificatePath reports whether an object path names a certificate.
func IsCertificatePath(path string) bool { return strings.HasPrefix(path, "certificates/") }

// FindCertificate returns the certificate named name in cfg, or ErrNotFound.
func FindCertificate(cfg *config.Config, name string) (*config.Certificate, error) {
	if c := cfg.Certificate(name); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("certificate %q: %w", name, ErrNotFound)
}

// PutCertificate creates or replaces the certificate named name. edit
// receives the current one (nil when new) and returns its replacement; a
// new certificate goes last.
func PutCertificate(name string, edit func(cur *config.Certificate) (config.Certificate, error)) func(*config.Config) error {
	return func(cfg *config.Config) error {
		cur := cfg.Certificate(name)
		next, err := edit(cur)
		if err != nil {
			return err
		}
		next.Name = name
		if cur != nil {
			*cur = next
			return nil
		}
		cfg.Certificates = append(cfg.Certificates, next)
		return nil
	}
}

// DeleteCertificate removes a certificate. A frontend that still lists it
// makes the change fail naming that frontend's field.
func DeleteCertificate(name string) func(*config.Config) error {
	return func(cfg *config.Config) error {
		if cfg.Certificate(name) == nil {
			return fmt.Errorf("certificate %q: %w", name, ErrNotFound)
		}
		var errs config.Errors
		for i := range cfg.LBs {
			lb := &cfg.LBs[i]
			for j := range lb.Frontends {
				f := &lb.Frontends[j]
				if k := slices.Index(f.Certificates, name); k >= 0 {
					errs = append(errs, &config.FieldError{Path: fmt.Sprintf("lbs[%s].frontends[%s].certificates[%d]", lb.Name, f.Name, k),
						Msg: fmt.Sprintf("serves certificate %q: remove it from the frontend first", name)})
				}
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%w: %w", ErrInvalid, errs)
		}
		cfg.Certificates = slices.DeleteFunc(cfg.Certificates, func(c config.Certificate) bool { return c.Name == name })
		return nil
	}
}

// certDecoder collects the certificate objects of a stored config.
type certDecoder struct {
	byName map[string]*config.Certificate
	order  []string
}

// add decodes the certificate object named name.
func (d *certDecoder) add(key, name string, spec json.RawMessage) error {
	c := new(config.Certificate)
	if err := json.Unmarshal(spec, c); err != nil {
		return fmt.Errorf("control: decoding %s: %w", key, err)
	}
	c.Name = name
	if d.byName == nil {
		d.byName = map[string]*config.Certificate{}
	}
	d.byName[name] = c
	d.order = append(d.order, name)
	return nil
}

// list returns the certificates oldest first (then by name), as the API
// lists them.
func (d *certDecoder) list(meta map[string]ObjectMeta) []config.Certificate {
	if len(d.order) == 0 {
		return nil
	}
	slices.SortStableFunc(d.order, func(a, b string) int {
		ma, mb := meta[CertificatePath(a)], meta[CertificatePath(b)]
		if c := ma.CreatedAt.Compare(mb.CreatedAt); c != 0 {
			return c
		}
		if ma.CreatedRevision != mb.CreatedRevision {
			return int(ma.CreatedRevision) - int(mb.CreatedRevision)
		}
		return strings.Compare(a, b)
	})
	out := make([]config.Certificate, len(d.order))
	for i, n := range d.order {
		out[i] = *d.byName[n]
	}
	return out
}

// certificateObjects adds the certificate objects of cfg to out.
func certificateObjects(cfg *config.Config, out map[string][]byte) error {
	for i := range cfg.Certificates {
		c := &cfg.Certificates[i]
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		out[CertificatePath(c.Name)] = b
	}
	return nil
}
