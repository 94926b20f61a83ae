package revocation

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/securechat/scca/inventory"
)

// ErrCRLDropsRevocations: the published CRL lists revocations the inventory
// does not hold, so a CRL generated from it would un-revoke them. It is
// what an inventory restored from an older copy (or replaced) looks like
// when revocations were made after the copy.
var ErrCRLDropsRevocations = errors.New("the published CRL lists revocations the inventory does not hold")

// lastNumberer reads a store's CRL counter without moving it.
type lastNumberer interface {
	LastCRLNumber(ctx context.Context, issuerKeyID string) (int64, error)
}

// catchUp runs before a number is allocated, under the publish lock, when
// the published CRL's number is ahead of the inventory's counter: the
// inventory has not seen that CRL, so it was restored from an older copy or
// replaced. If the inventory records every revocation the published CRL
// lists, its counter is moved up to the published number (so the next
// allocation is above it) and publishing goes on; otherwise nothing is
// allocated and the error names the missing revocations. Allocating first
// and refusing afterwards (as the number check alone did) used numbers up,
// so a second attempt found the counter past the published CRL and
// published one without the lost revocations.
//
// It returns handled=false when st cannot tell (no LastCRLNumber or no
// Get): PublishCRL then keeps the check after allocation.
func catchUp(ctx context.Context, st CRLStore, issuer *x509.Certificate, published int64, publishedPath string) (handled bool, err error) {
	ln, ok1 := st.(lastNumberer)
	g, ok2 := st.(RecordGetter)
	if !ok1 || !ok2 || published == 0 {
		return false, nil
	}
	keyID := hex.EncodeToString(issuer.SubjectKeyId)
	last, err := ln.LastCRLNumber(ctx, keyID)
	if err != nil {
		return true, fmt.Errorf("%w: read the inventory's CRL number: %w", ErrUnavailable, err)
	}
	if last >= published {
		return true, nil
	}
	missing, err := missingRevocations(ctx, g, issuer, publishedPath)
	if err != nil {
		return true, err
	}
	if len(missing) > 0 {
		shown := missing[:min(len(missing), 5)]
		more := ""
		if len(missing) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(missing)-len(shown))
		}
		return true, fmt.Errorf("%w: %s (CRL #%d; the inventory's counter is at #%d, so it was restored from an older copy or replaced) lists %d the inventory does not record as revoked: %s%s; publishing would un-revoke them",
			ErrCRLDropsRevocations, publishedPath, published, last, len(missing), strings.Join(shown, ", "), more)
	}
	for n := last; n < published; {
		if n, err = st.NextCRLNumber(ctx, keyID); err != nil {
			return true, err
		}
	}
	return true, nil
}

// missingRevocations lists the serials the CRL file at path revokes that
// the inventory does not record as revoked (unknown, or active).
func missingRevocations(ctx context.Context, g RecordGetter, issuer *x509.Certificate, path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read published crl: %w", err)
	}
	rl, err := parseVerifiedCRL(raw, issuer)
	if err != nil {
		return nil, err
	}
	keyID := hex.EncodeToString(issuer.SubjectKeyId)
	var missing []string
	for _, e := range rl.RevokedCertificateEntries {
		serial := e.SerialNumber.Text(16)
		rec, err := g.Get(ctx, keyID, serial)
		switch {
		case errors.Is(err, inventory.ErrNotFound):
			missing = append(missing, serial+" (unknown to the inventory)")
		case err != nil:
			return nil, fmt.Errorf("%w: look up %s: %w", ErrUnavailable, serial, err)
		case rec.Status != inventory.StatusRevoked:
			missing = append(missing, serial)
		}
	}
	return missing, nil
}
