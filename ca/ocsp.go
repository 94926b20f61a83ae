package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/securechat/scca/internal/atomicfile"
	"github.com/securechat/scca/inventory"
)

// OCSP responder files: each CA's delegated responder certificate followed
// by its private key, in one 0600 PEM file beside the CA's own files. One
// file, replaced by one rename, means a reader never sees a new certificate
// with an old key, even when two processes renew at once.
const (
	RootOCSPResponderFile         = "root_ca_ocsp.pem"
	IntermediateOCSPResponderFile = "intermediate_ca_ocsp.pem"
)

// DefaultOCSPResponderValidity is the lifetime of a delegated OCSP responder
// certificate. The certificate carries id-pkix-ocsp-nocheck, so relying
// parties never check its revocation (RFC 6960 §4.2.2.2.1): a short life is
// what bounds the harm of a stolen responder key. It is renewed once less
// than half of it is left, by every command that holds the CA key (init,
// crl, revoke, and serve when given the key), so a daily `scca crl` keeps it
// fresh with two days to spare.
const DefaultOCSPResponderValidity = 4 * 24 * time.Hour

// ErrNoOCSPResponder means a CA has no usable responder file yet.
var ErrNoOCSPResponder = errors.New("no OCSP responder certificate")

// OCSPResponderPath returns the responder file of the root (intermediate
// false) or of the intermediate CA in dir.
func OCSPResponderPath(dir string, intermediate bool) string {
	if intermediate {
		return filepath.Join(dir, IntermediateOCSPResponderFile)
	}
	return filepath.Join(dir, RootOCSPResponderFile)
}

// OCSPResponder is a delegated OCSP responder: a certificate of profile
// ProfileOCSPSigner and its key.
type OCSPResponder struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// LoadOCSPResponder reads a responder file and checks it belongs to issuer:
// signed by it, id-kp-OCSPSigning, the key matching the certificate. Like a
// CA key, the file is refused when group or others can read it. Expiry is
// not checked here: the OCSP responder checks it at every signature.
func LoadOCSPResponder(path string, issuer *x509.Certificate) (*OCSPResponder, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoOCSPResponder, path)
	}
	if err != nil {
		return nil, fmt.Errorf("stat OCSP responder: %w", err)
	}
	if err := checkKeyMode(path, fi); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read OCSP responder: %w", err)
	}
	r, err := parseResponderPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := r.Cert.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("%s: not issued by %q: %w", path, issuer.Subject.CommonName, err)
	}
	if !slices.Contains(r.Cert.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
		return nil, fmt.Errorf("%s: certificate lacks id-kp-OCSPSigning", path)
	}
	return r, nil
}

// parseResponderPEM reads the certificate and the key of a responder file.
func parseResponderPEM(data []byte) (*OCSPResponder, error) {
	r := &OCSPResponder{}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch {
		case block.Type == "CERTIFICATE" && r.Cert == nil:
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, err
			}
			r.Cert = cert
		case block.Type == pemPrivateKey && r.Key == nil:
			key, err := ParseKeyPEM(pem.EncodeToMemory(block), nil)
			if err != nil {
				return nil, err
			}
			r.Key = key
		}
	}
	if r.Cert == nil || r.Key == nil {
		return nil, errors.New("want a CERTIFICATE and a PRIVATE KEY block")
	}
	if !publicKeysEqual(r.Cert.PublicKey, r.Key.Public()) {
		return nil, errors.New("the key does not match the certificate")
	}
	return r, nil
}

// needsRenewal reports whether less than half of cert's lifetime is left at
// now (or it is not valid yet or any more).
func needsRenewal(cert *x509.Certificate, now time.Time) bool {
	if now.Before(cert.NotBefore) {
		return true
	}
	return cert.NotAfter.Sub(now) < cert.NotAfter.Sub(cert.NotBefore)/2
}

// RenewOCSPResponders makes or renews the delegated OCSP responder of every
// CA whose key is at hand: the issuer's (whose key a holds) and, with an
// intermediate and a non-nil rootKey, the root's. A responder with more than
// half of its lifetime left is kept. It returns the certificates it made.
func (a *Authority) RenewOCSPResponders(ctx context.Context, rootKey crypto.Signer) ([]*x509.Certificate, error) {
	type target struct {
		issuer *x509.Certificate
		key    crypto.Signer
		path   string
	}
	targets := []target{{a.Issuer(), a.signer, OCSPResponderPath(a.dir, a.Intermediate != nil)}}
	if a.Intermediate != nil && rootKey != nil {
		if !publicKeysEqual(rootKey.Public(), a.Root.PublicKey) {
			return nil, fmt.Errorf("%s does not match %s", RootKeyFile, a.Root.Subject.CommonName)
		}
		targets = append(targets, target{a.Root, rootKey, OCSPResponderPath(a.dir, false)})
	}
	var made []*x509.Certificate
	for _, t := range targets {
		// A revoked CA answers no OCSP: its responder is left to expire.
		if g, ok := a.store.(RecordGetter); ok {
			if err := CheckCAsNotRevoked(ctx, g, t.issuer); errors.Is(err, ErrCARevoked) {
				continue
			} else if err != nil {
				return made, err
			}
		}
		cert, err := a.renewOCSPResponder(ctx, t.issuer, t.key, t.path)
		if err != nil {
			return made, err
		}
		if cert != nil {
			made = append(made, cert)
		}
	}
	return made, nil
}

// renewOCSPResponder replaces the responder file at path unless it holds a
// good responder of issuer with more than half its life ahead; nil means
// nothing needed doing.
func (a *Authority) renewOCSPResponder(ctx context.Context, issuer *x509.Certificate, issuerKey crypto.Signer, path string) (*x509.Certificate, error) {
	if r, err := LoadOCSPResponder(path, issuer); err == nil && !needsRenewal(r.Cert, a.now()) {
		revoked, err := a.responderRevoked(ctx, r.Cert)
		if err != nil {
			return nil, err
		}
		if !revoked {
			return nil, nil
		}
	}
	row, err := lookupProfile(ProfileOCSPSigner)
	if err != nil {
		return nil, err
	}
	r, err := a.newOCSPResponder(row, issuer, issuerKey)
	if err != nil {
		return nil, fmt.Errorf("make OCSP responder certificate of %q: %w", issuer.Subject.CommonName, err)
	}
	// Recorded first, like every certificate scca makes; then the file is
	// replaced in one rename.
	if err := a.store.Insert(ctx, a.record(r.Cert, row.recordType, a.actor)); err != nil {
		return nil, fmt.Errorf("record OCSP responder certificate of %q: %w", issuer.Subject.CommonName, err)
	}
	keyPEM, err := EncodeKeyPEM(r.Key, nil)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, append(certPEM(r.Cert.Raw), keyPEM...), keyFileMode); err != nil {
		return nil, fmt.Errorf("write OCSP responder (certificate %s is recorded but unused): %w", serialHex(r.Cert), err)
	}
	return r.Cert, nil
}

// responderRevoked reports whether the inventory records the responder
// certificate cert as revoked. Its ocsp-nocheck extension tells clients not
// to ask, so a revoked responder left in place would go on signing
// answers that every client accepts: it is replaced at once instead.
func (a *Authority) responderRevoked(ctx context.Context, cert *x509.Certificate) (bool, error) {
	g, ok := a.store.(RecordGetter)
	if !ok {
		return false, nil
	}
	rec, err := g.Get(ctx, hex.EncodeToString(cert.AuthorityKeyId), serialHex(cert))
	switch {
	case errors.Is(err, inventory.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("check OCSP responder certificate %s: %w", serialHex(cert), err)
	}
	return rec.Status == inventory.StatusRevoked, nil
}

// newOCSPResponder generates a key and signs a certificate of profile
// ProfileOCSPSigner (row) for it:
//
//   - subject CN "<issuer CN> OCSP Responder", SKI, AKI = issuer's SKI;
//   - the row's key usage (digitalSignature, critical), extended key usage
//     (id-kp-OCSPSigning only) and extensions (id-pkix-ocsp-nocheck, NULL,
//     non-critical, so clients do not look for the responder's own
//     revocation status); basicConstraints CA:FALSE (critical); no CRL
//     distribution point or AIA, which nocheck makes pointless (RFC 6960
//     §4.2.2.2.1);
//   - valid DefaultOCSPResponderValidity (not the row's longer default for
//     an ocsp-signer issued on request) from a minute ago, clamped to the
//     issuer;
//   - an ECDSA P-256 key whatever the CA's key type: it signs on every
//     uncached OCSP request, where P-256 is fast and small, and it is a key
//     type every OCSP client verifies (Ed25519 ones often cannot).
func (a *Authority) newOCSPResponder(row profileRow, issuer *x509.Certificate, issuerKey crypto.Signer) (*OCSPResponder, error) {
	if a.store == nil {
		return nil, errNoStore
	}
	key, err := GenerateKey(KeyECDSAP256, a.rand)
	if err != nil {
		return nil, err
	}
	notBefore, notAfter, err := validityWindow(a.now(), DefaultOCSPResponderValidity, issuer)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial(a.rand)
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: ocspResponderCN(issuer.Subject.CommonName)},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              row.keyUsageFor(key.Public()),
		ExtKeyUsage:           row.extKeyUsage,
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
		AuthorityKeyId:        issuer.SubjectKeyId,
		ExtraExtensions:       row.extensions,
	}
	cert, err := a.sign(tmpl, issuer, key.Public(), issuerKey)
	if err != nil {
		return nil, err
	}
	return &OCSPResponder{Cert: cert, Key: key}, nil
}

// ocspResponderCN names the responder after its CA, shortened to fit the
// 64-character limit.
func ocspResponderCN(issuerCN string) string {
	const suffix = " OCSP Responder"
	base := issuerCN
	if r := []rune(base); len(r)+len(suffix) > maxCNLength {
		base = strings.TrimSpace(string(r[:maxCNLength-len(suffix)]))
	}
	return base + suffix
}
