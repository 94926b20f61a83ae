package chat

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/securechat/scca/internal/testchat"
	"github.com/securechat/scca/internal/testpki"
)

// fakeClock is a settable clock for the check cache.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time       { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration)  { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }
func newFakeClock() *fakeClock            { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }
func cacheCalls(inv *fakeInventory) int64 { return inv.Calls() }
func checkOK(t *testing.T, c PeerChecker, cert *x509.Certificate) {
	t.Helper()
	if err := c.Check(context.Background(), cert); err != nil {
		t.Fatalf("check: %v", err)
	}
}

// TestCheckCache covers the rules of §7.4: positive answers only, reused for
// less than the TTL from the start of the check that produced them, flushed
// by every revocation event, unused (fail closed) while the feed is down.
func TestCheckCache(t *testing.T) {
	w := newWorld(t)
	cert := w.ClientChain[0]
	clk := newFakeClock()
	inv := testchat.NewInventory()
	c := newCheckCache(inv, 5*time.Second, clk.now) // capped at 1 s
	if c.ttl != MaxCheckCacheTTL {
		t.Fatalf("ttl %v, want the 1 s cap", c.ttl)
	}

	// Before the feed has answered nothing is cached.
	inv.Add(cert)
	checkOK(t, c, cert)
	checkOK(t, c, cert)
	if n := cacheCalls(inv); n != 2 {
		t.Fatalf("%d checker calls before the feed answered, want 2", n)
	}

	// Feed healthy: the second check is answered from the cache.
	c.setFeedHealthy(true)
	checkOK(t, c, cert)
	clk.add(999 * time.Millisecond)
	checkOK(t, c, cert)
	if n := cacheCalls(inv); n != 3 {
		t.Fatalf("%d checker calls, want 3 (one cached)", n)
	}
	// At the TTL the entry is gone.
	clk.add(time.Millisecond)
	checkOK(t, c, cert)
	if n := cacheCalls(inv); n != 4 {
		t.Fatalf("%d checker calls after the TTL, want 4", n)
	}

	// A revocation event flushes: the revoked certificate is refused at once.
	inv.Revoke(cert)
	c.flush()
	if err := c.Check(context.Background(), cert); !errors.Is(err, testchat.ErrRevoked) {
		t.Fatalf("after flush: %v, want testchat.ErrRevoked", err)
	}
	// Negatives are never cached: every call asks.
	before := cacheCalls(inv)
	for range 3 {
		_ = c.Check(context.Background(), cert)
	}
	if n := cacheCalls(inv) - before; n != 3 {
		t.Fatalf("%d checker calls for 3 refusals, want 3", n)
	}

	// Without any event, a revocation is seen by the first check that starts
	// at most TTL after it (the bound holds without the feed).
	other, _ := w.CA.Issue(t, "other", testpki.LeafOpts{})
	inv.Add(other[0])
	checkOK(t, c, other[0]) // cached until +1 s
	inv.Revoke(other[0])    // committed right after
	clk.add(MaxCheckCacheTTL)
	if err := c.Check(context.Background(), other[0]); !errors.Is(err, testchat.ErrRevoked) {
		t.Fatalf("1 s after revocation: %v, want testchat.ErrRevoked", err)
	}

	// Feed down: flushed and bypassed; the checker's own failure refuses.
	third, _ := w.CA.Issue(t, "third", testpki.LeafOpts{})
	inv.Add(third[0])
	checkOK(t, c, third[0])
	c.setFeedHealthy(false)
	inv.SetUnavailable(true)
	if err := c.Check(context.Background(), third[0]); !errors.Is(err, testchat.ErrUnavailable) {
		t.Fatalf("feed down: %v, want the checker's testchat.ErrUnavailable (fail closed)", err)
	}
	inv.SetUnavailable(false)
	checkOK(t, c, third[0])
	before = cacheCalls(inv)
	checkOK(t, c, third[0])
	if cacheCalls(inv) != before+1 {
		t.Fatal("answer cached while the feed is down")
	}
}

// blockingChecker holds each Check until release is closed, after telling
// started.
type blockingChecker struct {
	PeerChecker
	started chan struct{}
	release chan struct{}
}

func (b *blockingChecker) Check(ctx context.Context, cert *x509.Certificate) error {
	b.started <- struct{}{}
	<-b.release
	return b.PeerChecker.Check(ctx, cert)
}

// TestCheckCacheSkipsAnswerSpanningFlush: a check that was running when a
// revocation was reported is not cached (its answer may predate it).
func TestCheckCacheSkipsAnswerSpanningFlush(t *testing.T) {
	w := newWorld(t)
	inv := testchat.NewInventory()
	inv.Add(w.ClientChain[0])
	bc := &blockingChecker{PeerChecker: inv, started: make(chan struct{}), release: make(chan struct{})}
	c := newCheckCache(bc, time.Second, newFakeClock().now)
	c.setFeedHealthy(true)
	done := make(chan error)
	go func() { done <- c.Check(context.Background(), w.ClientChain[0]) }()
	<-bc.started
	c.flush()
	close(bc.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	go func() { done <- c.Check(context.Background(), w.ClientChain[0]) }()
	select {
	case <-bc.started: // asked the checker again: nothing was cached
	case err := <-done:
		t.Fatalf("answered from the cache (%v) after a flush during the check", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestServerCheckCacheFollowsFeed: with a revocation feed, a server reuses a
// positive inventory answer; a revocation reported by the feed is refused
// at once (no clock advance of the cache), and while the feed fails nothing
// is reused. It runs in a synctest bubble: the polls are steps of the fake
// clock, not waits on a loaded machine.
func TestServerCheckCacheFollowsFeed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const poll = 10 * time.Millisecond
		w := newWorld(t)
		store := &memStore{}
		probe := &feedProbe{RevocationFeed: store}
		cfg := w.serverConfig()
		cfg.Revocations, cfg.RevocationPoll = probe, poll
		ln, srv, _ := servePipes(t, cfg)
		srv.checks.now = newFakeClock().now // the TTL never runs out here
		synctest.Wait()
		if probe.ok.Load() != 1 {
			t.Fatalf("%d polls before the first tick, want 1", probe.ok.Load())
		}
		handshake := func(cfg ClientConfig) error {
			c, err := Client(ln.Dial(t), cfg)
			if err == nil {
				c.Close()
			}
			return err
		}
		for range 2 {
			if err := handshake(w.clientConfig()); err != nil {
				t.Fatal(err)
			}
		}
		if n := w.Inv.Calls(); n != 1 {
			t.Fatalf("%d inventory checks for two handshakes, want 1", n)
		}

		w.Inv.Revoke(w.ClientChain[0])
		store.revoke(w.ClientChain[0])
		// Two more polls: the second starts after the first one's flush.
		before := probe.ok.Load()
		time.Sleep(2 * poll)
		synctest.Wait()
		if n := probe.ok.Load() - before; n != 2 {
			t.Fatalf("%d polls in two intervals, want 2", n)
		}
		if err := handshake(w.clientConfig()); !errors.Is(err, ErrRejectedByServer) {
			t.Fatalf("revoked client after the feed reported it: %v, want rejection", err)
		}

		other := w.clientConfig()
		other.Chain, other.Key = w.CA.Issue(t, "client123", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth})
		w.Inv.Add(other.Chain[0])
		store.setDown(true)
		failed := probe.failed.Load()
		time.Sleep(poll)
		synctest.Wait()
		if probe.failed.Load() != failed+1 {
			t.Fatal("no failed poll in one interval with the feed down")
		}
		before = w.Inv.Calls()
		for range 2 {
			if err := handshake(other); err != nil {
				t.Fatal(err)
			}
		}
		if n := w.Inv.Calls() - before; n != 2 {
			t.Fatalf("%d inventory checks for two handshakes while the feed is down, want 2", n)
		}
	})
}

// signalSigner tells signed each time the server signs.
type signalSigner struct {
	crypto.Signer
	signed chan struct{}
}

func (s *signalSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	select {
	case s.signed <- struct{}{}:
	default:
	}
	return s.Signer.Sign(r, d, o)
}

// TestServerSignsWhileCheckingClient: the client certificate check (the
// inventory round trip) runs while the server builds and signs its flight,
// and the flight is held until the check passed.
func TestServerSignsWhileCheckingClient(t *testing.T) {
	w := newWorld(t)
	bc := &blockingChecker{PeerChecker: w.Inv, started: make(chan struct{}, 1), release: make(chan struct{})}
	signer := &signalSigner{Signer: w.ServerKey, signed: make(chan struct{}, 1)}
	cfg := w.serverConfig()
	cfg.Checker, cfg.Key = bc, signer
	cfg.HandshakeTimeout = 10 * time.Second
	addr, _, _ := startServer(t, cfg)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	done := make(chan error, 1)
	go func() {
		c, err := Client(nc, w.clientConfig())
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	<-bc.started
	select {
	case <-signer.signed: // signed while the check is still blocked
	case <-time.After(5 * time.Second):
		t.Fatal("server did not sign while the client check was pending")
	}
	select {
	case err := <-done:
		t.Fatalf("handshake finished before the check passed: %v", err)
	default:
	}
	close(bc.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
