package chat

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/securechat/scca/internal/testchat"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestHandshakeAndMessages(t *testing.T) {
	w := newWorld(t)
	addr, _, rec := startServer(t, w.serverConfig())
	ctx := context.Background()
	c, err := Dial(ctx, addr, w.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	if c.PeerCN() != "localhost" {
		t.Errorf("PeerCN = %q", c.PeerCN())
	}
	for _, text := range []string{"Hello Secure Server!", "", "ünïcødé ✓", strings.Repeat("x", 64<<10)} {
		if err := c.Send(ctx, text); err != nil {
			t.Fatalf("send %.20q: %v", text, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := rec.Messages()
	if len(got) != 4 || got[0] != "client123: Hello Secure Server!" || got[2] != "client123: ünïcødé ✓" {
		t.Fatalf("server received %.60q", got)
	}
	if err := c.Send(ctx, "after close"); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v, want ErrClosed", err)
	}
}

func TestMessageTooLarge(t *testing.T) {
	w := newWorld(t)
	cfg := w.serverConfig()
	cfg.MaxFrame = 4 << 10
	addr, _, rec := startServer(t, cfg)
	c, err := Dial(context.Background(), addr, w.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send(context.Background(), strings.Repeat("x", 4<<10)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("oversized send: %v, want ErrMessageTooLarge", err)
	}
	if err := c.Send(context.Background(), strings.Repeat("x", 2<<10)); err != nil {
		t.Fatalf("fitting send after refusal: %v", err)
	}
	assertGoodClient(t, w, addr, rec)
}

func TestRevocationTakesEffectAtOnce(t *testing.T) {
	w := newWorld(t)
	addr, _, rec := startServer(t, w.serverConfig())
	assertGoodClient(t, w, addr, rec)
	w.Inv.Revoke(w.ClientChain[0])
	_, err := Dial(context.Background(), addr, w.clientConfig())
	if !errors.Is(err, ErrRejectedByServer) {
		t.Fatalf("revoked client: %v, want ErrRejectedByServer", err)
	}
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeCertificateRejected || re.Reason != publicReason(CodeCertificateRejected) {
		t.Fatalf("rejection = %#v", re)
	}
	rejs := rec.Rejections()
	if len(rejs) != 1 || !errors.Is(rejs[0], testchat.ErrRevoked) || !errors.Is(rejs[0], ErrPeerCertificate) {
		t.Fatalf("server rejections = %v", rejs)
	}
}

func TestFailClosedWhenCheckerUnavailable(t *testing.T) {
	w := newWorld(t)
	addr, _, rec := startServer(t, w.serverConfig())
	w.Inv.SetUnavailable(true)
	if _, err := Dial(context.Background(), addr, w.clientConfig()); !errors.Is(err, ErrRejectedByServer) {
		t.Fatalf("server with unavailable inventory accepted: %v", err)
	}
	w.Inv.SetUnavailable(false)
	w.ClientInv.SetUnavailable(true)
	if _, err := Dial(context.Background(), addr, w.clientConfig()); !errors.Is(err, testchat.ErrUnavailable) || !errors.Is(err, ErrPeerCertificate) {
		t.Fatalf("client with unavailable revocation source: %v", err)
	}
	w.ClientInv.SetUnavailable(false)
	assertGoodClient(t, w, addr, rec)
}

func TestClientRejectsServer(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name   string
		mutate func(*ServerConfig, *ClientConfig)
		want   error
	}{
		{"wrong server name", func(_ *ServerConfig, c *ClientConfig) { c.ServerName = "other.example" }, nil},
		{"client certificate used as server", func(s *ServerConfig, _ *ClientConfig) {
			s.Chain, s.Key = w.ClientChain, w.ClientKey
			w.ClientInv.Add(w.ClientChain[0])
		}, nil},
		{"server revoked", func(_ *ServerConfig, _ *ClientConfig) { w.ClientInv.Revoke(w.ServerChain[0]) }, testchat.ErrRevoked},
		{"server unknown to client inventory", func(_ *ServerConfig, c *ClientConfig) { c.Checker = testchat.NewInventory() }, testchat.ErrUnknownCert},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			scfg, ccfg := w.serverConfig(), w.clientConfig()
			tc.mutate(&scfg, &ccfg)
			addr, _, _ := startServer(t, scfg)
			_, err := Dial(context.Background(), addr, ccfg)
			if !errors.Is(err, ErrPeerCertificate) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("got %v, want ErrPeerCertificate (%v)", err, tc.want)
			}
		})
	}
}

func TestConfigRequiresChecker(t *testing.T) {
	w := newWorld(t)
	cfg := w.serverConfig()
	cfg.Checker = nil
	if _, err := NewServer(cfg); err == nil {
		t.Fatal("NewServer accepted a config without a PeerChecker")
	}
	ccfg := w.clientConfig()
	ccfg.Checker = nil
	if _, err := Dial(context.Background(), "127.0.0.1:1", ccfg); err == nil {
		t.Fatal("Dial accepted a config without a PeerChecker")
	}
}

var _ = x509.ExtKeyUsageAny
var _ = time.Second
