package chat

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"testing"
	"time"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/internal/testchat"
	"github.com/securechat/scca/internal/testpki"
	"github.com/securechat/scca/revocation"
)

// chainWorld is root -> intermediate -> server and client leaves, each
// side checking the other's whole chain with a revocation.ChainChecker over
// its inventory (docs/PROTOCOL.md §7).
func chainWorld(t *testing.T) (w *world, inter *testpki.CA, sc, cc *revocation.ChainChecker) {
	t.Helper()
	root := testpki.NewCA(t, "Chain Root CA")
	key := testpki.NewKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: testpki.NextSerial(), Subject: pkix.Name{CommonName: "Chain Intermediate CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	inter = &testpki.CA{Cert: testpki.MustCreate(t, tmpl, root.Cert, key.Public(), root.Key), Key: key}
	w = &world{&testchat.World{CA: root, Inv: testchat.NewInventory(), ClientInv: testchat.NewInventory()}}
	w.ServerChain, w.ServerKey = inter.Issue(t, "localhost", testpki.LeafOpts{EKU: x509.ExtKeyUsageServerAuth})
	w.ClientChain, w.ClientKey = inter.Issue(t, "client123", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth})
	// Each side sends its intermediate, as `scca chat` does.
	w.ServerChain = append(w.ServerChain, inter.Cert)
	w.ClientChain = append(w.ClientChain, inter.Cert)
	for _, inv := range []*fakeInventory{w.Inv, w.ClientInv} {
		inv.Add(inter.Cert)
	}
	w.Inv.Add(w.ClientChain[0])
	w.ClientInv.Add(w.ServerChain[0])
	// Only the root is configured: the intermediate comes from the peer, so
	// the checker must be given the chain the handshake verified.
	cas := []*x509.Certificate{root.Cert}
	sc = &revocation.ChainChecker{Default: w.Inv, CAs: cas}
	cc = &revocation.ChainChecker{Default: w.ClientInv, CAs: cas}
	return w, inter, sc, cc
}

func TestRevokedIntermediateRefusedBothWays(t *testing.T) {
	t.Run("server refuses a client under a revoked intermediate", func(t *testing.T) {
		w, inter, sc, cc := chainWorld(t)
		scfg := w.serverConfig()
		scfg.Roots, scfg.Intermediates, scfg.Checker = ca.NewTrust(w.CA.Cert).Roots, nil, sc
		addr, _, rec := startServer(t, scfg)
		ccfg := w.clientConfig()
		ccfg.Roots, ccfg.Intermediates, ccfg.Checker = ca.NewTrust(w.CA.Cert).Roots, nil, cc
		c, err := Dial(context.Background(), addr, ccfg)
		if err != nil {
			t.Fatalf("good chain: %v", err)
		}
		c.Close()
		w.Inv.Revoke(inter.Cert) // only the server's view changes
		_, err = Dial(context.Background(), addr, ccfg)
		var re *RemoteError
		if !errors.As(err, &re) || re.Code != CodeCertificateRejected {
			t.Fatalf("dial = %v, want certificate_rejected", err)
		}
		rejs := rec.Rejections()
		if len(rejs) == 0 || !errors.Is(rejs[len(rejs)-1], testchat.ErrRevoked) {
			t.Fatalf("server rejections %v, want the revoked intermediate", rejs)
		}
	})
	t.Run("client refuses a server under a revoked intermediate", func(t *testing.T) {
		w, inter, sc, cc := chainWorld(t)
		scfg := w.serverConfig()
		scfg.Roots, scfg.Intermediates, scfg.Checker = ca.NewTrust(w.CA.Cert).Roots, nil, sc
		addr, _, _ := startServer(t, scfg)
		ccfg := w.clientConfig()
		ccfg.Roots, ccfg.Intermediates, ccfg.Checker = ca.NewTrust(w.CA.Cert).Roots, nil, cc
		w.ClientInv.Revoke(inter.Cert) // only the client's view changes
		_, err := Dial(context.Background(), addr, ccfg)
		if !errors.Is(err, ErrPeerCertificate) || !errors.Is(err, testchat.ErrRevoked) {
			t.Fatalf("dial = %v, want the server's revoked intermediate refused", err)
		}
	})
}
