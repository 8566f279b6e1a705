// Package certs owns gantry's TLS certificates: parsing and validating
// custom certificates, sealing their private keys at rest, choosing a
// certificate per handshake by SNI, building each frontend's *tls.Config
// from a profile, and obtaining and renewing ACME certificates through
// certmagic with gantry's store as the shared storage and lock service.
//
// Invariants:
//
//   - A private key never leaves the package in clear except inside the
//     *tls.Certificate used for serving. Certificate exposes Info (public
//     data) and marshals to JSON as Info; keys are stored sealed (Stored,
//     and ACME records and account keys in the store) with the Sealer,
//     whose key file <data>/certs.key is created 0600 on first use.
//   - The served set is an immutable catalog published with one atomic
//     store; each frontend's SNI table is rebuilt from it off the hot path.
//     Replacing a certificate affects the next handshake; established
//     connections keep the certificate they were served.
//   - SNI selection within a frontend: exact name, then a one-label
//     wildcard, then the first listed certificate that is available.
//   - ACME: every node sharing the store runs the same workers, but an
//     order is placed only by the holder of the certificate's lock, after
//     re-reading the store under that lock, so a name is never ordered
//     twice by nodes sharing a store. The outcome (certificate, or the
//     CA's reason and the next attempt time) is written to the store and
//     served by every node.
//
// Hot path and allocation budget: the GetCertificate callback makes two
// atomic loads and at most two map lookups and allocates nothing (a server
// name with upper-case letters costs one lower-casing allocation). ACME
// TLS-ALPN-01 validations go through certmagic and allocate; they are rare.
// Nothing in this package runs per request.
//
// The package must not import the proxies, api or control.
package certs
