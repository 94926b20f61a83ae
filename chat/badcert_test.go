package chat

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/internal/testchat"
	"github.com/securechat/scca/internal/testpki"
)

// TestServerRejectsBadClientCertificates drives every certificate the
// server must refuse, and checks a good client still gets through after
// each one.
func TestServerRejectsBadClientCertificates(t *testing.T) {
	w := newWorld(t)
	addr, _, rec := startServer(t, w.serverConfig())
	client := testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth}
	foreign := testpki.NewCA(t, "Foreign CA")
	// An impostor CA with the real CA's name: its certificates name the
	// right issuer but carry a signature from another key.
	impostor := testpki.NewCA(t, "Test Root CA")

	cases := []struct {
		name  string
		build func(t *testing.T) ClientConfig
		want  error
	}{
		{"foreign CA", certCase(w, func() ([]*x509.Certificate, crypto.Signer) { return foreign.Issue(t, "client123", client) }, true), ca.ErrUntrusted},
		{"issuer name right, signature by another key", certCase(w, func() ([]*x509.Certificate, crypto.Signer) { return impostor.Issue(t, "client123", client) }, true), ca.ErrUntrusted},
		{"expired", certCase(w, func() ([]*x509.Certificate, crypto.Signer) {
			return w.CA.Issue(t, "client123", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth, NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Minute)})
		}, true), ca.ErrExpired},
		{"not yet valid", certCase(w, func() ([]*x509.Certificate, crypto.Signer) {
			return w.CA.Issue(t, "client123", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth, NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(2 * time.Hour)})
		}, true), ca.ErrNotYet},
		{"unknown to inventory", certCase(w, func() ([]*x509.Certificate, crypto.Signer) { return w.CA.Issue(t, "client123", client) }, false), testchat.ErrUnknownCert},
		{"same serial, different certificate", certCase(w, func() ([]*x509.Certificate, crypto.Signer) {
			return w.CA.Issue(t, "client123", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth, Serial: new(big.Int).Set(w.ClientChain[0].SerialNumber)})
		}, false), testchat.ErrFingerprint},
		{"server certificate used as client", certCase(w, func() ([]*x509.Certificate, crypto.Signer) {
			return w.CA.Issue(t, "client123", testpki.LeafOpts{EKU: x509.ExtKeyUsageServerAuth})
		}, true), ca.ErrWrongEKU},
		{"CA certificate as leaf", certCase(w, func() ([]*x509.Certificate, crypto.Signer) {
			return w.CA.Issue(t, "client123", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth, IsCA: true})
		}, true), ca.ErrLeafIsCA},
		{"revoked", func(t *testing.T) ClientConfig {
			chain, key := w.CA.Issue(t, "client123", client)
			w.Inv.Add(chain[0])
			w.Inv.Revoke(chain[0])
			cfg := w.clientConfig()
			cfg.Chain, cfg.Key = chain, key
			return cfg
		}, testchat.ErrRevoked},
		{"client_id differs from CN", func(t *testing.T) ClientConfig {
			cfg := w.clientConfig()
			cfg.ClientID = "admin"
			return cfg
		}, ErrPeerCertificate},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rec.Rejections())
			_, err := Dial(context.Background(), addr, tc.build(t))
			var re *RemoteError
			if !errors.Is(err, ErrRejectedByServer) || !errors.As(err, &re) || re.Code != CodeCertificateRejected {
				t.Fatalf("dial: %v, want certificate_rejected from server", err)
			}
			rejs := rec.Rejections()
			if len(rejs) != before+1 || !errors.Is(rejs[before], ErrPeerCertificate) || !errors.Is(rejs[before], tc.want) {
				t.Fatalf("server rejections %v, want one wrapping %v", rejs[before:], tc.want)
			}
			assertGoodClient(t, w, addr, rec)
		})
	}
}

// certCase builds a client config presenting the made certificate, known
// to the server's inventory when known is true.
func certCase(w *world, make func() ([]*x509.Certificate, crypto.Signer), known bool) func(t *testing.T) ClientConfig {
	return func(t *testing.T) ClientConfig {
		chain, key := make()
		if known {
			w.Inv.Add(chain[0])
		}
		cfg := w.clientConfig()
		cfg.Chain, cfg.Key = chain, key
		return cfg
	}
}
