package channel

import (
	"bufio"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/securechat/scca/internal/testchat"
	"github.com/securechat/scca/internal/testpki"
)

// rejection reads the server's answer to a bad hello: the code and reason
// of its rejected server_hello.
func rejection(t *testing.T, c net.Conn) (code, reason string) {
	t.Helper()
	var hdr [FrameHeaderLen]byte
	body, err := ReadFrame(bufio.NewReader(c), &hdr, MaxHandshakeFrame)
	if err != nil {
		t.Fatalf("no answer from the server: %v", err)
	}
	var sh serverHello
	if err := json.Unmarshal(body, &sh); err != nil || sh.Status != "error" || sh.Error == nil {
		t.Fatalf("answer %q is not a rejected server_hello", body)
	}
	return sh.Error.Code, sh.Error.Reason
}

// A peer that has proved nothing learns only the class of failure: never
// whether its serial is in the inventory, when or why it was revoked, or
// a library's error text. The server's OnReject (and log) get the detail.
func TestRejectionsTellStrangersNothing(t *testing.T) {
	w := newWorld(t)
	addr, url, _, rec := startWSServer(t, w.serverConfig(), WebSocketOptions{})
	unknownChain, unknownKey := w.CA.Issue(t, "client123", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth})
	revokedChain, revokedKey := w.CA.Issue(t, "client123", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth})
	w.Inv.Add(revokedChain[0])
	w.Inv.Revoke(revokedChain[0])
	foreign := testpki.NewCA(t, "Foreign CA")
	foreignChain, foreignKey := foreign.Issue(t, "client123", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth})
	secrets := []string{unknownChain[0].SerialNumber.Text(16), revokedChain[0].SerialNumber.Text(16),
		"revoked", "inventory", "fingerprint", "x509", "chain", "json", "serial"}
	certCases := []struct {
		name   string
		chain  []*x509.Certificate
		key    crypto.Signer
		detail error
	}{
		{"unknown serial", unknownChain, unknownKey, testchat.ErrUnknownCert},
		{"revoked", revokedChain, revokedKey, testchat.ErrRevoked},
		{"foreign CA", foreignChain, foreignKey, nil},
	}
	for _, tp := range bothTransports(addr, url) {
		for _, cc := range certCases {
			t.Run(tp.name+"/"+cc.name, func(t *testing.T) {
				cfg := w.clientConfig()
				cfg.Chain, cfg.Key = cc.chain, cc.key
				before := len(rec.Rejections())
				_, err := tp.dial(context.Background(), cfg)
				var re *RemoteError
				if !errors.As(err, &re) || re.Code != CodeCertificateRejected {
					t.Fatalf("dial: %v, want %s", err, CodeCertificateRejected)
				}
				if re.Reason != PublicReason(CodeCertificateRejected) {
					t.Errorf("reason %q, want the generic %q", re.Reason, PublicReason(CodeCertificateRejected))
				}
				assertSaysNothing(t, re.Reason, secrets)
				waitFor(t, func() bool { return len(rec.Rejections()) > before })
				got := rec.Rejections()[before]
				if !errors.Is(got, ErrPeerCertificate) || (cc.detail != nil && !errors.Is(got, cc.detail)) {
					t.Errorf("server's OnReject got %v, want the detail %v", got, cc.detail)
				}
			})
		}
		t.Run(tp.name+"/malformed hello", func(t *testing.T) {
			c := tp.raw(t)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(frameBytes([]byte(`{"type":"client_hello","version":"securechat/1","suites":7}`))); err != nil {
				t.Fatal(err)
			}
			code, reason := rejection(t, c)
			if code != CodeProtocol || reason != PublicReason(CodeProtocol) {
				t.Errorf("got %s %q, want %s with the generic reason", code, reason, CodeProtocol)
			}
			assertSaysNothing(t, reason, secrets)
		})
	}
}

func assertSaysNothing(t *testing.T, reason string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(strings.ToLower(reason), strings.ToLower(s)) {
			t.Errorf("reason %q reveals %q", reason, s)
		}
	}
}
