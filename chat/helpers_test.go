package chat

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/internal/testnet"
	"github.com/securechat/scca/internal/testpki"
	"github.com/securechat/scca/internal/waitfor"
)

// trustOf is the ca.Trust of c alone.
func trustOf(c *testpki.CA) ca.Trust { return ca.NewTrust(c.Cert) }

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

func (f *fakeInventory) setUnavailable(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unavailable = v
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

func (w *world) serverConfig() ServerConfig {
	return ServerConfig{Chain: w.serverChain, Key: w.serverKey, Roots: trustOf(w.ca).Roots, Intermediates: trustOf(w.ca).Intermediates, Checker: w.inv,
		HandshakeTimeout: 2 * time.Second}
}

func (w *world) clientConfig() ClientConfig {
	return ClientConfig{Chain: w.clientChain, Key: w.clientKey, Roots: trustOf(w.ca).Roots, Intermediates: trustOf(w.ca).Intermediates, Checker: w.clientInv,
		ServerName: "localhost", ClientID: "client123", HandshakeTimeout: 2 * time.Second}
}

// received collects what the server's OnMessage saw.
type received struct {
	mu   sync.Mutex
	msgs []string
	rejs []error
}

func (r *received) onMessage(from, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, from+": "+text)
}

func (r *received) onReject(_ string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejs = append(r.rejs, err)
}

func (r *received) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

func (r *received) rejections() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.rejs...)
}

// startServer serves cfg on a loopback listener until the test ends.
func startServer(t testing.TB, cfg ServerConfig) (string, *Server, *received) {
	t.Helper()
	ln := testnet.Loopback(t)
	srv, rec := serveOn(t, cfg, ln)
	return ln.Addr().String(), srv, rec
}

// serveOn serves cfg on ln until the test ends; what the server's
// OnMessage and OnReject see (unless cfg sets them) is in the result.
func serveOn(t testing.TB, cfg ServerConfig, ln net.Listener) (*Server, *received) {
	t.Helper()
	rec := &received{}
	if cfg.OnMessage == nil {
		cfg.OnMessage = rec.onMessage
	}
	if cfg.OnReject == nil {
		cfg.OnReject = rec.onReject
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, rec
}

// assertGoodClient checks the server still completes a handshake and
// delivers a message for a good client.
func assertGoodClient(t testing.TB, w *world, addr string, rec *received) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // hang bound
	defer cancel()
	c, err := Dial(ctx, addr, w.clientConfig())
	if err != nil {
		t.Fatalf("good client: dial: %v", err)
	}
	assertGoodConn(t, c, rec)
}

// assertGoodConn checks a message c sends reaches the server; it closes c.
func assertGoodConn(t testing.TB, c *Conn, rec *received) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer c.Close()
	text := fmt.Sprintf("still alive %d", testpki.NextSerial())
	if err := c.Send(ctx, text); err != nil {
		t.Fatalf("good client: send: %v", err)
	}
	msgs := rec.messages()
	if len(msgs) == 0 || msgs[len(msgs)-1] != "client123: "+text {
		t.Fatalf("good client: server saw %q, want last %q", msgs, text)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	waitfor.Condition(t, "the condition", waitfor.HangBound, cond)
}
