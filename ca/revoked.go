package ca

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/securechat/scca/certstore"
)

// ErrCARevoked is returned when the inventory records the issuing CA, or a
// CA above it, as revoked: such a CA must not issue or sign anything more.
var ErrCARevoked = errors.New("CA certificate is revoked")

// recordGetter is an optional ability of a Recorder (certstore.Store has
// it): looking a certificate up, here to learn whether a CA of this
// Authority has been revoked.
type recordGetter interface {
	Get(ctx context.Context, issuerKeyID, serial string) (certstore.Record, error)
}

// CheckNotRevoked fails with ErrCARevoked when the inventory records a CA
// certificate of this Authority (issuer or root) as revoked, and with the
// store's error when it cannot tell: issuing under a CA whose status is
// unknown would hand out certificates nobody should trust. A CA the
// inventory does not hold, or a Recorder that cannot look records up, is
// taken as not revoked. Issue, Certify and SignCSR call it before signing.
func (a *Authority) CheckNotRevoked(ctx context.Context) error {
	g, ok := a.store.(recordGetter)
	if !ok {
		return nil
	}
	for _, c := range a.Chain() {
		rec, err := g.Get(ctx, recordIssuerKeyID(c), serialHex(c))
		switch {
		case errors.Is(err, certstore.ErrNotFound):
			continue
		case err != nil:
			return fmt.Errorf("check whether CA %q is revoked: %w", c.Subject.CommonName, err)
		case rec.Status == certstore.StatusRevoked:
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

func revokedDetail(rec certstore.Record) string {
	s := ""
	if rec.RevokedAt != nil {
		s += " at " + rec.RevokedAt.UTC().Format(time.RFC3339)
	}
	if rec.Reason != nil {
		s += " (" + certstore.ReasonName(*rec.Reason) + ")"
	}
	return s
}
