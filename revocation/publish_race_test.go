package revocation

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/securechat/scca/certstore"
)

// TestConcurrentPublishersNeverGoBack runs revocations and CRL publishes
// concurrently, each worker with its own Store (its own connection pool, as
// separate processes would have), against one inventory and one pair of CRL
// files. Afterwards the published CRL must carry the last allocated number
// and every revocation, and PEM and DER must agree.
func TestConcurrentPublishersNeverGoBack(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			url := be.url(t)
			setup := openStore(t, url)
			dir := t.TempDir()
			root := newRootCA(t, dir, "root", nil)
			const workers, perWorker = 6, 4
			var serials []string
			for i := range workers * perWorker {
				// One CN per leaf: the inventory allows one active client
				// certificate per identity.
				c := root.leaf(t, "", fmt.Sprintf("leaf%d", i))
				if err := setup.Insert(ctx, recordOf(c.cert, certstore.TypeClient)); err != nil {
					t.Fatal(err)
				}
				serials = append(serials, fmt.Sprintf("%x", c.cert.SerialNumber))
			}
			pemPath, derPath := filepath.Join(dir, "crl.pem"), filepath.Join(dir, "crl.der")
			target := CRLTarget{CRLConfig: crlConfig(root), PEMPath: pemPath, DERPath: derPath}
			var wg sync.WaitGroup
			errs := make(chan error, workers*perWorker*2)
			for w := range workers {
				st := openStore(t, url)
				r := &Revoker{Store: st, CRLs: map[string]CRLTarget{root.keyID(): target}}
				wg.Go(func() {
					for i := range perWorker {
						s := serials[w*perWorker+i]
						if _, _, err := r.Revoke(ctx, RevokeRequest{Serial: s, Reason: 1, Actor: "race"}); err != nil {
							errs <- fmt.Errorf("revoke %s: %w", s, err)
						}
						if _, err := PublishCRL(ctx, st, target.CRLConfig, pemPath, derPath); err != nil {
							errs <- fmt.Errorf("publish: %w", err)
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			last, err := setup.LastCRLNumber(ctx, root.keyID())
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(derPath)
			if err != nil {
				t.Fatal(err)
			}
			rl, err := parseVerifiedCRL(raw, root.cert)
			if err != nil {
				t.Fatal(err)
			}
			if rl.Number.Int64() != last {
				t.Errorf("published CRL #%d, last allocated #%d", rl.Number.Int64(), last)
			}
			listed := map[string]bool{}
			for _, e := range rl.RevokedCertificateEntries {
				listed[fmt.Sprintf("%x", e.SerialNumber)] = true
			}
			for _, s := range serials {
				if !listed[s] {
					t.Errorf("revoked serial %s missing from the published CRL #%d", s, rl.Number.Int64())
				}
			}
			if err := CheckCRLPair(pemPath, derPath); err != nil {
				t.Error(err)
			}
		})
	}
}
