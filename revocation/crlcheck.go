package revocation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// DefaultCRLRefresh is how long a CRLChecker trusts a fetched CRL before it
// fetches it again, when CRLChecker.Refresh is zero.
const DefaultCRLRefresh = 5 * time.Minute

// maxCRLSize bounds what a CRLChecker reads from a URL or file: about four
// million entries, far more than any scca CA will revoke.
const maxCRLSize = 256 << 20

// CRLChecker answers from a CRL read from a file or fetched over HTTP(S). The
// CRL must be signed by Issuer and must not be past its nextUpdate; it is
// fetched again after Refresh. If a refresh fails, the previous CRL is used
// until its nextUpdate (RFC 5280 §5.1.2.5), after which Check fails with
// ErrUnavailable. Safe for concurrent use.
type CRLChecker struct {
	Source     string            // file path, or http:// or https:// URL
	Issuer     *x509.Certificate // the CA that signs the CRL and issued the certificates
	Refresh    time.Duration     // 0 means DefaultCRLRefresh
	HTTPClient *http.Client      // nil means a client with a 30 s timeout
	Now        func() time.Time  // nil means time.Now

	mu          sync.Mutex
	crl         *loadedCRL
	lastAttempt time.Time
}

type loadedCRL struct {
	number     int64
	nextUpdate time.Time
	revoked    map[string]x509.RevocationListEntry // by lower-case hex serial
}

// Check implements Checker.
func (c *CRLChecker) Check(ctx context.Context, cert *x509.Certificate) error {
	if c.Issuer == nil {
		return fmt.Errorf("%w: crl checker has no issuer", ErrUnavailable)
	}
	_, serial, err := certID(cert)
	if err != nil {
		return err
	}
	if !bytes.Equal(cert.AuthorityKeyId, c.Issuer.SubjectKeyId) || !bytes.Equal(cert.RawIssuer, c.Issuer.RawSubject) {
		return fmt.Errorf("%w: certificate was not issued by the CRL's issuer", ErrUnknown)
	}
	now := nowOr(c.Now)
	crl, err := c.current(ctx, now)
	if err != nil {
		return err
	}
	if e, ok := crl.revoked[serial]; ok {
		return &RevokedError{Serial: serial, RevokedAt: e.RevocationTime, Reason: e.ReasonCode, Source: "crl"}
	}
	return checkValidity(cert, now)
}

// current returns a CRL that is usable at now, fetching one if the cached
// one is missing, due for refresh, or past its nextUpdate.
func (c *CRLChecker) current(ctx context.Context, now time.Time) (*loadedCRL, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	refresh := c.Refresh
	if refresh <= 0 {
		refresh = DefaultCRLRefresh
	}
	usable := c.crl != nil && now.Before(c.crl.nextUpdate)
	if usable && now.Sub(c.lastAttempt) < refresh {
		return c.crl, nil
	}
	c.lastAttempt = now
	fresh, err := c.fetch(ctx, now)
	if err == nil && c.crl != nil && fresh.number < c.crl.number {
		err = fmt.Errorf("%w: crl number went back from %d to %d", ErrUnavailable, c.crl.number, fresh.number)
	}
	if err == nil {
		c.crl = fresh
		return fresh, nil
	}
	if usable {
		return c.crl, nil
	}
	return nil, err
}

func (c *CRLChecker) fetch(ctx context.Context, now time.Time) (*loadedCRL, error) {
	raw, err := c.read(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: crl %s: %w", ErrUnavailable, c.Source, err)
	}
	rl, err := parseVerifiedCRL(raw, c.Issuer)
	if err != nil {
		return nil, fmt.Errorf("crl %s: %w", c.Source, err)
	}
	if err := checkCRLTimes(rl, now); err != nil {
		return nil, fmt.Errorf("crl %s: %w", c.Source, err)
	}
	crl := &loadedCRL{
		nextUpdate: rl.NextUpdate,
		revoked:    make(map[string]x509.RevocationListEntry, len(rl.RevokedCertificateEntries)),
	}
	if rl.Number != nil && rl.Number.IsInt64() {
		crl.number = rl.Number.Int64()
	}
	for _, e := range rl.RevokedCertificateEntries {
		crl.revoked[fmt.Sprintf("%x", e.SerialNumber)] = x509.RevocationListEntry{
			RevocationTime: e.RevocationTime, ReasonCode: e.ReasonCode,
		}
	}
	return crl, nil
}

func (c *CRLChecker) read(ctx context.Context) ([]byte, error) {
	if !strings.HasPrefix(c.Source, "http://") && !strings.HasPrefix(c.Source, "https://") {
		f, err := os.Open(c.Source)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readLimited(f, "crl", maxCRLSize)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Source, nil)
	if err != nil {
		return nil, err
	}
	return fetch(c.HTTPClient, 30*time.Second, req, "crl", maxCRLSize)
}

// parseVerifiedCRL parses a DER or PEM CRL and checks that issuer signed it.
func parseVerifiedCRL(raw []byte, issuer *x509.Certificate) (*x509.RevocationList, error) {
	if block, _ := pem.Decode(raw); block != nil {
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("%w: pem block is %q, not X509 CRL", ErrUnavailable, block.Type)
		}
		raw = block.Bytes
	}
	rl, err := x509.ParseRevocationList(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: parse: %w", ErrUnavailable, err)
	}
	if !bytes.Equal(rl.RawIssuer, issuer.RawSubject) {
		return nil, fmt.Errorf("%w: crl issuer is %s, want %s", ErrBadSignature, rl.Issuer, issuer.Subject)
	}
	if len(rl.AuthorityKeyId) > 0 && !bytes.Equal(rl.AuthorityKeyId, issuer.SubjectKeyId) {
		return nil, fmt.Errorf("%w: crl authority key identifier does not match the issuer", ErrBadSignature)
	}
	if err := rl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return rl, nil
}

// checkCRLTimes refuses a CRL without nextUpdate, past it, or from the future.
func checkCRLTimes(rl *x509.RevocationList, now time.Time) error {
	if rl.NextUpdate.IsZero() {
		return fmt.Errorf("%w: crl has no nextUpdate", ErrUnavailable)
	}
	if !now.Before(rl.NextUpdate) {
		return fmt.Errorf("%w: %w: nextUpdate was %s", ErrUnavailable, ErrStale, rl.NextUpdate.UTC().Format(time.RFC3339))
	}
	if now.Add(maxClockSkew).Before(rl.ThisUpdate) {
		return fmt.Errorf("%w: crl thisUpdate %s is in the future", ErrUnavailable, rl.ThisUpdate.UTC().Format(time.RFC3339))
	}
	return nil
}

// maxClockSkew is how far in the future a CRL's or OCSP response's
// thisUpdate may be, to tolerate clocks that disagree a little.
const maxClockSkew = 5 * time.Minute

// CRLHealth describes a published CRL file.
type CRLHealth struct {
	Number      int64
	ThisUpdate  time.Time
	NextUpdate  time.Time
	Entries     int
	Stale       bool // past nextUpdate: relying parties refuse it
	ExpiresSoon bool // nextUpdate is within the warning window
}

// CheckCRLFile reads a published CRL (PEM or DER), verifies its signature
// against issuer, and reports its health at now. It returns an error
// matching ErrStale (with the health filled in) when the CRL is past its
// nextUpdate, and an error for a CRL that cannot be read, parsed or
// verified. ExpiresSoon is set when nextUpdate is less than warnWithin away;
// that alone is not an error.
func CheckCRLFile(path string, issuer *x509.Certificate, now time.Time, warnWithin time.Duration) (CRLHealth, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return CRLHealth{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	_, h, err := checkCRLBytes(path, raw, issuer, now, warnWithin)
	return h, err
}

func checkCRLBytes(path string, raw []byte, issuer *x509.Certificate, now time.Time, warnWithin time.Duration) (*x509.RevocationList, CRLHealth, error) {
	rl, err := parseVerifiedCRL(raw, issuer)
	if err != nil {
		return nil, CRLHealth{}, fmt.Errorf("crl %s: %w", path, err)
	}
	h := CRLHealth{ThisUpdate: rl.ThisUpdate, NextUpdate: rl.NextUpdate, Entries: len(rl.RevokedCertificateEntries)}
	if rl.Number != nil && rl.Number.IsInt64() {
		h.Number = rl.Number.Int64()
	}
	h.Stale = rl.NextUpdate.IsZero() || !now.Before(rl.NextUpdate)
	h.ExpiresSoon = h.Stale || rl.NextUpdate.Sub(now) < warnWithin
	if err := checkCRLTimes(rl, now); err != nil {
		return rl, h, fmt.Errorf("crl %s: %w", path, err)
	}
	return rl, h, nil
}
