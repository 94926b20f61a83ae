package chat

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/securechat/scca/internal/testdb"

	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/revocation"
)

// BenchmarkHandshakeInventory measures full handshakes with the real
// inventory check on the server: revocation.InventoryChecker over a
// certstore.Store on SQLite and on MariaDB (SCCA_TEST_MYSQL_DSN), with the
// client certificate recorded in it, next to crypto/tls 1.3 in the same run.
// A TLS server cannot consult the inventory in its handshake, so its figure
// is the chain check only.
func BenchmarkHandshakeInventory(b *testing.B) {
	w := newWorld(b)
	backends := []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", func(tb testing.TB) string { return "sqlite:" + filepath.Join(tb.TempDir(), "inventory.db") }},
		{"mariadb", newBenchMySQLDatabase},
	}
	for _, be := range backends {
		b.Run("securechat+"+be.name, func(b *testing.B) {
			st := openInventory(b, be.url(b))
			if err := st.Insert(context.Background(), inventoryRecord(w.clientChain[0])); err != nil {
				b.Fatal(err)
			}
			scfg := w.serverConfig()
			scfg.Checker = &revocation.InventoryChecker{Store: st}
			addr, _, rec := startServer(b, scfg)
			cfg := w.clientConfig()
			b.ResetTimer()
			for b.Loop() {
				c, err := Dial(context.Background(), addr, cfg)
				if err != nil {
					b.Fatalf("dial: %v (server rejections: %v)", err, rec.rejections())
				}
				c.sess.conn.Close()
			}
			reportRate(b, "handshakes/s")
		})
	}
	b.Run("tls13", func(b *testing.B) {
		addr := startTLSServer(b, w, 0)
		cfg := tlsClientConfig(w)
		for b.Loop() {
			c, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
		reportRate(b, "handshakes/s")
	})
}

// TestInventoryCheckerRefusesUnknown makes sure the inventory benchmark
// measures a check that can fail: a client missing from the real store is
// refused, a recorded one is accepted.
func TestInventoryCheckerRefusesUnknown(t *testing.T) {
	w := newWorld(t)
	st := openInventory(t, "sqlite:"+filepath.Join(t.TempDir(), "inventory.db"))
	scfg := w.serverConfig()
	scfg.Checker = &revocation.InventoryChecker{Store: st}
	addr, _, _ := startServer(t, scfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := Dial(ctx, addr, w.clientConfig()); !errors.Is(err, ErrRejectedByServer) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("unrecorded client: err = %v, want ErrRejectedByServer", err)
	}
	if err := st.Insert(ctx, inventoryRecord(w.clientChain[0])); err != nil {
		t.Fatal(err)
	}
	c, err := Dial(ctx, addr, w.clientConfig())
	if err != nil {
		t.Fatalf("recorded client: %v", err)
	}
	c.Close()
}

// inventoryRecord is the inventory row scca would have written when it
// issued c.
func inventoryRecord(c *x509.Certificate) certstore.Record {
	return certstore.Record{
		Serial: fmt.Sprintf("%x", c.SerialNumber), IssuerKeyID: hex.EncodeToString(c.AuthorityKeyId),
		Type: certstore.TypeClient, CN: c.Subject.CommonName,
		NotBefore: c.NotBefore, NotAfter: c.NotAfter, DER: c.Raw, Status: certstore.StatusActive,
	}
}

func openInventory(tb testing.TB, url string) *certstore.Store {
	tb.Helper()
	st, err := certstore.Open(context.Background(), url, certstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return st
}

// newBenchMySQLDatabase creates a throw-away database on the test server
// (internal/testdb: skip when unconfigured, fail under CI=true).
func newBenchMySQLDatabase(tb testing.TB) string {
	return testdb.MySQL(tb, "scca_chat_bench")
}
