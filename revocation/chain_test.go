package revocation

import (
	"context"
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
)

// chainFixture is root -> intermediate -> leaf, all but the root recorded.
type chainFixture struct {
	dir               string
	root, inter, leaf *testCA
	st                *fakeStore
}

func newChainFixture(t *testing.T) *chainFixture {
	dir := t.TempDir()
	f := &chainFixture{dir: dir, st: newFakeStore()}
	f.root = newRootCA(t, dir, "root", nil)
	f.inter = f.root.intermediate(t, dir, "inter")
	f.leaf = f.inter.leaf(t, dir, "leaf")
	f.st.add(f.inter.cert, certstore.TypeCA)
	f.st.add(f.leaf.cert, certstore.TypeClient)
	return f
}

func (f *chainFixture) publish(t *testing.T, ca *testCA, name string) string {
	t.Helper()
	path := filepath.Join(f.dir, name)
	if _, err := PublishCRL(context.Background(), f.st, crlConfig(ca), "", path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestChainCheckerInventoryRevokedIntermediate(t *testing.T) {
	f := newChainFixture(t)
	c := &ChainChecker{Default: &InventoryChecker{Store: f.st}, CAs: []*x509.Certificate{f.root.cert, f.inter.cert}}
	ctx := context.Background()
	full := []*x509.Certificate{f.leaf.cert, f.inter.cert, f.root.cert}
	if err := c.CheckChain(ctx, full); err != nil {
		t.Fatalf("good chain: %v", err)
	}
	if err := c.Check(ctx, f.leaf.cert); err != nil {
		t.Fatalf("good leaf: %v", err)
	}
	// The leaf alone is still good per the inventory: only the chain check
	// sees the revoked intermediate.
	f.st.revoke(t, f.inter.cert, 2, time.Now().Add(-time.Minute))
	if err := (&InventoryChecker{Store: f.st}).Check(ctx, f.leaf.cert); err != nil {
		t.Fatalf("leaf alone: %v", err)
	}
	for name, check := range map[string]func() error{
		"CheckChain": func() error { return c.CheckChain(ctx, full) },
		"Check":      func() error { return c.Check(ctx, f.leaf.cert) },
	} {
		err := check()
		var re *RevokedError
		if !errors.As(err, &re) || re.Reason != 2 || !strings.Contains(err.Error(), `issuing CA "inter"`) {
			t.Errorf("%s with revoked intermediate = %v, want a RevokedError naming the CA", name, err)
		}
	}
}

func TestChainCheckerCRLPerIssuer(t *testing.T) {
	f := newChainFixture(t)
	leafCRL := f.publish(t, f.inter, "crl.der")
	rootCRL := f.publish(t, f.root, "root_crl.der")
	c := &ChainChecker{ByIssuer: map[string]Checker{
		f.inter.keyID(): &CRLChecker{Source: leafCRL, Issuer: f.inter.cert},
		f.root.keyID():  &CRLChecker{Source: rootCRL, Issuer: f.root.cert},
	}}
	ctx := context.Background()
	full := []*x509.Certificate{f.leaf.cert, f.inter.cert, f.root.cert}
	if err := c.CheckChain(ctx, full); err != nil {
		t.Fatalf("good chain: %v", err)
	}
	f.st.revoke(t, f.inter.cert, 2, time.Now().Add(-time.Minute))
	f.publish(t, f.root, "root_crl.der")
	c.ByIssuer[f.root.keyID()] = &CRLChecker{Source: rootCRL, Issuer: f.root.cert} // no cached CRL
	if err := c.CheckChain(ctx, full); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked intermediate per root CRL = %v, want ErrRevoked", err)
	}
}

func TestChainCheckerFailsClosed(t *testing.T) {
	f := newChainFixture(t)
	ctx := context.Background()
	full := []*x509.Certificate{f.leaf.cert, f.inter.cert, f.root.cert}
	leafOnly := &ChainChecker{ByIssuer: map[string]Checker{f.inter.keyID(): &InventoryChecker{Store: f.st}}}
	if err := leafOnly.CheckChain(ctx, full); !errors.Is(err, ErrUnavailable) {
		t.Errorf("no checker for the root's certificates = %v, want ErrUnavailable", err)
	}
	other := newRootCA(t, "", "other root", nil)
	stranger := other.leaf(t, "", "stranger")
	c := &ChainChecker{Default: &InventoryChecker{Store: f.st}, CAs: []*x509.Certificate{f.root.cert, f.inter.cert}}
	if err := c.Check(ctx, stranger.cert); !errors.Is(err, ErrUnknown) {
		t.Errorf("leaf of an unknown CA = %v, want ErrUnknown", err)
	}
	// Without the intermediate among CAs the chain cannot be built.
	if err := (&ChainChecker{Default: c.Default, CAs: []*x509.Certificate{f.root.cert}}).Check(ctx, f.leaf.cert); !errors.Is(err, ErrUnknown) {
		t.Errorf("intermediate missing from CAs = %v, want ErrUnknown", err)
	}
	if err := c.CheckChain(ctx, nil); !errors.Is(err, ErrUnknown) {
		t.Errorf("empty chain = %v, want ErrUnknown", err)
	}
}
