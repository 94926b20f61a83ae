package chat

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/internal/testdb"

	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/revocation"
)

// BenchmarkHandshakeInventory measures full handshakes with the real
// inventory check on the server: revocation.InventoryChecker over a
// certstore.Store on SQLite and on MariaDB (SCCA_TEST_MYSQL_DSN), with the
// client certificate recorded in it, next to crypto/tls 1.3 in the same run:
//
//   - securechat+DB: as `scca chat serve` runs it, with the store as
//     revocation feed, so positive answers are reused for up to 1 s
//     (docs/PROTOCOL.md §7.4); +nocache: every handshake queries the store
//     (overlapped with the server's signing);
//   - tls13+verifyconnection+DB: TLS 1.3 mTLS whose server runs the same
//     inventory check in tls.Config.VerifyConnection, the client waiting
//     for the server's verdict (one byte the server writes after it);
//   - tls13: plain TLS 1.3 mTLS, chain check only, no inventory.
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
		// Each run gets its own store: a cleanup registered by one
		// sub-benchmark run closes it when that run ends.
		store := func(b *testing.B) *certstore.Store {
			st := openInventory(b, be.url(b))
			if err := st.Insert(context.Background(), inventoryRecord(w.ClientChain[0])); err != nil {
				b.Fatal(err)
			}
			return st
		}
		for _, cache := range []string{"", "+nocache"} {
			b.Run("securechat+"+be.name+cache, func(b *testing.B) {
				benchSecureChatInventory(b, w, store(b), cache == "")
			})
		}
		b.Run("tls13+verifyconnection+"+be.name, func(b *testing.B) {
			checker := &revocation.InventoryChecker{Store: store(b)}
			addr := startTLSServerVerify(b, w, func(cs tls.ConnectionState) error {
				return checker.Check(context.Background(), cs.PeerCertificates[0])
			})
			benchTLSVerdict(b, addr, tlsClientConfig(w))
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

// benchSecureChatInventory dials full handshakes against a server checking
// clients in st; with cache the store is also the revocation feed.
func benchSecureChatInventory(b *testing.B, w *world, st *certstore.Store, cache bool) {
	scfg := w.serverConfig()
	scfg.Checker = &revocation.InventoryChecker{Store: st}
	if cache {
		scfg.Revocations = st
	} else {
		scfg.CheckCacheTTL = -1
	}
	addr, _, rec := startServer(b, scfg)
	cfg := w.clientConfig()
	b.ResetTimer()
	for b.Loop() {
		c, err := Dial(context.Background(), addr, cfg)
		if err != nil {
			b.Fatalf("dial: %v (server rejections: %v)", err, rec.Rejections())
		}
		c.sess.NetConn().Close()
	}
	reportRate(b, "handshakes/s")
}

// startTLSServerVerify runs a TLS 1.3 mTLS server whose VerifyConnection
// is verify; after a successful handshake it writes one byte (the verdict
// the client waits for), then discards.
func startTLSServerVerify(b *testing.B, w *world, verify func(tls.ConnectionState) error) string {
	cfg := tlsServerConfig(w)
	cfg.VerifyConnection = verify
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				if conn.(*tls.Conn).Handshake() == nil {
					_, _ = conn.Write([]byte{1})
				}
				_, _ = io.Copy(io.Discard, conn)
			})
		}
	})
	return ln.Addr().String()
}

// benchTLSVerdict dials TLS handshakes and waits for the server's byte:
// in TLS 1.3 the client finishes before the server has checked its
// certificate, so only the byte tells it the server accepted.
func benchTLSVerdict(b *testing.B, addr string, cfg *tls.Config) {
	one := make([]byte, 1)
	for b.Loop() {
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, one); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	reportRate(b, "handshakes/s")
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
	if err := st.Insert(ctx, inventoryRecord(w.ClientChain[0])); err != nil {
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
