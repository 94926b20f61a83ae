package web_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/chat"
	"github.com/securechat/scca/internal/testdb"
	"github.com/securechat/scca/revocation"
	"github.com/securechat/scca/web"
)

// world is a CA with its inventory, a chat server serving TCP and the page
// with its WebSocket, and an online CA API (a stand-in for `scca serve`'s
// POST /v1/sign, reached through the page's relay) that signs a browser's
// CSR when it brings the token "token-<CN>".
type world struct {
	a       *ca.Authority
	st      *certstore.Store
	srv     *chat.Server
	tcp     string
	pageURL string
	wsURL   string

	mu     sync.Mutex
	issued map[string]*x509.Certificate // by CN, through the CA API
}

func newWorld(t *testing.T) *world {
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
	w := &world{a: a, st: st, issued: make(map[string]*x509.Certificate)}
	srvChain, srvKey := w.issue(t, ca.ProfileServer, "chat-server")
	w.srv, err = chat.NewServer(chat.ServerConfig{
		Chain: append(srvChain, a.Intermediate), Key: srvKey, Trust: a.Trust(),
		Checker: &revocation.InventoryChecker{Store: st}, Mailbox: st, Revocations: st, QueueLimit: 2,
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

// caAPI starts the stand-in online CA over TLS with a certificate from the
// same CA (so the relay must verify it against the CA root) and returns
// its base URL.
func (w *world) caAPI(t *testing.T) string {
	t.Helper()
	chain, key := w.issue(t, ca.ProfileServer, "ca-api")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/sign", func(rw http.ResponseWriter, r *http.Request) {
		var req struct{ Token, CSR string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(rw, `{"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		block, _ := pem.Decode([]byte(req.CSR))
		if block == nil {
			http.Error(rw, `{"error":"no csr"}`, http.StatusBadRequest)
			return
		}
		csr, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil || csr.CheckSignature() != nil || req.Token != "token-"+csr.Subject.CommonName {
			http.Error(rw, `{"error":"invalid or already used token"}`, http.StatusUnauthorized)
			return
		}
		cert, err := w.a.Certify(r.Context(), csr.PublicKey, ca.IssueRequest{Profile: ca.ProfileClient, CN: csr.Subject.CommonName})
		if err != nil {
			http.Error(rw, `{"error":"issue failed"}`, http.StatusInternalServerError)
			return
		}
		w.mu.Lock()
		w.issued[csr.Subject.CommonName] = cert
		w.mu.Unlock()
		chainPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
		chainPEM = append(chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.a.Intermediate.Raw})...)
		_ = json.NewEncoder(rw).Encode(map[string]string{
			"certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
			"chain":       string(chainPEM),
		})
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{chain[0].Raw, w.a.Intermediate.Raw}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

// goClient connects a Go client (as `scca chat client`) over TCP.
func (w *world) goClient(t *testing.T, cn string) *chat.Conn {
	t.Helper()
	chain, key := w.issue(t, ca.ProfileClient, cn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := chat.Dial(ctx, w.tcp, chat.ClientConfig{
		Chain: append(chain, w.a.Intermediate), Key: key, Trust: w.a.Trust(),
		Checker: &revocation.InventoryChecker{Store: w.st}, ServerName: "127.0.0.1", ClientID: cn,
	})
	if err != nil {
		t.Fatalf("dial as %s: %v", cn, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// revoke revokes the certificate the CA API issued to cn (as `scca revoke`).
func (w *world) revoke(t *testing.T, cn string) {
	t.Helper()
	w.mu.Lock()
	cert := w.issued[cn]
	w.mu.Unlock()
	if cert == nil {
		t.Fatalf("no certificate issued to %s", cn)
	}
	if _, err := w.st.Revoke(context.Background(), certstore.Revocation{
		IssuerKeyID: w.a.IssuerKeyID(), Serial: cert.SerialNumber.Text(16), Reason: 1, Actor: "test",
	}); err != nil {
		t.Fatal(err)
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
