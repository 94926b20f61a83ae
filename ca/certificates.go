package ca

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
)

// Certificates are a CA's public certificates, loaded without any key: what
// a relying party (`scca verify`, the chat client and server) needs.
type Certificates struct {
	Root         *x509.Certificate
	Intermediate *x509.Certificate // nil when the root issues leaves directly
}

// LoadCertificates reads root_ca.pem and, when present, intermediate_ca.pem
// from dir and checks that the intermediate is signed by the root. A missing
// root is ErrNoCA. A dir that group or others may write is refused
// (ErrDirPermissions): they could swap the root the caller is about to trust.
func LoadCertificates(dir string) (*Certificates, error) {
	root, err := readCertFile(filepath.Join(dir, RootCertFile))
	if err != nil {
		return nil, err
	}
	if err := checkDirNotShared(dir); err != nil {
		return nil, err
	}
	c := &Certificates{Root: root}
	inter, err := readCertFile(filepath.Join(dir, IntermediateCertFile))
	switch {
	case err == nil:
		if err := inter.CheckSignatureFrom(root); err != nil {
			return nil, fmt.Errorf("intermediate CA is not signed by the root: %w", err)
		}
		c.Intermediate = inter
	case !errors.Is(err, ErrNoCA):
		return nil, err
	}
	return c, nil
}

// Issuer returns the certificate that signs leaves.
func (c *Certificates) Issuer() *x509.Certificate {
	if c.Intermediate != nil {
		return c.Intermediate
	}
	return c.Root
}

// All returns the CA certificates, issuer first and root last.
func (c *Certificates) All() []*x509.Certificate {
	if c.Intermediate != nil {
		return []*x509.Certificate{c.Intermediate, c.Root}
	}
	return []*x509.Certificate{c.Root}
}

// Trust returns the trust anchors for verifying this CA's leaves.
func (c *Certificates) Trust() Trust {
	if c.Intermediate != nil {
		return NewTrust(c.Root, c.Intermediate)
	}
	return NewTrust(c.Root)
}

// LoadRootSigner loads the root CA key (with the same permission check as
// Load). It is needed only to sign the root's own CRL when an intermediate
// issues the leaves; ErrNoCA means the root key is offline.
func LoadRootSigner(dir string, passphrase PassphraseFunc) (crypto.Signer, error) {
	return loadCAKey(filepath.Join(dir, RootKeyFile), passphrase)
}
