package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gantry-lb/gantry/client"
)

// certResource is the cert command's view of the API: certificates, which
// belong to no load balancer. put takes the body from -f, from flags, or
// both (flags win): --chain and --key read PEM files.
func certResource() resource[client.Certificate, client.CertificateInput] {
	return resource[client.Certificate, client.CertificateInput]{
		kind: "cert", needF: true,
		list: func(ctx context.Context, c *client.Client, _ scope, opts ...client.CallOption) ([]client.Certificate, int, error) {
			l, _, err := c.ListCertificates(ctx, opts...)
			if err != nil {
				return nil, 0, err
			}
			return l.Certificates, l.TotalCount, nil
		},
		get: func(ctx context.Context, c *client.Client, _ scope, name string, opts ...client.CallOption) (*client.Certificate, error) {
			cert, _, err := c.GetCertificate(ctx, name, opts...)
			return cert, err
		},
		put: func(ctx context.Context, c *client.Client, _ scope, name string, in client.CertificateInput, opts ...client.CallOption) (*client.Certificate, *client.Result, error) {
			return c.PutCertificate(ctx, name, in, opts...)
		},
		del: func(ctx context.Context, c *client.Client, _ scope, name string, opts ...client.CallOption) (*client.Result, error) {
			return c.DeleteCertificate(ctx, name, opts...)
		},
		name:     func(in *client.CertificateInput) *string { return &in.Name },
		putFlags: certFlags,
		header:   []string{"NAME", "TYPE", "COMMON NAME", "NAMES", "STATUS", "NOT AFTER", "FRONTENDS"},
		row:      certRow,
	}
}

// certFlags registers the flags of cert put.
func certFlags(fs *flag.FlagSet) func(in *client.CertificateInput) (bool, error) {
	typ := fs.String("type", "", "custom or letsencrypt (default: what the other flags imply)")
	chain := fs.String("chain", "", "custom: PEM file with the certificate chain, and the key unless --key")
	key := fs.String("key", "", "custom: PEM file with the private key")
	cn := fs.String("common-name", "", "letsencrypt: the main DNS name")
	sans := &listFlag{split: true}
	fs.Var(sans, "san", "letsencrypt: another DNS name (repeat, or comma-separated)")
	return func(in *client.CertificateInput) (bool, error) {
		given := false
		read := func(flagName, path string, dst *string) error {
			if path == "" {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("--%s: %w", flagName, err)
			}
			*dst, given = string(b), true
			return nil
		}
		if err := read("chain", *chain, &in.CertificateChain); err != nil {
			return false, err
		}
		if err := read("key", *key, &in.PrivateKey); err != nil {
			return false, err
		}
		if *typ != "" {
			in.Type, given = *typ, true
		}
		if *cn != "" {
			in.CommonName, given = *cn, true
		}
		if len(sans.vals) > 0 {
			in.SubjectAlternativeName, given = sans.vals, true
		}
		return given, nil
	}
}

func certRow(c client.Certificate) []string {
	after := ""
	if !c.NotValidAfter.IsZero() {
		after = c.NotValidAfter.UTC().Format(time.DateOnly)
	}
	status := c.Status
	if c.StatusDetails != "" {
		status += " (" + c.StatusDetails + ")"
	}
	return []string{c.Name, c.Type, c.CommonName, strings.Join(c.SubjectAlternativeName, ","), status, after, strings.Join(c.Frontends, ",")}
}
