package leafcheck

import (
	"crypto/x509"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/internal/testpki"
)

// cachePKI is a root, an intermediate under it (valid until interEnd) and
// a clientAuth leaf under the intermediate.
type cachePKI struct {
	root     *testpki.CA
	inter    *x509.Certificate
	leaf     *x509.Certificate
	interEnd time.Time
}

func newCachePKI(t *testing.T) cachePKI {
	root := testpki.NewCA(t, "cache root")
	end := time.Now().Add(30 * time.Minute)
	ic, ik := root.Issue(t, "cache inter", testpki.LeafOpts{IsCA: true, EKU: x509.ExtKeyUsageClientAuth, NotAfter: end})
	inter := &testpki.CA{Cert: ic[0], Key: ik}
	leaf, _ := inter.Issue(t, "alice", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth})
	return cachePKI{root: root, inter: ic[0], leaf: leaf[0], interEnd: end}
}

func (p cachePKI) verify(c *Cache, roots *x509.CertPool, now time.Time) ([]*x509.Certificate, error) {
	return c.Verify(roots, nil, []*x509.Certificate{p.inter}, p.leaf, x509.ExtKeyUsageClientAuth, "", now)
}

func TestCacheReusesOnlyWhatStillHolds(t *testing.T) {
	p := newCachePKI(t)
	roots := p.root.Pool()
	c := NewCache(8, 10*time.Minute)
	now := time.Now()

	first, err := p.verify(c, roots, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 3 || first[0] != p.leaf || first[1] != p.inter {
		t.Fatalf("chain = %v, want leaf, intermediate, root", first)
	}
	again, err := p.verify(c, roots, now.Add(time.Minute))
	if err != nil || &again[0] != &first[0] || c.built.Load() != 1 {
		t.Fatalf("second verify: err %v, same chain %v, built %d; want a hit", err, &again[0] == &first[0], c.built.Load())
	}

	// Time-dependent checks run on every hit: after the intermediate's
	// end the remembered chain is not used, and the full check refuses.
	if _, err := p.verify(c, roots, p.interEnd.Add(time.Second)); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("after the intermediate expired: err = %v, want ErrUntrusted", err)
	}
	// The leaf's own checks come first, hit or not.
	if _, err := p.verify(c, roots, p.leaf.NotAfter.Add(time.Second)); !errors.Is(err, ErrExpired) {
		t.Fatalf("after the leaf expired: err = %v, want ErrExpired", err)
	}
	if _, err := c.Verify(roots, nil, []*x509.Certificate{p.inter}, p.leaf, x509.ExtKeyUsageServerAuth, "", now); !errors.Is(err, ErrWrongEKU) {
		t.Fatalf("other purpose: err = %v, want ErrWrongEKU", err)
	}
	// Other inputs are other keys: other roots, no intermediate sent, a name.
	if _, err := p.verify(c, testpki.NewCA(t, "other root").Pool(), now); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("other roots: err = %v, want ErrUntrusted", err)
	}
	if _, err := c.Verify(roots, nil, nil, p.leaf, x509.ExtKeyUsageClientAuth, "", now); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("intermediate not sent: err = %v, want ErrUntrusted", err)
	}
	if _, err := c.Verify(roots, nil, []*x509.Certificate{p.inter}, p.leaf, x509.ExtKeyUsageClientAuth, "alice.example", now); !errors.Is(err, ErrNameMismatch) {
		t.Fatalf("with a name: err = %v, want ErrNameMismatch", err)
	}
	// A clock that went back, or an entry older than the TTL, is rebuilt.
	before := c.built.Load()
	if _, err := p.verify(c, roots, now.Add(-time.Second)); err != nil || c.built.Load() != before+1 {
		t.Fatalf("clock went back: err %v, built %d (want %d)", err, c.built.Load(), before+1)
	}
	if _, err := p.verify(c, roots, now.Add(-time.Second).Add(11*time.Minute)); err != nil || c.built.Load() != before+2 {
		t.Fatalf("after the TTL: err %v, built %d (want %d)", err, c.built.Load(), before+2)
	}
}

func TestCacheRemembersNoFailure(t *testing.T) {
	p := newCachePKI(t)
	roots := x509.NewCertPool()
	c := NewCache(8, time.Minute)
	if _, err := p.verify(c, roots, time.Now()); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("unknown root: err = %v, want ErrUntrusted", err)
	}
	roots.AddCert(p.root.Cert) // a pool only grows: the same pool now trusts it
	if _, err := p.verify(c, roots, time.Now()); err != nil {
		t.Fatalf("after the root was added: %v (a failure was remembered)", err)
	}
	if c.built.Load() != 2 {
		t.Fatalf("built %d chains, want 2", c.built.Load())
	}
}

func TestCacheIsBounded(t *testing.T) {
	root := testpki.NewCA(t, "bounded root")
	roots := root.Pool()
	c := NewCache(4, time.Minute)
	for i := range 10 {
		leaf, _ := root.Issue(t, "leaf", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth})
		if _, err := c.Verify(roots, nil, nil, leaf[0], x509.ExtKeyUsageClientAuth, "", time.Now()); err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		n := len(c.m)
		c.mu.Unlock()
		if n > 4 || n == 0 {
			t.Fatalf("after %d chains the cache holds %d, want 1..4", i+1, n)
		}
	}
	// Too many peer-sent intermediates: verified every time, never kept.
	leaf, _ := root.Issue(t, "long", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth})
	extra := []*x509.Certificate{root.Cert, root.Cert, root.Cert, root.Cert}
	before := c.built.Load()
	for range 2 {
		if _, err := c.Verify(roots, nil, extra, leaf[0], x509.ExtKeyUsageClientAuth, "", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if c.built.Load() != before+2 {
		t.Fatalf("a chain with %d extra certificates was reused", len(extra))
	}
}

func TestCacheConcurrent(t *testing.T) {
	p := newCachePKI(t)
	roots := p.root.Pool()
	c := NewCache(2, time.Minute)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := p.verify(c, roots, time.Now()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b := c.built.Load(); b < 1 || b > 8 {
		t.Fatalf("built %d chains for one peer from 8 goroutines, want 1..8", b)
	}
}
