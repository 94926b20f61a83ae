package revocation

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"golang.org/x/crypto/ocsp"
)

// maxOCSPResponseSize bounds what an OCSPChecker reads from a responder.
const maxOCSPResponseSize = 64 << 10

// OCSPChecker answers by asking an RFC 6960 OCSP responder. The response must
// be signed by Issuer, or by a certificate that Issuer issued for
// id-kp-OCSPSigning (RFC 6960 §4.2.2.2), and now must fall within its
// thisUpdate/nextUpdate window. Requests carry no nonce: scca's responder,
// like most (RFC 5019), signs fresh responses without echoing one, and the
// validity window is what bounds replay. Safe for concurrent use.
type OCSPChecker struct {
	URL        string
	Issuer     *x509.Certificate
	HTTPClient *http.Client     // nil means a client with a 10 s timeout
	Now        func() time.Time // nil means time.Now
}

// Check implements Checker.
func (c *OCSPChecker) Check(ctx context.Context, cert *x509.Certificate) error {
	if c.Issuer == nil {
		return fmt.Errorf("%w: ocsp checker has no issuer", ErrUnavailable)
	}
	_, serial, err := certID(cert)
	if err != nil {
		return err
	}
	if !bytes.Equal(cert.RawIssuer, c.Issuer.RawSubject) {
		return fmt.Errorf("%w: certificate was not issued by the OCSP issuer", ErrUnknown)
	}
	raw, err := c.query(ctx, cert)
	if err != nil {
		return fmt.Errorf("%w: ocsp %s: %w", ErrUnavailable, c.URL, err)
	}
	now := nowOr(c.Now)
	resp, err := c.verify(raw, cert, now)
	if err != nil {
		return fmt.Errorf("ocsp %s: %w", c.URL, err)
	}
	switch resp.Status {
	case ocsp.Good:
		return checkValidity(cert, now)
	case ocsp.Revoked:
		return &RevokedError{Serial: serial, RevokedAt: resp.RevokedAt, Reason: resp.RevocationReason, Source: "ocsp"}
	default:
		return fmt.Errorf("%w: ocsp responder does not know serial %s", ErrUnknown, serial)
	}
}

func (c *OCSPChecker) query(ctx context.Context, cert *x509.Certificate) ([]byte, error) {
	der, err := ocsp.CreateRequest(cert, c.Issuer, &ocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		return nil, fmt.Errorf("create request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(der))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	req.Header.Set("Accept", "application/ocsp-response")
	return fetch(c.HTTPClient, 10*time.Second, req, "response", maxOCSPResponseSize)
}

// verify parses the response, checks who signed it and when it is valid.
// Parsing is done without an issuer so that a signature failure can be told
// apart from a malformed response; the signature is then checked here.
func (c *OCSPChecker) verify(raw []byte, cert *x509.Certificate, now time.Time) (*ocsp.Response, error) {
	resp, err := ocsp.ParseResponseForCert(raw, cert, nil)
	if err != nil {
		var re ocsp.ResponseError
		if errors.As(err, &re) && re.Status == ocsp.Unauthorized {
			// RFC 5019 §2.2.3: the responder has no authority for this certificate.
			return nil, fmt.Errorf("%w: responder answered unauthorized", ErrUnknown)
		}
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	signer := c.Issuer
	if resp.Certificate != nil && !resp.Certificate.Equal(c.Issuer) {
		if err := checkDelegate(resp.Certificate, c.Issuer, now); err != nil {
			return nil, err
		}
		signer = resp.Certificate
	}
	if err := resp.CheckSignatureFrom(signer); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if now.Add(maxClockSkew).Before(resp.ThisUpdate) {
		return nil, fmt.Errorf("%w: response thisUpdate %s is in the future", ErrUnavailable, resp.ThisUpdate.UTC().Format(time.RFC3339))
	}
	if !resp.NextUpdate.IsZero() && !now.Before(resp.NextUpdate) {
		return nil, fmt.Errorf("%w: %w: response nextUpdate was %s", ErrUnavailable, ErrStale, resp.NextUpdate.UTC().Format(time.RFC3339))
	}
	return resp, nil
}

// checkDelegate accepts a delegated responder certificate only if issuer
// signed it, it is for id-kp-OCSPSigning and it is valid at now.
func checkDelegate(delegate, issuer *x509.Certificate, now time.Time) error {
	if err := delegate.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("%w: responder certificate not issued by the CA: %w", ErrBadSignature, err)
	}
	if !slices.Contains(delegate.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
		return fmt.Errorf("%w: responder certificate lacks id-kp-OCSPSigning", ErrBadSignature)
	}
	if now.Before(delegate.NotBefore) || now.After(delegate.NotAfter) {
		return fmt.Errorf("%w: responder certificate is outside its validity period", ErrBadSignature)
	}
	return nil
}
