package chat

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/internal/testchat"
)

// writePEMs hands the child process of BenchmarkIdleSessionMemory the
// client identity and CA.
func writePEMs(b *testing.B, dir string, w *world) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(w.ClientKey)
	if err != nil {
		b.Fatal(err)
	}
	for name, blk := range map[string]*pem.Block{
		"ca.pem":     {Type: "CERTIFICATE", Bytes: w.CA.Cert.Raw},
		"client.pem": {Type: "CERTIFICATE", Bytes: w.ClientChain[0].Raw},
		"server.pem": {Type: "CERTIFICATE", Bytes: w.ServerChain[0].Raw},
		"key.pem":    {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(blk), 0o600); err != nil {
			b.Fatal(err)
		}
	}
}

func readPEM(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	return blk.Bytes
}

// TestHelperHoldSessions is the child process of
// BenchmarkIdleSessionMemory: it opens SCCA_HOLD_N sessions, prints
// "ready" and holds them until stdin closes.
func TestHelperHoldSessions(t *testing.T) {
	dir := os.Getenv("SCCA_HOLD_DIR")
	if dir == "" {
		t.Skip("helper process for BenchmarkIdleSessionMemory")
	}
	n, _ := strconv.Atoi(os.Getenv("SCCA_HOLD_N"))
	root, _ := x509.ParseCertificate(readPEM(t, filepath.Join(dir, "ca.pem")))
	leaf, _ := x509.ParseCertificate(readPEM(t, filepath.Join(dir, "client.pem")))
	srvCert, _ := x509.ParseCertificate(readPEM(t, filepath.Join(dir, "server.pem")))
	key, err := x509.ParsePKCS8PrivateKey(readPEM(t, filepath.Join(dir, "key.pem")))
	if err != nil {
		t.Fatal(err)
	}
	inv := testchat.NewInventory()
	inv.Add(srvCert)
	cfg := ClientConfig{Chain: []*x509.Certificate{leaf}, Key: key.(crypto.Signer), Roots: ca.NewTrust(root).Roots, Intermediates: ca.NewTrust(root).Intermediates, Checker: inv, ServerName: "localhost"}
	conns := make([]*Conn, 0, n)
	for i := range n {
		c, err := Dial(context.Background(), os.Getenv("SCCA_HOLD_ADDR"), cfg)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.sess.NetConn().Close()
	}
}
