// Package leafcheck verifies an end-entity certificate for a relying party
// of a private PKI: the checks crypto/x509 skips (a CA used as a leaf, a
// missing EKU taken as "any", a non-positive serial) on top of chain
// building. Package ca (Trust.VerifyLeaf) and the secure channel
// (chat/channel) share it, so neither imports the other.
package leafcheck

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors from Verify that callers (the chat handshake, `scca verify`)
// report or branch on. Chain-building failures from crypto/x509 are wrapped
// as they are.
var (
	ErrLeafIsCA     = errors.New("certificate is a CA certificate, not a leaf")
	ErrWrongEKU     = errors.New("certificate lacks the required extended key usage")
	ErrNotYet       = errors.New("certificate is not yet valid")
	ErrExpired      = errors.New("certificate has expired")
	ErrNoSerial     = errors.New("certificate serial number is not positive")
	ErrUntrusted    = errors.New("certificate does not chain to the configured CA")
	ErrNameMismatch = errors.New("certificate is not valid for the expected name")
)

// Verify checks that cert is a usable end-entity certificate for purpose
// at time now: it chains to the trust anchors, it is not a CA, it carries the
// purpose's EKU explicitly (x509.ExtKeyUsageAny is not accepted), its serial
// is positive (RFC 5280 §4.1.2.2), and, when name is not empty, it is valid
// for that DNS name or IP address. It returns the verified chain, leaf first.
//
// crypto/x509's Verify alone is not enough for a private PKI: it accepts a
// CA certificate as a leaf, treats a missing EKU as "any", and knows nothing
// about revocation; the checks it skips are made here, and revocation is the
// caller's job (package revocation).
func Verify(roots, intermediates *x509.CertPool, cert *x509.Certificate, purpose x509.ExtKeyUsage, name string, now time.Time) ([]*x509.Certificate, error) {
	if err := checkLeaf(cert, purpose, now); err != nil {
		return nil, err
	}
	return verifyChain(roots, intermediates, cert, purpose, name, now)
}

// checkLeaf makes the checks of Verify that crypto/x509 skips or that are
// cheap enough to repeat on every use (Cache runs them on every hit).
func checkLeaf(cert *x509.Certificate, purpose x509.ExtKeyUsage, now time.Time) error {
	if cert.BasicConstraintsValid && cert.IsCA {
		return ErrLeafIsCA
	}
	if cert.SerialNumber == nil || cert.SerialNumber.Sign() <= 0 {
		return ErrNoSerial
	}
	if !slices.Contains(cert.ExtKeyUsage, purpose) {
		return fmt.Errorf("%w: need %s", ErrWrongEKU, ekuName(purpose))
	}
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("%w: valid from %s", ErrNotYet, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(cert.NotAfter) {
		return fmt.Errorf("%w: expired at %s", ErrExpired, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// verifyChain builds and checks the chain (signatures, validity, EKU
// nesting, constraints) and the name: the part of Verify that Cache reuses.
func verifyChain(roots, intermediates *x509.CertPool, cert *x509.Certificate, purpose x509.ExtKeyUsage, name string, now time.Time) ([]*x509.Certificate, error) {
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{purpose},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	if name != "" {
		if err := cert.VerifyHostname(name); err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrNameMismatch, name, err)
		}
	}
	return chains[0], nil
}

func ekuName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	case x509.ExtKeyUsageClientAuth:
		return "clientAuth"
	default:
		return fmt.Sprintf("EKU %d", u)
	}
}
