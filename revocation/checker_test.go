package revocation

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
)

func TestInventoryChecker(t *testing.T) {
	root := newRootCA(t, "", "root", nil)
	st := newFakeStore()
	now := time.Now()
	good := root.leaf(t, "", "good")
	revoked := root.leaf(t, "", "revoked")
	expired := root.leafValid(t, "", "expired", now.Add(-48*time.Hour), now.Add(-time.Hour))
	unknown := root.leaf(t, "", "unknown")
	st.add(good.cert, "server")
	st.add(revoked.cert, "server")
	st.add(expired.cert, "client")
	st.revoke(t, revoked.cert, 1, now.Add(-time.Minute))
	// Same issuer and serial as good, but a different certificate.
	twinTmpl := *good.cert
	twinTmpl.Subject.CommonName = "twin"
	twin := signCert(t, "", "twin", &twinTmpl, root, newKey(t), nil)

	c := &InventoryChecker{Store: st}
	tests := []struct {
		name string
		cert *x509.Certificate
		want error
	}{
		{"good", good.cert, nil},
		{"revoked", revoked.cert, ErrRevoked},
		{"unknown", unknown.cert, ErrUnknown},
		{"fingerprint mismatch", twin.cert, ErrFingerprintMismatch},
		{"expired", expired.cert, ErrExpired},
		{"ca without aki", root.cert, ErrUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Check(context.Background(), tt.cert)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
		})
	}
	var re *RevokedError
	if err := c.Check(context.Background(), revoked.cert); !errors.As(err, &re) || re.Reason != 1 || re.Source != "inventory" {
		t.Errorf("revoked detail: %v", err)
	}
	t.Run("store down", func(t *testing.T) {
		st.failGet = errDBGone
		defer func() { st.failGet = nil }()
		if err := c.Check(context.Background(), good.cert); !errors.Is(err, ErrUnavailable) || !errors.Is(err, errDBGone) {
			t.Fatalf("Check = %v", err)
		}
	})
	t.Run("revocation takes effect at once", func(t *testing.T) {
		st.revoke(t, good.cert, 4, now)
		if err := c.Check(context.Background(), good.cert); !errors.Is(err, ErrRevoked) {
			t.Fatalf("Check = %v", err)
		}
	})
}

// crlFixture is a root, a store with one good and one revoked leaf, and the
// root's CRL published to a file.
type crlFixture struct {
	dir                 string
	root                *testCA
	st                  *fakeStore
	good, revoked, late *testCA
	path                string
}

func newCRLFixture(t *testing.T) *crlFixture {
	f := &crlFixture{dir: t.TempDir(), st: newFakeStore()}
	f.root = newRootCA(t, f.dir, "root", nil)
	f.good, f.revoked, f.late = f.root.leaf(t, "", "good"), f.root.leaf(t, "", "revoked"), f.root.leaf(t, "", "late")
	for _, c := range []*testCA{f.good, f.revoked, f.late} {
		f.st.add(c.cert, "server")
	}
	f.st.revoke(t, f.revoked.cert, 3, time.Now().Add(-time.Minute))
	f.path = filepath.Join(f.dir, "crl.der")
	f.publish(t)
	return f
}

func (f *crlFixture) publish(t *testing.T) {
	t.Helper()
	if _, err := PublishCRL(context.Background(), f.st, crlConfig(f.root), "", f.path); err != nil {
		t.Fatal(err)
	}
}

func TestCRLCheckerFromFileAndURL(t *testing.T) {
	f := newCRLFixture(t)
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		http.ServeFile(w, r, f.path)
	}))
	defer srv.Close()
	for name, src := range map[string]string{"file": f.path, "url": srv.URL + "/crl"} {
		t.Run(name, func(t *testing.T) {
			c := &CRLChecker{Source: src, Issuer: f.root.cert}
			if err := c.Check(context.Background(), f.good.cert); err != nil {
				t.Errorf("good: %v", err)
			}
			var re *RevokedError
			if err := c.Check(context.Background(), f.revoked.cert); !errors.As(err, &re) || re.Reason != 3 || re.Source != "crl" {
				t.Errorf("revoked: %v", err)
			}
			other := newRootCA(t, "", "other", nil).leaf(t, "", "x")
			if err := c.Check(context.Background(), other.cert); !errors.Is(err, ErrUnknown) {
				t.Errorf("other issuer's certificate: %v", err)
			}
		})
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("URL fetched %d times within the refresh interval, want 1", n)
	}
}

func TestCRLCheckerRefresh(t *testing.T) {
	f := newCRLFixture(t)
	now := time.Now()
	c := &CRLChecker{Source: f.path, Issuer: f.root.cert, Refresh: time.Minute, Now: func() time.Time { return now }}
	if err := c.Check(context.Background(), f.late.cert); err != nil {
		t.Fatal(err)
	}
	f.st.revoke(t, f.late.cert, 1, now)
	f.publish(t)
	if err := c.Check(context.Background(), f.late.cert); err != nil {
		t.Fatalf("within the refresh interval the cached CRL is used: %v", err)
	}
	now = now.Add(2 * time.Minute)
	if err := c.Check(context.Background(), f.late.cert); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after refresh: %v", err)
	}

	// The source breaks: the cached CRL serves until its nextUpdate, then no more.
	os.WriteFile(f.path, []byte("garbage"), 0o644)
	now = now.Add(time.Hour)
	if err := c.Check(context.Background(), f.good.cert); err != nil {
		t.Fatalf("cached CRL still valid: %v", err)
	}
	now = now.Add(8 * 24 * time.Hour)
	if err := c.Check(context.Background(), f.good.cert); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("past nextUpdate with a broken source: %v", err)
	}
}

func TestCRLCheckerRefusesRollback(t *testing.T) {
	f := newCRLFixture(t)
	old, _ := os.ReadFile(f.path)
	f.publish(t)
	now := time.Now()
	c := &CRLChecker{Source: f.path, Issuer: f.root.cert, Refresh: time.Second, Now: func() time.Time { return now }}
	if err := c.Check(context.Background(), f.good.cert); err != nil {
		t.Fatal(err)
	}
	// An attacker replays the older CRL, from before late was revoked.
	f.st.revoke(t, f.late.cert, 1, now)
	f.publish(t)
	c.mu.Lock()
	c.lastAttempt = time.Time{}
	c.mu.Unlock()
	if err := c.Check(context.Background(), f.late.cert); !errors.Is(err, ErrRevoked) {
		t.Fatal(err)
	}
	os.WriteFile(f.path, old, 0o644)
	now = now.Add(time.Minute)
	if err := c.Check(context.Background(), f.late.cert); !errors.Is(err, ErrRevoked) {
		t.Fatalf("older CRL replaced a newer one: %v", err)
	}
}

func TestCRLCheckerFailsClosed(t *testing.T) {
	f := newCRLFixture(t)
	raw, _ := os.ReadFile(f.path)
	write := func(name string, data []byte) string {
		p := filepath.Join(f.dir, name)
		os.WriteFile(p, data, 0o644)
		return p
	}
	impostor := newRootCA(t, "", "root", nil)
	impostor.cert.SubjectKeyId = f.root.cert.SubjectKeyId
	forged := filepath.Join(f.dir, "forged.der")
	if _, err := PublishCRL(context.Background(), f.st, crlConfig(impostor), "", forged); err != nil {
		t.Fatal(err)
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()

	tests := []struct {
		name   string
		source string
		now    time.Time
		want   []error
	}{
		{"signed by another key", forged, time.Now(), []error{ErrBadSignature}},
		{"truncated", write("truncated.der", raw[:len(raw)/2]), time.Now(), []error{ErrUnavailable}},
		{"empty", write("empty.der", nil), time.Now(), []error{ErrUnavailable}},
		{"past nextUpdate", f.path, time.Now().Add(8 * 24 * time.Hour), []error{ErrUnavailable, ErrStale}},
		{"missing file", filepath.Join(f.dir, "nope"), time.Now(), []error{ErrUnavailable}},
		{"unreachable url", down.URL + "/crl", time.Now(), []error{ErrUnavailable}},
		{"http 404", notFound.URL + "/crl", time.Now(), []error{ErrUnavailable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &CRLChecker{Source: tt.source, Issuer: f.root.cert, Now: func() time.Time { return tt.now }}
			err := c.Check(context.Background(), f.good.cert)
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("Check = %v, want %v", err, w)
				}
			}
		})
	}
}

// Compile-time check that the fake satisfies what Revoker needs.
var _ RevokerStore = (*fakeStore)(nil)

func TestRevokedErrorMessage(t *testing.T) {
	err := error(&RevokedError{Serial: "ab", Reason: 1, RevokedAt: time.Unix(0, 0), Source: "crl"})
	if !errors.Is(err, ErrRevoked) || errors.Is(err, certstore.ErrNotFound) {
		t.Fatal("RevokedError does not match ErrRevoked only")
	}
	if validReason(8) || validReason(7) || !validReason(0) || !validReason(10) {
		t.Error("validReason")
	}
}
