package ca

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/securechat/scca/inventory"
)

// ErrCARevoked is returned when the inventory records the issuing CA, or a
// CA above it, as revoked: such a CA must not issue or sign anything more.
var ErrCARevoked = errors.New("CA certificate is revoked")

// RecordGetter looks a certificate up in the inventory (certstore.Store
// implements it). As an optional ability of a Recorder it lets an
// Authority learn whether one of its CAs has been revoked.
type RecordGetter interface {
	Get(ctx context.Context, issuerKeyID, serial string) (inventory.Record, error)
}

// CheckNotRevoked fails with ErrCARevoked when the inventory records a CA
// certificate of this Authority (issuer or root) as revoked; see
// CheckCAsNotRevoked. A Recorder that cannot look records up has nothing to
// check against. Issue, Certify and SignCSR call it before signing.
func (a *Authority) CheckNotRevoked(ctx context.Context) error {
	g, ok := a.store.(RecordGetter)
	if !ok {
		return nil
	}
	return CheckCAsNotRevoked(ctx, g, a.Chain()...)
}

// CheckCAsNotRevoked fails with ErrCARevoked when st records one of cas as
// revoked, and with the store's error when it cannot tell: signing under a
// CA whose status is unknown would hand out something nobody should trust.
// A CA the inventory does not hold is taken as not revoked.
func CheckCAsNotRevoked(ctx context.Context, st RecordGetter, cas ...*x509.Certificate) error {
	for _, c := range cas {
		rec, err := st.Get(ctx, recordIssuerKeyID(c), serialHex(c))
		switch {
		case errors.Is(err, inventory.ErrNotFound):
			continue
		case err != nil:
			return fmt.Errorf("check whether CA %q is revoked: %w", c.Subject.CommonName, err)
		case rec.Status == inventory.StatusRevoked:
			return fmt.Errorf("%w: %q (serial %s) was revoked%s", ErrCARevoked, c.Subject.CommonName, rec.Serial, revokedDetail(rec))
		}
	}
	return nil
}

// recordIssuerKeyID is the inventory's issuer key of a CA certificate: its
// AKI, or for a self-signed root without one, its own SKI (see writeCA).
func recordIssuerKeyID(c *x509.Certificate) string {
	if len(c.AuthorityKeyId) == 0 {
		return hex.EncodeToString(c.SubjectKeyId)
	}
	return hex.EncodeToString(c.AuthorityKeyId)
}

func revokedDetail(rec inventory.Record) string {
	s := ""
	if rec.RevokedAt != nil {
		s += " at " + rec.RevokedAt.UTC().Format(time.RFC3339)
	}
	if rec.Reason != nil {
		s += " (" + inventory.ReasonName(*rec.Reason) + ")"
	}
	return s
}
