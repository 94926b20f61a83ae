package web_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/chat"
	"github.com/securechat/scca/enroll"
	"github.com/securechat/scca/internal/testdb"
	"github.com/securechat/scca/revocation"
	"github.com/securechat/scca/web"
)

// world is a CA with its inventory, a chat server serving TCP and the page
// with its WebSocket, and the real online CA API (enroll.Server over TLS,
// as `scca serve --api-listen` runs it) that the page reaches through the
// chat server's --ca-url relay with tokens from enroll.NewToken.
type world struct {
	a       *ca.Authority
	st      *certstore.Store
	srv     *chat.Server
	tcp     string
	pageURL string
	wsURL   string
}

// worldOptions vary the chat server of a world.
type worldOptions struct {
	senderQuota int         // chat.ServerConfig.SenderQuota (0: default)
	broker      chat.Broker // nil: a lone server
}

func newWorld(t *testing.T) *world { return newWorldWith(t, worldOptions{}) }

func newWorldWith(t *testing.T, o worldOptions) *world {
	t.Helper()
	ctx := context.Background()
	st, err := certstore.Open(ctx, testdb.SQLite(t), certstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a, err := ca.Init(ctx, ca.InitRequest{Dir: dir, Store: st, Actor: "test", Intermediate: true})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{a: a, st: st}
	srvChain, srvKey := w.issue(t, ca.ProfileServer, "chat-server")
	w.srv, err = chat.NewServer(chat.ServerConfig{
		Chain: append(srvChain, a.Intermediate), Key: srvKey, Roots: a.Trust().Roots, Intermediates: a.Trust().Intermediates,
		Checker: &revocation.InventoryChecker{Store: st}, Mailbox: st, Revocations: st, QueueLimit: 2,
		SenderQuota: o.senderQuota, Cluster: chat.ClusterConfig{Broker: o.broker},
	})
	if err != nil {
		t.Fatal(err)
	}
	tcp := listen(t)
	go func() { _ = w.srv.Serve(tcp) }() // also starts the revocation watcher
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = w.srv.Shutdown(sctx)
	})
	w.tcp = tcp.Addr().String()

	api := w.caAPI(t)
	relay, err := web.NewSignRelay(web.RelayOptions{CAURL: api, Roots: a.Trust().Roots})
	if err != nil {
		t.Fatal(err)
	}
	root := a.Root
	h := web.Handler(web.Options{
		WebSocket: w.srv.WebSocketHandler(chat.WebSocketOptions{}),
		RootPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}),
		Enroll:    relay,
	})
	wsln := listen(t)
	go func() { _ = w.srv.ServeHandler(wsln, h) }()
	w.pageURL = "http://" + wsln.Addr().String() + "/"
	w.wsURL = "ws://" + wsln.Addr().String() + "/chat"
	return w
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// issue makes a certificate and key with the CA (as `scca issue`).
func (w *world) issue(t *testing.T, p ca.Profile, cn string) ([]*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	req := ca.IssueRequest{Profile: p, CN: cn}
	if p == ca.ProfileServer {
		req.IPs = []net.IP{net.ParseIP("127.0.0.1")}
		req.DNSNames = []string{"localhost"}
	}
	cert, err := w.a.Certify(context.Background(), key.Public(), req)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{cert}, key
}

// caAPI starts the online CA's API as `scca serve --api-listen` does: an
// enroll.Server on a TLS listener with the certificate the CA issues
// itself (so the relay must verify it against the CA root). It returns
// the API's base URL.
func (w *world) caAPI(t *testing.T) string {
	t.Helper()
	api, err := enroll.NewServer(enroll.ServerConfig{Authority: w.a, Store: w.st, Names: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.ServerCertificate(); err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	hs := &http.Server{Handler: api, TLSConfig: api.TLSConfig(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = hs.Serve(tls.NewListener(ln, hs.TLSConfig)) }()
	t.Cleanup(func() { _ = hs.Close() })
	return "https://" + ln.Addr().String()
}

// token mints a one-time client token for cn in the inventory (as
// `scca token --cn CN --type client`).
func (w *world) token(t *testing.T, cn string) string {
	t.Helper()
	tok, _, err := enroll.NewToken(context.Background(), w.st, enroll.TokenRequest{CN: cn, Profile: ca.ProfileClient, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// goClient connects a Go client (as `scca chat client`) over TCP.
func (w *world) goClient(t *testing.T, cn string) *chat.Conn {
	t.Helper()
	chain, key := w.issue(t, ca.ProfileClient, cn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := chat.Dial(ctx, w.tcp, chat.ClientConfig{
		Chain: append(chain, w.a.Intermediate), Key: key, Roots: w.a.Trust().Roots, Intermediates: w.a.Trust().Intermediates,
		Checker: &revocation.InventoryChecker{Store: w.st}, ServerName: "127.0.0.1", ClientID: cn,
	})
	if err != nil {
		t.Fatalf("dial as %s: %v", cn, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// revoke revokes the certificates issued to cn (as `scca revoke`); the
// browser's came from the CA API, so the inventory is asked for them.
func (w *world) revoke(t *testing.T, cn string) {
	t.Helper()
	ctx := context.Background()
	recs, err := w.st.FindByCN(ctx, cn)
	if err != nil || len(recs) == 0 {
		t.Fatalf("no certificate issued to %s: %v", cn, err)
	}
	for _, rec := range recs {
		if _, err := w.st.Revoke(ctx, certstore.Revocation{
			IssuerKeyID: rec.IssuerKeyID, Serial: rec.Serial, Reason: 1, Actor: "test",
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// foreignRootPEM is a self-signed CA that has nothing to do with the world.
func foreignRootPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Foreign Root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
