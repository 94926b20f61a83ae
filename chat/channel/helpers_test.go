package channel

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securechat/scca/internal/testpki"
)

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
	ca          *testpki.CA
	serverChain []*x509.Certificate
	serverKey   crypto.Signer
	clientChain []*x509.Certificate
	clientKey   crypto.Signer
	inv         *fakeInventory // what the server checks clients against
	clientInv   *fakeInventory // what the client checks the server against
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{ca: testpki.NewCA(t, "Test Root CA"), inv: newInventory(), clientInv: newInventory()}
	w.serverChain, w.serverKey = w.ca.Issue(t, "localhost", testpki.LeafOpts{EKU: x509.ExtKeyUsageServerAuth})
	w.clientChain, w.clientKey = w.ca.Issue(t, "client123", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth})
	w.inv.add(w.clientChain[0])
	w.clientInv.add(w.serverChain[0])
	return w
}

func (w *world) serverConfig() testServerConfig {
	return testServerConfig{ServerConfig: ServerConfig{Config: Config{Chain: w.serverChain, Key: w.serverKey,
		Roots: w.ca.Pool(), Checker: w.inv}, HandshakeTimeout: 2 * time.Second}}
}

func (w *world) clientConfig() ClientConfig {
	return ClientConfig{Config: Config{Chain: w.clientChain, Key: w.clientKey, Roots: w.ca.Pool(), Checker: w.clientInv},
		ServerName: "localhost", ClientID: "client123", HandshakeTimeout: 2 * time.Second}
}
