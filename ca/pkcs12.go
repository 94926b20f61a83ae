package ca

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"

	"software.sslmate.com/src/go-pkcs12"
)

// pkcs12Iterations is the PBKDF2 count for PKCS#12 exports: the same
// 600,000 as the CA key's encryption (OWASP's figure for PBKDF2-HMAC-SHA256),
// far above go-pkcs12's default of 2048, since the password is a person's.
const pkcs12Iterations = 600_000

// ErrNoPKCS12Password is returned by EncodePKCS12 for an empty password: a
// PKCS#12 file holds a private key.
var ErrNoPKCS12Password = errors.New("a PKCS#12 file holds a private key and needs a password")

// EncodePKCS12 bundles a key, its certificate and the CA certificates into
// a password-protected PKCS#12 file for browsers and OS key stores, through
// go-pkcs12's Modern2023 encoder (PBES2 with PBKDF2-HMAC-SHA256 and
// AES-256-CBC, HMAC-SHA256 MAC), which OpenSSL 1.1.1+ and current browsers
// read. rnd supplies the salts and IVs; nil = crypto/rand.
func EncodePKCS12(key crypto.Signer, leaf *x509.Certificate, cas []*x509.Certificate, password string, rnd io.Reader) ([]byte, error) {
	if password == "" {
		return nil, ErrNoPKCS12Password
	}
	enc := pkcs12.Modern2023.WithIterations(pkcs12Iterations)
	if rnd != nil {
		enc = enc.WithRand(rnd)
	}
	der, err := enc.Encode(key, leaf, cas, password)
	if err != nil {
		return nil, fmt.Errorf("encode PKCS#12: %w", err)
	}
	return der, nil
}
