package revocation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
)

// maxChainDepth bounds how far ChainChecker.Check walks up from a leaf. An
// scca chain is leaf, intermediate, root; a loop in a bad CA set must not
// spin forever.
const maxChainDepth = 8

var _ Checker = (*ChainChecker)(nil)

// ChainChecker checks every certificate of a chain below its trust anchor:
// the leaf and each intermediate CA. Revoking an intermediate therefore
// refuses every leaf it issued, at once, in every consumer that uses it.
// The trust anchor itself is not checked: a self-signed root cannot be
// revoked under RFC 5280 (it would have to sign its own CRL), and is removed
// from trust stores instead.
//
// Each certificate is checked by the Checker for the CA that issued it:
// ByIssuer[issuer's subject key id], or Default. An inventory checker
// answers for every issuer, so it goes in Default; a CRL or OCSP checker
// is bound to one issuer (the leaf's CRL is not the intermediate's). A
// certificate whose issuer has no checker is not good (ErrUnavailable):
// a chain is never half checked. Safe for concurrent use when the checkers
// are.
type ChainChecker struct {
	// ByIssuer maps an issuing CA's subject key identifier (lower-case hex)
	// to the checker for the certificates it issued.
	ByIssuer map[string]Checker
	// Default checks certificates of issuers not in ByIssuer; nil refuses
	// them.
	Default Checker
	// CAs are the CA certificates Check builds a chain from when it is
	// given a leaf alone (a resumed chat session, a caller that did not
	// keep the verified chain). CheckChain does not use them.
	CAs []*x509.Certificate
}

// CheckChain checks chain, leaf first and ending with the trust anchor, as
// returned by ca.Trust.VerifyLeaf or x509.Certificate.Verify: every
// certificate but the last is checked, against the checker of the
// certificate after it. A one-element chain is the leaf alone, checked
// against the checker of its authority key identifier. It returns the first
// failure, naming the CA certificate when it is not the leaf; the error
// still matches ErrRevoked, ErrUnknown and the other Checker errors.
func (c *ChainChecker) CheckChain(ctx context.Context, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return fmt.Errorf("%w: empty chain", ErrUnknown)
	}
	last := len(chain) - 1
	if last == 0 {
		return c.checkOne(ctx, chain[0], chain[0].AuthorityKeyId)
	}
	for i, cert := range chain[:last] {
		if err := c.checkOne(ctx, cert, chain[i+1].SubjectKeyId); err != nil {
			if i > 0 {
				return fmt.Errorf("issuing CA %q (serial %x): %w", cert.Subject.CommonName, cert.SerialNumber, err)
			}
			return err
		}
	}
	return nil
}

// Check implements Checker: it builds the chain from leaf up to a
// self-signed CA among CAs (by issuer name, key identifier and signature)
// and checks it as CheckChain does. A leaf whose chain cannot be built from
// CAs is not good (ErrUnknown).
func (c *ChainChecker) Check(ctx context.Context, leaf *x509.Certificate) error {
	chain, err := c.build(leaf)
	if err != nil {
		return err
	}
	return c.CheckChain(ctx, chain)
}

func (c *ChainChecker) checkOne(ctx context.Context, cert *x509.Certificate, issuerKeyID []byte) error {
	checker := c.ByIssuer[hex.EncodeToString(issuerKeyID)]
	if checker == nil {
		checker = c.Default
	}
	if checker == nil {
		return fmt.Errorf("%w: no revocation source for certificates issued by key %x", ErrUnavailable, issuerKeyID)
	}
	return checker.Check(ctx, cert)
}

// build walks from leaf up through CAs until a self-signed certificate.
func (c *ChainChecker) build(leaf *x509.Certificate) ([]*x509.Certificate, error) {
	if leaf == nil {
		return nil, fmt.Errorf("%w: no certificate", ErrUnknown)
	}
	chain := []*x509.Certificate{leaf}
	for cur := leaf; !isSelfIssued(cur); {
		if len(chain) > maxChainDepth {
			return nil, fmt.Errorf("%w: chain longer than %d certificates", ErrUnknown, maxChainDepth)
		}
		parent := c.issuerOf(cur)
		if parent == nil {
			return nil, fmt.Errorf("%w: issuer %q of %q is not a known CA", ErrUnknown, cur.Issuer.CommonName, cur.Subject.CommonName)
		}
		chain = append(chain, parent)
		cur = parent
	}
	return chain, nil
}

func (c *ChainChecker) issuerOf(cert *x509.Certificate) *x509.Certificate {
	for _, ca := range c.CAs {
		if !bytes.Equal(ca.RawSubject, cert.RawIssuer) {
			continue
		}
		if len(cert.AuthorityKeyId) > 0 && !bytes.Equal(ca.SubjectKeyId, cert.AuthorityKeyId) {
			continue
		}
		if cert.CheckSignatureFrom(ca) == nil {
			return ca
		}
	}
	return nil
}

func isSelfIssued(c *x509.Certificate) bool { return bytes.Equal(c.RawIssuer, c.RawSubject) }
