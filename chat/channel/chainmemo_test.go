package channel

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/securechat/scca/internal/testpki"
)

// TestChainMemoKeepsEachConfigsTrust: the chains remembered across
// handshakes (verifiedChains, §7.4) are per trust configuration. A server
// that does not trust the client's CA refuses it, even right after another
// server in the same process accepted the byte-identical certificate; and
// a client that trusts another CA refuses the server it just accepted under
// its own.
func TestChainMemoKeepsEachConfigsTrust(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	trusting, _, _ := startServer(t, w.serverConfig())
	other := testpki.NewCA(t, "Other Root CA")
	cfgB := w.serverConfig()
	cfgB.Roots = other.Pool()
	refusing, _, recB := startServer(t, cfgB)

	for i := range 2 { // the second round is answered from the memo
		c, err := dialConn(ctx, trusting, w.clientConfig())
		if err != nil {
			t.Fatalf("round %d: trusting server: %v", i, err)
		}
		c.Close()
		c, err = dialConn(ctx, refusing, w.clientConfig())
		var re *RemoteError
		if !errors.As(err, &re) || re.Code != CodeCertificateRejected {
			if c != nil {
				c.Close()
			}
			t.Fatalf("round %d: server trusting another CA: err = %v, want certificate_rejected", i, err)
		}
		if got := recB.Rejections(); len(got) != i+1 {
			t.Fatalf("round %d: server B recorded %d rejections, want %d", i, len(got), i+1)
		}
	}

	cc := w.clientConfig()
	cc.Roots = other.Pool()
	if c, err := dialConn(ctx, trusting, cc); !errors.Is(err, ErrPeerCertificate) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("client trusting another CA: err = %v, want ErrPeerCertificate", err)
	}
}
