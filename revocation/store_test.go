package revocation

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/securechat/scca/internal/testdb"

	"github.com/securechat/scca/certstore"
)

// Integration with the real inventory, on SQLite and on MySQL/MariaDB.

var _ RevokerStore = (*certstore.Store)(nil)

type backend struct {
	name string
	url  func(tb testing.TB) string
}

var backends = []backend{
	{"sqlite", testdb.SQLite},
	{"mysql", func(tb testing.TB) string { return testdb.MySQL(tb, "scca_revocation_test") }},
	{"postgres", func(tb testing.TB) string { return testdb.Postgres(tb, "scca_revocation_test") }},
}

func openStore(tb testing.TB, url string) *certstore.Store {
	tb.Helper()
	s, err := certstore.Open(context.Background(), url, certstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestWithRealStore(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			url := be.url(t)
			st := openStore(t, url)
			dir := t.TempDir()
			root := newRootCA(t, dir, "root", nil)
			good, bad := root.leaf(t, dir, "good"), root.leaf(t, dir, "bad")
			for _, c := range []*testCA{good, bad} {
				if err := st.Insert(ctx, recordOf(c.cert, certstore.TypeServer)); err != nil {
					t.Fatal(err)
				}
			}
			crlPath := filepath.Join(dir, "crl.pem")
			r := &Revoker{Store: st, CRLs: map[string]CRLTarget{root.keyID(): {CRLConfig: crlConfig(root), PEMPath: crlPath}}}
			if _, err := PublishCRL(ctx, st, crlConfig(root), crlPath, ""); err != nil {
				t.Fatal(err)
			}
			_, info, err := r.Revoke(ctx, RevokeRequest{Serial: serialOf(bad), Reason: 1, Actor: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			if info.Number != 2 || info.Entries != 1 {
				t.Errorf("info %+v", info)
			}
			if _, _, err := r.Revoke(ctx, RevokeRequest{Serial: serialOf(bad), Reason: 1}); !errors.Is(err, certstore.ErrAlreadyRevoked) {
				t.Errorf("second revoke: %v", err)
			}
			out, err := openssl(t, "verify", "-crl_check", "-CAfile", root.path, "-CRLfile", crlPath, bad.path)
			if err == nil || !strings.Contains(out, "certificate revoked") {
				t.Errorf("openssl accepted revoked: %s", out)
			}
			mustOpenSSL(t, "verify", "-crl_check", "-CAfile", root.path, "-CRLfile", crlPath, good.path)

			inv := &InventoryChecker{Store: st}
			if err := inv.Check(ctx, good.cert); err != nil {
				t.Errorf("inventory good: %v", err)
			}
			if err := inv.Check(ctx, bad.cert); !errors.Is(err, ErrRevoked) {
				t.Errorf("inventory bad: %v", err)
			}
			h, _ := NewOCSPResponder(ResponderConfig{Issuer: root.cert, Signer: root.key, Store: st})
			srv := httptest.NewServer(NewHTTPHandler(ServerConfig{OCSP: h}))
			defer srv.Close()
			out = mustOpenSSL(t, "ocsp", "-issuer", root.path, "-cert", bad.path, "-url", srv.URL+"/ocsp", "-CAfile", root.path)
			if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, ": revoked") {
				t.Errorf("openssl ocsp: %s", out)
			}

			// The database goes away: nothing is revoked, the CRL stays as it was.
			before, _ := os.ReadFile(crlPath)
			st.Close()
			if _, _, err := r.Revoke(ctx, RevokeRequest{Serial: serialOf(good), IssuerKeyID: root.keyID(), Reason: 4}); err == nil {
				t.Fatal("revoke on a closed database succeeded")
			}
			if after, _ := os.ReadFile(crlPath); string(after) != string(before) {
				t.Error("CRL changed")
			}
			if err := inv.Check(ctx, good.cert); !errors.Is(err, ErrUnavailable) {
				t.Errorf("inventory check on closed database: %v", err)
			}
			st2 := openStore(t, url)
			if rec, err := st2.Get(ctx, root.keyID(), serialOf(good)); err != nil || rec.Status != certstore.StatusActive {
				t.Errorf("after failed revoke: %+v, %v", rec, err)
			}
		})
	}
}
