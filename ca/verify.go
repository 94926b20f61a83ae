package ca

import (
	"crypto/x509"
	"time"

	"github.com/securechat/scca/internal/leafcheck"
)

// Errors from VerifyLeaf that callers (the chat handshake, `scca verify`)
// report or branch on; they are package leafcheck's, which the secure
// channel shares. Chain-building failures from crypto/x509 are wrapped as
// they are.
var (
	ErrLeafIsCA     = leafcheck.ErrLeafIsCA
	ErrWrongEKU     = leafcheck.ErrWrongEKU
	ErrNotYet       = leafcheck.ErrNotYet
	ErrExpired      = leafcheck.ErrExpired
	ErrNoSerial     = leafcheck.ErrNoSerial
	ErrUntrusted    = leafcheck.ErrUntrusted
	ErrNameMismatch = leafcheck.ErrNameMismatch
)

// Trust is the set of CA certificates a relying party accepts: the root(s)
// and any intermediates that may appear between them and a leaf.
type Trust struct {
	Roots         *x509.CertPool
	Intermediates *x509.CertPool
}

// NewTrust builds a Trust from a root and optional intermediates.
func NewTrust(root *x509.Certificate, intermediates ...*x509.Certificate) Trust {
	t := Trust{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	t.Roots.AddCert(root)
	for _, c := range intermediates {
		t.Intermediates.AddCert(c)
	}
	return t
}

// VerifyLeaf checks that cert is a usable end-entity certificate for purpose
// at time now and returns the verified chain, leaf first (leafcheck.Verify:
// chains to the trust anchors, not a CA, the purpose's EKU explicitly, a
// positive serial, valid for name when it is not empty). Revocation is the
// caller's job (package revocation).
func (t Trust) VerifyLeaf(cert *x509.Certificate, purpose x509.ExtKeyUsage, name string, now time.Time) ([]*x509.Certificate, error) {
	return leafcheck.Verify(t.Roots, t.Intermediates, cert, purpose, name, now)
}
