package ca

import (
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/securechat/scca/internal/atomicfile"
)

// WithRecorder returns a copy of the Authority that records its
// certificates through r instead of its own store: the online CA records
// each certificate together with the token or renewal that authorised it.
// The copy shares the key and certificates.
func (a *Authority) WithRecorder(r Recorder) *Authority {
	c := *a
	c.store = r
	return &c
}

// ParseCSR decodes a PEM certificate signing request and checks its
// self-signature (proof the requester holds the key) and key. Callers use
// only its public key and names; its requested extensions mean nothing.
func ParseCSR(pemData []byte) (*x509.CertificateRequest, error) { return parseCSR(pemData) }

// ChainPEM returns leaf followed by the intermediates between it and the
// root (the root itself is left out: relying parties hold it already).
func (a *Authority) ChainPEM(leaf *x509.Certificate) []byte {
	out := certPEM(leaf.Raw)
	if a.Intermediate != nil {
		out = append(out, certPEM(a.Intermediate.Raw)...)
	}
	return out
}

// ChainPath names the chain file next to a certificate file:
// alice_cert.pem → alice_chain.pem, other.pem → other_chain.pem.
func ChainPath(certPath string) string {
	dir, base := filepath.Split(certPath)
	stem, ok := strings.CutSuffix(base, "_cert.pem")
	if !ok {
		stem = strings.TrimSuffix(base, filepath.Ext(base))
	}
	return filepath.Join(dir, stem+"_chain.pem")
}

// WriteChain writes leaf and its intermediates to ChainPath(certPath),
// atomically and refusing to replace an existing file (ErrFileExists). It
// runs after Issue or SignCSR: the chain holds only public certificates
// and can be rebuilt at any time from the inventory.
func (a *Authority) WriteChain(certPath string, leaf *x509.Certificate) (string, error) {
	path := ChainPath(certPath)
	if err := atomicfile.Create(path, a.ChainPEM(leaf), certFileMode); err != nil {
		if errors.Is(err, atomicfile.ErrExists) {
			return "", fmt.Errorf("%w: %s", ErrFileExists, path)
		}
		return "", err
	}
	return path, nil
}

// CheckCN reports whether cn is acceptable as a leaf's common name.
func CheckCN(cn string) error { return checkCN(cn) }

// RecordType is the inventory type of certificates of this profile, ""
// for a profile not in the table.
func (p Profile) RecordType() string {
	r, err := lookupProfile(p)
	if err != nil {
		return ""
	}
	return r.recordType
}

// FileBase is the file name stem scca uses for a common name
// (<stem>_cert.pem, <stem>_key.pem): anything outside [A-Za-z0-9._-]
// becomes '_', so a CN cannot name a path elsewhere.
func FileBase(cn string) string { return FileStem(cn) }
