package testchat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/internal/testpki"
	"github.com/securechat/scca/internal/waitfor"
)

// Received collects what a server's OnMessage and OnReject saw.
type Received struct {
	mu   sync.Mutex
	msgs []string
	rejs []error
}

// OnMessage records "from: text".
func (r *Received) OnMessage(from, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, from+": "+text)
}

// OnReject records err.
func (r *Received) OnReject(_ string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejs = append(r.rejs, err)
}

// Hook points the unset hooks *onMessage and *onReject at r.
func (r *Received) Hook(onMessage *func(from, text string), onReject *func(cn string, err error)) {
	if *onMessage == nil {
		*onMessage = r.OnMessage
	}
	if *onReject == nil {
		*onReject = r.OnReject
	}
}

// Messages is a copy of the messages seen, oldest first.
func (r *Received) Messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// Rejections is a copy of the rejections seen, oldest first.
func (r *Received) Rejections() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.rejs...)
}

// Server is what Serve runs.
type Server interface {
	Serve(ln net.Listener) error
	Shutdown(ctx context.Context) error
}

// Serve runs srv.Serve(ln) until the end of tb, then shuts srv down and
// checks Serve returned closed (the package's ErrServerClosed).
func Serve(tb testing.TB, srv Server, ln net.Listener, closed error) {
	tb.Helper()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitfor.HangBound)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, closed) {
			tb.Errorf("serve returned %v, want %v", err, closed)
		}
	})
}

// AlsoWebSocket runs start, which starts a server until the end of tb and
// returns its TCP address, the server and what it receives, then serveWS
// on a loopback listener of its own, and returns those with the ws:// URL
// after the address. At the end of tb, once the server has shut down,
// serveWS must return closed.
func AlsoWebSocket[S any](tb testing.TB, closed error, start func() (string, S, *Received),
	serveWS func(S, net.Listener) error) (addr, url string, srv S, rec *Received) {
	tb.Helper()
	done := make(chan error, 1)
	// Registered before start runs, so it runs after the server's Shutdown.
	tb.Cleanup(func() {
		select {
		case err := <-done:
			if !errors.Is(err, closed) {
				tb.Errorf("ServeWebSocket returned %v, want %v", err, closed)
			}
		case <-time.After(waitfor.HangBound):
			tb.Error("ServeWebSocket did not return after Shutdown")
		}
	})
	addr, srv, rec = start()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { done <- serveWS(srv, ln) }()
	return addr, "ws://" + ln.Addr().String() + "/chat", srv, rec
}

// Conn is a client connection AssertDelivered sends on.
type Conn interface {
	Send(ctx context.Context, text string) error
	Close() error
}

// AssertDelivered checks a message the good client "client123" sends on
// c reaches the server whose OnMessage is rec; it closes c.
func AssertDelivered(tb testing.TB, c Conn, rec *Received) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer c.Close()
	text := fmt.Sprintf("still alive %d", testpki.NextSerial())
	if err := c.Send(ctx, text); err != nil {
		tb.Fatalf("good client: send: %v", err)
	}
	msgs := rec.Messages()
	if len(msgs) == 0 || msgs[len(msgs)-1] != "client123: "+text {
		tb.Fatalf("good client: server saw %q, want last %q", msgs, text)
	}
}

// AssertGoodClient checks dial still completes a handshake for the good
// client "client123" and that a message it sends reaches the server whose
// OnMessage is rec.
func AssertGoodClient[C Conn](tb testing.TB, dial func(context.Context) (C, error), rec *Received) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitfor.HangBound)
	defer cancel()
	c, err := dial(ctx)
	if err != nil {
		tb.Fatalf("good client: dial: %v", err)
	}
	AssertDelivered(tb, c, rec)
}
