package chat

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
)

// hungStore is a mailbox whose Pending hangs until its context ends, as a
// store that stopped answering does, and reports how the context ended.
type hungStore struct {
	*memStore
	entered chan struct{}
	ended   chan error
}

func (h *hungStore) Pending(ctx context.Context, _ string, _ int64, _ int) ([]certstore.QueuedMessage, error) {
	close(h.entered)
	<-ctx.Done()
	h.ended <- ctx.Err()
	return nil, ctx.Err()
}

// TestShutdownCancelsStoreCalls: when Shutdown's context expires, the
// storage call a session is blocked in is cancelled through the server's
// base context, instead of running until its own timeout (storeTimeout)
// under context.Background.
func TestShutdownCancelsStoreCalls(t *testing.T) {
	mw := newMsgWorld(t, "alice")
	hs := &hungStore{memStore: mw.store, entered: make(chan struct{}), ended: make(chan error, 1)}
	cfg := mw.serverConfig()
	cfg.Mailbox = hs
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	mw.dial(t, ln.Addr().String(), "alice") // the replay of queued messages calls Pending
	<-hs.entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // give up at once: a forced shutdown
	if err := srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v, want context canceled", err)
	}
	if err := <-hs.ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("the store call ended with %v, want context canceled by Shutdown", err)
	}
}

// TestBaseContextReachesStore: ServerConfig.BaseContext is the parent of
// the storage calls, so cancelling it ends them.
func TestBaseContextReachesStore(t *testing.T) {
	mw := newMsgWorld(t, "alice")
	hs := &hungStore{memStore: mw.store, entered: make(chan struct{}), ended: make(chan error, 1)}
	base, cancelBase := context.WithCancel(context.Background())
	cfg := mw.serverConfig()
	cfg.Mailbox, cfg.BaseContext = hs, base
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	mw.dial(t, ln.Addr().String(), "alice")
	<-hs.entered
	cancelBase()
	if err := <-hs.ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("the store call ended with %v, want context canceled", err)
	}
}

// TestHandshakeContext: the client handshake over a given connection ends
// when its context is cancelled, with an error wrapping the cancellation,
// instead of waiting for a server that does not answer until
// HandshakeTimeout.
func TestHandshakeContext(t *testing.T) {
	w := newWorld(t)
	conn, peer := net.Pipe()
	defer peer.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		var b [1]byte
		_, _ = peer.Read(b[:]) // the client_hello has started: the server goes silent
		cancel()
	}()
	cfg := w.clientConfig()
	cfg.HandshakeTimeout = time.Hour
	_, err := Handshake(ctx, conn, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Handshake: %v, want context canceled", err)
	}
}

// TestRootsAndIntermediates: both sides take plain certificate pools; the
// deprecated Trust is used only when Roots is nil, so Roots wins over it.
func TestRootsAndIntermediates(t *testing.T) {
	w := newWorld(t)
	pool := func(c *x509.Certificate) *x509.CertPool {
		p := x509.NewCertPool()
		p.AddCert(c)
		return p
	}
	scfg := w.serverConfig()
	scfg.Roots, scfg.Intermediates = pool(w.CA.Cert), x509.NewCertPool()
	srv, err := NewServer(scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	ccfg := w.clientConfig()
	ccfg.Roots, ccfg.Intermediates = pool(w.CA.Cert), nil
	c, err := Dial(context.Background(), ln.Addr().String(), ccfg)
	if err != nil {
		t.Fatalf("dial with Roots: %v", err)
	}
	c.Close()

	other := newWorld(t) // an unrelated CA
	ccfg = w.clientConfig()
	ccfg.Roots = pool(other.CA.Cert)
	if _, err := Dial(context.Background(), ln.Addr().String(), ccfg); !errors.Is(err, ErrPeerCertificate) {
		t.Fatalf("dial with foreign Roots: %v, want ErrPeerCertificate", err)
	}
	if _, err := NewServer(ServerConfig{Chain: scfg.Chain, Key: scfg.Key, Checker: scfg.Checker}); err == nil {
		t.Fatal("NewServer without Roots succeeded")
	}
}
