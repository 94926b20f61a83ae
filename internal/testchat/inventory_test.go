package testchat

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/securechat/scca/internal/testpki"
)

func TestInventoryAnswers(t *testing.T) {
	w := NewWorld(t)
	ctx := context.Background()
	if err := w.Inv.Check(ctx, w.ClientChain[0]); err != nil {
		t.Fatalf("known client: %v", err)
	}
	if err := w.Inv.Check(ctx, w.ServerChain[0]); !errors.Is(err, ErrUnknownCert) {
		t.Fatalf("server cert in the server's inventory: %v, want ErrUnknownCert", err)
	}
	twin, _ := w.CA.Issue(t, "client123", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth, Serial: w.ClientChain[0].SerialNumber})
	if err := w.Inv.Check(ctx, twin[0]); !errors.Is(err, ErrFingerprint) {
		t.Fatalf("same serial, other certificate: %v, want ErrFingerprint", err)
	}
	w.Inv.SetUnavailable(true)
	if err := w.Inv.Check(ctx, w.ClientChain[0]); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unavailable: %v", err)
	}
	w.Inv.SetUnavailable(false)
	w.Inv.Revoke(w.ClientChain[0])
	if err := w.Inv.Check(ctx, w.ClientChain[0]); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked: %v", err)
	}
	if got := w.Inv.Calls(); got != 5 {
		t.Fatalf("Calls() = %d after 5 checks", got)
	}
}

func TestReceivedHookKeepsSetHooks(t *testing.T) {
	var r Received
	called := false
	onMessage := func(string, string) { called = true }
	var onReject func(string, error)
	r.Hook(&onMessage, &onReject)
	onMessage("a", "b")
	onReject("peer", ErrRevoked)
	if !called || len(r.Messages()) != 0 {
		t.Fatalf("a set OnMessage was replaced: called %v, recorded %q", called, r.Messages())
	}
	if rej := r.Rejections(); len(rej) != 1 || rej[0] != ErrRevoked {
		t.Fatalf("rejections %v", rej)
	}
}
