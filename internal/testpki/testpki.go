// Package testpki is a tiny certificate authority for tests, built on
// crypto/x509 alone (ECDSA P-256 keys from crypto/rand, the test's own
// clock for validity): CAs, leaves with the extended key usage a test
// asks for, and pools.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a certificate authority: its certificate and key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

var serialCounter atomic.Int64

// NextSerial returns a serial number no other call in this process
// returns.
func NextSerial() *big.Int { return big.NewInt(1000 + serialCounter.Add(1)) }

// NewKey generates a P-256 key.
func NewKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// NewCA makes a self-signed root named cn, valid from an hour ago for a day.
func NewCA(tb testing.TB, cn string) *CA {
	tb.Helper()
	key := NewKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber: NextSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	return &CA{Cert: MustCreate(tb, tmpl, tmpl, key.Public(), key), Key: key}
}

// MustCreate signs tmpl with signer as parent and parses the result.
func MustCreate(tb testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	tb.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// LeafOpts shape a leaf; zero values give a good certificate.
type LeafOpts struct {
	EKU       x509.ExtKeyUsage
	IsCA      bool
	NotBefore time.Time     // zero: an hour ago
	NotAfter  time.Time     // zero: in an hour
	Serial    *big.Int      // nil: NextSerial
	Key       crypto.Signer // subject key; nil = fresh
}

// Issue signs a certificate for cn and returns its chain (the leaf alone)
// and key. A serverAuth leaf names cn and 127.0.0.1.
func (c *CA) Issue(tb testing.TB, cn string, o LeafOpts) ([]*x509.Certificate, crypto.Signer) {
	tb.Helper()
	if o.Key == nil {
		o.Key = NewKey(tb)
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(time.Hour)
	}
	if o.Serial == nil {
		o.Serial = NextSerial()
	}
	tmpl := &x509.Certificate{
		SerialNumber: o.Serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: o.NotBefore, NotAfter: o.NotAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{o.EKU}, BasicConstraintsValid: true, IsCA: o.IsCA,
	}
	if o.EKU == x509.ExtKeyUsageServerAuth {
		tmpl.DNSNames = []string{cn}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	if o.IsCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	return []*x509.Certificate{MustCreate(tb, tmpl, c.Cert, o.Key.Public(), c.Key)}, o.Key
}

// Pool is a pool holding the CA's certificate.
func (c *CA) Pool() *x509.CertPool { return PoolOf(c.Cert) }

// PoolOf is a pool holding certs.
func PoolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
