package chat

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/securechat/scca/internal/waitfor"
)

// TestConnDone: Done stays open through a request refused while the
// session goes on, and closes when the session ends — by the server
// (Receive then says why) or by Close.
func TestConnDone(t *testing.T) {
	w := newWorld(t)
	addr, srv, _ := startServer(t, w.serverConfig())
	ctx := context.Background()
	dial := func() *Conn {
		c, err := Dial(ctx, addr, w.clientConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	isDone := func(c *Conn) bool {
		select {
		case <-c.Done():
			return true
		default:
			return false
		}
	}
	waitDone := func(c *Conn, what string) {
		t.Helper()
		select {
		case <-c.Done():
		case <-time.After(waitfor.HangBound):
			t.Fatalf("Done not closed after %s", what)
		}
	}

	closed := dial()
	if err := closed.Send(ctx, strings.Repeat("x", closed.sess.MaxPlaintext()+1)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("oversized Send: %v, want ErrMessageTooLarge", err)
	}
	if isDone(closed) {
		t.Fatal("Done closed by a refused request")
	}
	if err := closed.Send(ctx, "still here"); err != nil {
		t.Fatalf("Send after a refused request: %v", err)
	}
	closed.Close()
	waitDone(closed, "Close")

	ended := dial()
	if isDone(ended) {
		t.Fatal("Done closed on a new session")
	}
	// Receive, as a client's receiver would, sees the server's end too.
	received := make(chan error, 1)
	go func() { _, err := ended.Receive(ctx); received <- err }()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	waitDone(ended, "the server's shutdown")
	if err := <-received; !errors.Is(err, ErrClosed) {
		t.Errorf("Receive after the server's shutdown: %v, want ErrClosed", err)
	}
}
