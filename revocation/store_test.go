package revocation

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/securechat/scca/certstore"
)

// Integration with the real inventory, on SQLite and on MySQL/MariaDB.

var _ RevokerStore = (*certstore.Store)(nil)

type backend struct {
	name string
	url  func(tb testing.TB) string
}

var backends = []backend{
	{"sqlite", func(tb testing.TB) string { return "sqlite:" + filepath.Join(tb.TempDir(), "inventory.db") }},
	{"mysql", newMySQLDatabase},
}

// mysqlAdminDSN returns SCCA_TEST_MYSQL_DSN, skipping when it is unset,
// unless CI=true, where a missing MySQL is a failure.
func mysqlAdminDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("SCCA_TEST_MYSQL_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("SCCA_TEST_MYSQL_DSN is not set and CI=true: MySQL tests must run in CI")
		}
		tb.Skip("SCCA_TEST_MYSQL_DSN not set; skipping MySQL tests")
	}
	return dsn
}

// newMySQLDatabase creates a uniquely named database, dropped at cleanup,
// and returns a DSN for it.
func newMySQLDatabase(tb testing.TB) string {
	tb.Helper()
	cfg, err := mysql.ParseDSN(mysqlAdminDSN(tb))
	if err != nil {
		tb.Fatalf("SCCA_TEST_MYSQL_DSN: %v", err)
	}
	cfg.DBName = ""
	cfg.Timeout = 5 * time.Second
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		tb.Fatal(err)
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	name := "scca_revocation_test_" + hex.EncodeToString(suffix)
	if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4"); err != nil {
		admin.Close()
		tb.Fatalf("MySQL at %s unreachable or unusable: %v", cfg.Addr, err)
	}
	tb.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE " + name); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
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
