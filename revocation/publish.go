package revocation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"

	"github.com/securechat/scca/internal/atomicfile"
	"github.com/securechat/scca/inventory"
)

// CRLLocker is an optional ability of a CRLStore (*inventory.Store has it):
// a lock on one issuer's CRL that every publisher sharing the database
// holds across "allocate number, read revoked list, sign, write", so CRLs
// published from several hosts come out in number order, each listing
// every revocation committed before its number was allocated. unlock
// releases it.
type CRLLocker interface {
	LockCRL(ctx context.Context, issuerKeyID string) (unlock func(), err error)
}

// lockRetry is how often a publisher waiting for another one's file lock
// tries again. Publishing takes milliseconds to seconds; 20 ms keeps the
// wait short without spinning.
const lockRetry = 20 * time.Millisecond

// publishHook, when set (by tests only), is called at named points of
// PublishCRL; a test kills the process there to simulate a crash.
var publishHook func(point string)

// PublishCRL generates the issuer's CRL and replaces pemPath and derPath
// (either may be empty to skip it) with it.
//
// Publishers are serialized: a file lock beside the CRL (one host) and,
// when st is a CRLLocker, a database lock (several hosts) are held from the
// number's allocation until both files are written. Under the lock the
// published CRL is read first, and a CRL whose number is not above it is
// never written (ErrCRLWentBack): the CRL on disk only moves forward.
//
// The pair is written crash-consistently: both files are staged (written
// and synced) before either is replaced, then crl.der is renamed into place
// before crl.pem. A crash between the two renames leaves the DER (what
// `scca serve` serves) newer than the PEM; CheckCRLPair reports that, and
// the next PublishCRL replaces both. Stale temp files of a crashed
// publisher are removed under the lock. A failure before the renames
// leaves the published CRLs as they were.
//
// An issuer that the inventory records as revoked gets no CRL
// (ErrIssuerRevoked): its key is no longer trusted to say anything.
func PublishCRL(ctx context.Context, st CRLStore, cfg CRLConfig, pemPath, derPath string) (CRLInfo, error) {
	if err := cfg.check(); err != nil {
		return CRLInfo{}, err
	}
	if err := checkIssuerNotRevoked(ctx, st, cfg.Issuer); err != nil {
		return CRLInfo{}, err
	}
	unlock, err := lockPublish(ctx, st, hex.EncodeToString(cfg.Issuer.SubjectKeyId), pemPath, derPath)
	if err != nil {
		return CRLInfo{}, fmt.Errorf("publish crl: %w", err)
	}
	defer unlock()
	removeStaleTemps(pemPath, derPath)
	published, publishedPath := publishedNumber(cfg.Issuer, pemPath, derPath)
	if _, err := catchUp(ctx, st, cfg.Issuer, published, publishedPath); err != nil {
		return CRLInfo{}, err
	}
	der, info, err := GenerateCRL(ctx, st, cfg)
	if err != nil {
		return CRLInfo{}, err
	}
	if info.Number <= published {
		return CRLInfo{}, fmt.Errorf("%w: allocated #%d but #%d is already published (was the inventory restored from a backup?)",
			ErrCRLWentBack, info.Number, published)
	}
	if err := writePair(der, pemPath, derPath); err != nil {
		return CRLInfo{}, fmt.Errorf("publish crl: %w", err)
	}
	info.PEMPath, info.DERPath = pemPath, derPath
	return info, nil
}

// checkIssuerNotRevoked refuses an issuer whose own certificate the
// inventory records as revoked, when st can look records up. A root (not
// recorded under another issuer) or an issuer unknown to the inventory
// passes.
func checkIssuerNotRevoked(ctx context.Context, st CRLStore, issuer *x509.Certificate) error {
	g, ok := st.(RecordGetter)
	if !ok || len(issuer.AuthorityKeyId) == 0 || isSelfIssued(issuer) {
		return nil
	}
	rec, err := g.Get(ctx, hex.EncodeToString(issuer.AuthorityKeyId), fmt.Sprintf("%x", issuer.SerialNumber))
	switch {
	case errors.Is(err, inventory.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("%w: check whether %q is revoked: %w", ErrUnavailable, issuer.Subject.CommonName, err)
	case rec.Status == inventory.StatusRevoked:
		return fmt.Errorf("%w: %q (serial %s)", ErrIssuerRevoked, issuer.Subject.CommonName, rec.Serial)
	}
	return nil
}

// lockPublish takes the file lock beside the CRL files, then the store's
// lock when it has one. The file lock is advisory (flock(2)): every scca
// process takes it; it is released when the process dies.
func lockPublish(ctx context.Context, st CRLStore, keyID, pemPath, derPath string) (func(), error) {
	fl := flock.New(lockPath(pemPath, derPath))
	ok, err := fl.TryLockContext(ctx, lockRetry)
	if err != nil || !ok {
		return nil, fmt.Errorf("lock %s: %w", fl.Path(), errors.Join(err, ctx.Err()))
	}
	release := func() { _ = fl.Unlock() }
	l, isLocker := st.(CRLLocker)
	if !isLocker {
		return release, nil
	}
	dbUnlock, err := l.LockCRL(ctx, keyID)
	if err != nil {
		release()
		return nil, err
	}
	return func() { dbUnlock(); release() }, nil
}

// lockPath is the lock file of a CRL pair: hidden, beside the DER file (or
// the PEM file when there is no DER).
func lockPath(pemPath, derPath string) string {
	p := derPath
	if p == "" {
		p = pemPath
	}
	return filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".lock")
}

// removeStaleTemps deletes temp files a killed publisher left (the names
// atomicfile.Stage makes). Only called under the lock, when no other
// publisher can be staging.
func removeStaleTemps(paths ...string) {
	for _, p := range paths {
		if p == "" {
			continue
		}
		stale, _ := filepath.Glob(filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*"))
		for _, s := range stale {
			os.Remove(s)
		}
	}
}

// publishedNumber is the highest CRL number among the published files that
// parse and verify against issuer, and the file that holds it; 0 when
// there is none. A file that does
// not verify is no CRL of this issuer and will be replaced.
func publishedNumber(issuer *x509.Certificate, paths ...string) (n int64, path string) {
	for _, p := range paths {
		if p == "" {
			continue
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if rl, err := parseVerifiedCRL(raw, issuer); err == nil && rl.Number != nil && rl.Number.IsInt64() && rl.Number.Int64() > n {
			n, path = rl.Number.Int64(), p
		}
	}
	return n, path
}

// writePair stages both files, then renames DER before PEM (see
// PublishCRL).
func writePair(der []byte, pemPath, derPath string) error {
	files := []struct {
		path string
		data []byte
	}{
		{derPath, der},
		{pemPath, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})},
	}
	staged := make([]string, len(files))
	defer func() {
		for _, tmp := range staged {
			if tmp != "" {
				os.Remove(tmp)
			}
		}
	}()
	var err error
	for i, f := range files {
		if f.path == "" {
			continue
		}
		// CRLs are public documents, hence 0644.
		if staged[i], err = atomicfile.Stage(f.path, f.data, 0o644); err != nil {
			return err
		}
	}
	for i, f := range files {
		if f.path == "" {
			continue
		}
		if i > 0 && publishHook != nil {
			publishHook("between renames")
		}
		if err := atomicfile.Commit(staged[i], f.path, false); err != nil {
			return err
		}
		staged[i] = ""
	}
	return nil
}

// CheckCRLPair reports whether the published PEM and DER files hold the
// same CRL. A difference (a publisher crashed between the two renames, or
// someone replaced one file) is ErrCRLPairMismatch naming both numbers;
// `scca crl` repairs it by publishing both anew. A missing file is the
// os error.
func CheckCRLPair(pemPath, derPath string) error {
	pemRaw, err := os.ReadFile(pemPath)
	if err != nil {
		return err
	}
	derRaw, err := os.ReadFile(derPath)
	if err != nil {
		return err
	}
	block, _ := pem.Decode(pemRaw)
	if block != nil && bytes.Equal(block.Bytes, derRaw) {
		return nil
	}
	return fmt.Errorf("%w: %s is CRL #%s, %s is CRL #%s", ErrCRLPairMismatch,
		pemPath, crlNumberText(pemRaw), derPath, crlNumberText(derRaw))
}

func crlNumberText(raw []byte) string {
	if block, _ := pem.Decode(raw); block != nil {
		raw = block.Bytes
	}
	rl, err := x509.ParseRevocationList(raw)
	if err != nil || rl.Number == nil {
		return "? (unparseable)"
	}
	return rl.Number.String()
}
