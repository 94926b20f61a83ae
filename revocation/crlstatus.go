package revocation

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/securechat/scca/inventory"
)

// CRLStatusStore is what CheckPublishedCRL needs from the inventory;
// *inventory.Store implements it.
type CRLStatusStore interface {
	Revoked(ctx context.Context, issuerKeyID string, fn func(inventory.RevokedEntry) error) error
	LastCRLNumber(ctx context.Context, issuerKeyID string) (int64, error)
}

// PublishedCRL describes a published CRL pair compared with the inventory.
type PublishedCRL struct {
	CRLHealth
	LastAllocated int64 // the inventory's last CRL number for the issuer
	Missing       int   // revocations in the inventory the CRL does not list
	FirstMissing  string
}

// CheckPublishedCRL checks a published CRL pair as `scca crl status` does:
// PEM and DER hold the same CRL (else ErrCRLPairMismatch), it verifies
// against issuer and is not stale (as CheckCRLFile), its number is not
// ahead of the inventory's last allocated number (else ErrCRLWentBack: the
// inventory was restored, or is another CA's), and it lists every
// revocation of the issuer that the inventory holds (else
// ErrCRLIncomplete). A number behind the last allocated one is no error by
// itself: an allocation whose publish failed leaves a gap (RFC 5280
// §5.2.3 allows them); the missing revocations are what matter.
func CheckPublishedCRL(ctx context.Context, st CRLStatusStore, issuer *x509.Certificate, pemPath, derPath string, now time.Time, warnWithin time.Duration) (PublishedCRL, error) {
	var p PublishedCRL
	if derPath != "" {
		if err := CheckCRLPair(pemPath, derPath); err != nil {
			return p, err
		}
	}
	raw, err := os.ReadFile(pemPath)
	if err != nil {
		return p, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	rl, h, err := checkCRLBytes(pemPath, raw, issuer, now, warnWithin)
	p.CRLHealth = h
	if err != nil {
		return p, err
	}
	keyID := hex.EncodeToString(issuer.SubjectKeyId)
	if p.LastAllocated, err = st.LastCRLNumber(ctx, keyID); err != nil {
		return p, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if p.Number > p.LastAllocated {
		return p, fmt.Errorf("%w: published CRL #%d is ahead of the inventory's last number #%d (restored or foreign inventory?)",
			ErrCRLWentBack, p.Number, p.LastAllocated)
	}
	listed := make(map[string]bool, len(rl.RevokedCertificateEntries))
	for _, e := range rl.RevokedCertificateEntries {
		listed[fmt.Sprintf("%x", e.SerialNumber)] = true
	}
	err = st.Revoked(ctx, keyID, func(e inventory.RevokedEntry) error {
		if !listed[e.Serial] {
			if p.Missing == 0 {
				p.FirstMissing = e.Serial
			}
			p.Missing++
		}
		return nil
	})
	if err != nil {
		return p, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if p.Missing > 0 {
		return p, fmt.Errorf("%w: CRL #%d lacks %d revocation(s), first serial %s", ErrCRLIncomplete, p.Number, p.Missing, p.FirstMissing)
	}
	return p, nil
}
