package channel

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCA is a tiny CA built with crypto/x509 directly.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var serialCounter atomic.Int64

func nextSerial() *big.Int { return big.NewInt(1000 + serialCounter.Add(1)) }

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTestCA(t testing.TB, cn string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	return &testCA{cert: mustCreate(t, tmpl, tmpl, key.Public(), key), key: key}
}

func mustCreate(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// leafOpts shape a leaf; zero values give a good certificate.
type leafOpts struct {
	eku       x509.ExtKeyUsage
	isCA      bool
	notBefore time.Time
	notAfter  time.Time
	serial    *big.Int
	key       crypto.Signer // subject key; nil = fresh
}

func (c *testCA) issue(t testing.TB, cn string, o leafOpts) ([]*x509.Certificate, crypto.Signer) {
	t.Helper()
	if o.key == nil {
		o.key = newKey(t)
	}
	if o.notBefore.IsZero() {
		o.notBefore = time.Now().Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(time.Hour)
	}
	if o.serial == nil {
		o.serial = nextSerial()
	}
	tmpl := &x509.Certificate{
		SerialNumber: o.serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: o.notBefore, NotAfter: o.notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{o.eku}, BasicConstraintsValid: true, IsCA: o.isCA,
	}
	if o.eku == x509.ExtKeyUsageServerAuth {
		tmpl.DNSNames = []string{cn}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	if o.isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	return []*x509.Certificate{mustCreate(t, tmpl, c.cert, o.key.Public(), c.key)}, o.key
}

func (c *testCA) pool() *x509.CertPool { return poolOf(c.cert) }

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// fakeInventory is the test PeerChecker: serial -> fingerprint and status,
// as the real inventory would answer.
type fakeInventory struct {
	mu          sync.Mutex
	entries     map[string]invEntry
	unavailable bool
	calls       atomic.Int64
}

type invEntry struct {
	fingerprint string
	revoked     bool
}

var (
	errUnknownCert             = errors.New("serial not in inventory")
	errFingerprint             = errors.New("fingerprint differs from inventory")
	errRevoked                 = errors.New("certificate revoked")
	errUnavailable             = errors.New("revocation source unavailable")
	_              PeerChecker = (*fakeInventory)(nil)
)

func newInventory() *fakeInventory { return &fakeInventory{entries: make(map[string]invEntry)} }

func fingerprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

func (f *fakeInventory) add(c *x509.Certificate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries[c.SerialNumber.Text(16)] = invEntry{fingerprint: fingerprint(c)}
}

func (f *fakeInventory) revoke(c *x509.Certificate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.entries[c.SerialNumber.Text(16)]
	e.revoked = true
	f.entries[c.SerialNumber.Text(16)] = e
}

func (f *fakeInventory) Check(_ context.Context, c *x509.Certificate) error {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unavailable {
		return errUnavailable
	}
	e, ok := f.entries[c.SerialNumber.Text(16)]
	switch {
	case !ok:
		return fmt.Errorf("serial %s: %w", c.SerialNumber.Text(16), errUnknownCert)
	case e.fingerprint != fingerprint(c):
		return errFingerprint
	case e.revoked:
		return errRevoked
	}
	return nil
}

// world is one CA, one server identity, one good client identity, and the
// inventories each side checks against.
type world struct {
	ca          *testCA
	serverChain []*x509.Certificate
	serverKey   crypto.Signer
	clientChain []*x509.Certificate
	clientKey   crypto.Signer
	inv         *fakeInventory // what the server checks clients against
	clientInv   *fakeInventory // what the client checks the server against
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{ca: newTestCA(t, "Test Root CA"), inv: newInventory(), clientInv: newInventory()}
	w.serverChain, w.serverKey = w.ca.issue(t, "localhost", leafOpts{eku: x509.ExtKeyUsageServerAuth})
	w.clientChain, w.clientKey = w.ca.issue(t, "client123", leafOpts{eku: x509.ExtKeyUsageClientAuth})
	w.inv.add(w.clientChain[0])
	w.clientInv.add(w.serverChain[0])
	return w
}

func (w *world) serverConfig() testServerConfig {
	return testServerConfig{ServerConfig: ServerConfig{Config: Config{Chain: w.serverChain, Key: w.serverKey,
		Roots: w.ca.pool(), Checker: w.inv}, HandshakeTimeout: 2 * time.Second}}
}

func (w *world) clientConfig() ClientConfig {
	return ClientConfig{Config: Config{Chain: w.clientChain, Key: w.clientKey, Roots: w.ca.pool(), Checker: w.clientInv},
		ServerName: "localhost", ClientID: "client123", HandshakeTimeout: 2 * time.Second}
}
