package certs

import "errors"

// The sentinel errors of the package. Errors returned by the package wrap
// them, so test with errors.Is.
var (
	// ErrInvalid is wrapped by every *ValidationError: the input (a PEM
	// chain, a key, an ACME name) was rejected and the API should answer 400
	// naming ValidationError.Field.
	ErrInvalid = errors.New("certs: invalid certificate")
	// ErrUnseal means sealed data could not be opened: it was tampered
	// with, truncated, or sealed with another key file.
	ErrUnseal = errors.New("certs: cannot open sealed data")
	// ErrNoCertificate is returned by GetCertificate when a frontend has no
	// usable certificate (none listed, or none obtained yet).
	ErrNoCertificate = errors.New("certs: no certificate for this frontend")
	// ErrLockNotHeld is returned by Storage.Unlock for a lock this Storage
	// does not hold.
	ErrLockNotHeld = errors.New("certs: lock not held")
	// ErrClosed is returned by a Manager after Close.
	ErrClosed = errors.New("certs: manager closed")
)

// ValidationError says which input field was rejected and why, in words
// that can be shown to the user as is (for example
// "certificate_chain: private key does not match the certificate (leaf CN=example.com)").
type ValidationError struct {
	Field  string // the API field: certificate_chain, private_key, common_name, ...
	Reason string
}

// Error returns "field: reason".
func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true for every ValidationError.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, reason string) error { return &ValidationError{Field: field, Reason: reason} }
