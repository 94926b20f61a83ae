package chat

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/securechat/scca/internal/waitfor"
	"github.com/securechat/scca/revocation"
)

// hungChecker models an inventory that stops answering: Check returns only
// when its context ends.
type hungChecker struct{}

func (hungChecker) Check(ctx context.Context, _ *x509.Certificate) error {
	<-ctx.Done()
	return ctx.Err()
}

// downChecker models an inventory that answers with an error.
type downChecker struct{}

func (downChecker) Check(context.Context, *x509.Certificate) error {
	return revocation.ErrUnavailable
}

// TestHandshakeStatusCheckBounded: when the inventory hangs or is down, the
// handshake is answered store_unavailable (§8.1) within StatusCheckTimeout,
// not after the whole handshake deadline, and not as certificate_rejected.
// It runs on the fake clock of a synctest bubble, so the bound is checked
// exactly, whatever the load of the machine.
func TestHandshakeStatusCheckBounded(t *testing.T) {
	const bound = 100 * time.Millisecond
	for _, tc := range []struct {
		name    string
		checker PeerChecker
		took    time.Duration // on the fake clock
	}{{"hung", hungChecker{}, bound}, {"down", downChecker{}, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newWorld(t)
				cfg := w.serverConfig()
				cfg.Checker = tc.checker
				cfg.HandshakeTimeout = time.Minute // the bound must come from StatusCheckTimeout
				cfg.StatusCheckTimeout = bound
				ln, _, _ := servePipes(t, cfg)
				start := time.Now()
				_, err := Client(ln.Dial(t), w.clientConfig())
				var re *RemoteError
				if !errors.As(err, &re) || re.Code != CodeStoreUnavailable {
					t.Fatalf("Client: %v, want %s", err, CodeStoreUnavailable)
				}
				if took := time.Since(start); took != tc.took {
					t.Fatalf("answered after %v, want %v", took, tc.took)
				}
			})
		})
	}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestClientResetIsNotInternalError: a client that resets its connection
// (SO_LINGER 0) is logged as gone, not as an internal_error of the server.
func TestClientResetIsNotInternalError(t *testing.T) {
	w := newWorld(t)
	var logs syncBuffer
	cfg := w.serverConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := Client(raw, w.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(context.Background(), "hi"); err != nil {
		t.Fatal(err)
	}
	raw.(*net.TCPConn).SetLinger(0)
	raw.Close()
	// Until the server logged how the session ended, either way.
	waitfor.Condition(t, "the server to log the session's end", waitfor.HangBound, func() bool {
		out := logs.String()
		return strings.Contains(out, "reset the connection") || strings.Contains(out, "session ended")
	})
	if out := logs.String(); strings.Contains(out, CodeInternal) || !strings.Contains(out, "reset the connection") {
		t.Errorf("server log after a client reset:\n%s", out)
	}
}
