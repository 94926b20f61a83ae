package chat

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"strings"
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

// TestRevokedIntermediateEndsLiveSessions: revoking an intermediate CA ends
// the live sessions of the clients it issued (their next handshake would be
// refused, so their sessions must not outlive the revocation), whether the
// client sent the intermediate or the server had it in its Intermediates
// pool; a session under another issuer stays up.
func TestRevokedIntermediateEndsLiveSessions(t *testing.T) {
	for _, sent := range []bool{true, false} {
		name := map[bool]string{true: "client sends the intermediate", false: "server's Intermediates pool"}[sent]
		t.Run(name, func(t *testing.T) {
			w, inter, sc, cc := chainWorld(t)
			store := &memStore{}
			scfg := w.serverConfig()
			scfg.Roots, scfg.Checker = ca.NewTrust(w.CA.Cert).Roots, sc
			scfg.Intermediates = x509.NewCertPool()
			scfg.Intermediates.AddCert(inter.Cert)
			scfg.Mailbox, scfg.Revocations, scfg.RevocationPoll = store, store, 20*time.Millisecond
			addr, _, rec := startServer(t, scfg)
			dial := func(chain []*x509.Certificate, key crypto.Signer) *Conn {
				t.Helper()
				ccfg := w.clientConfig()
				ccfg.Roots, ccfg.Intermediates, ccfg.Checker = ca.NewTrust(w.CA.Cert).Roots, nil, cc
				ccfg.Chain, ccfg.Key, ccfg.ClientID = chain, key, chain[0].Subject.CommonName
				c, err := Dial(context.Background(), addr, ccfg)
				if err != nil {
					t.Fatalf("dial as %s: %v (server: %v)", chain[0].Subject.CommonName, err, rec.Rejections())
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			chain := w.ClientChain
			if !sent {
				chain = chain[:1]
			}
			under := dial(chain, w.ClientKey)
			// A client issued by the root itself: the revocation is not its.
			rootChain, rootKey := w.CA.Issue(t, "direct", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth})
			w.Inv.Add(rootChain[0])
			direct := dial(rootChain, rootKey)
			store.waitWatching(t)

			w.Inv.Revoke(inter.Cert)
			store.revoke(inter.Cert)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var re *RemoteError
			if _, err := under.Receive(ctx); !errors.As(err, &re) || re.Code != CodeCertificateRevoked {
				t.Fatalf("session under the revoked intermediate: %v, want %s", err, CodeCertificateRevoked)
			}
			if !strings.Contains(re.Reason, fmt.Sprintf("%x", inter.Cert.SerialNumber)) {
				t.Fatalf("reason %q does not name the intermediate's serial", re.Reason)
			}
			if _, err := direct.Who(context.Background(), ""); err != nil {
				t.Fatalf("session under the root after the intermediate's revocation: %v", err)
			}
			// And the check cache (on with a feed) keeps the whole chain
			// checked: the next handshake under the intermediate is refused.
			ccfg := w.clientConfig()
			ccfg.Roots, ccfg.Intermediates, ccfg.Checker = ca.NewTrust(w.CA.Cert).Roots, nil, cc
			ccfg.Chain, ccfg.Key = chain, w.ClientKey
			if _, err := Dial(context.Background(), addr, ccfg); !errors.As(err, &re) || re.Code != CodeCertificateRejected {
				t.Fatalf("new handshake under the revoked intermediate: %v, want %s", err, CodeCertificateRejected)
			}
		})
	}
}
