package chat

import (
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"
)

// TestGracefulShutdown: a message being processed when Shutdown starts is
// finished and acknowledged; an idle session is told close; Serve returns
// ErrServerClosed; goleak (TestMain) checks no goroutine is left.
func TestGracefulShutdown(t *testing.T) {
	w := newWorld(t)
	entered, release := make(chan struct{}), make(chan struct{})
	cfg := w.serverConfig()
	cfg.OnMessage = func(from, text string) {
		if text == "slow" {
			close(entered)
			<-release
		}
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ctx := context.Background()
	busy, err := Dial(ctx, ln.Addr().String(), w.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	idle, err := Dial(ctx, ln.Addr().String(), w.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	sent := make(chan error, 1)
	go func() { sent <- busy.Send(ctx, "slow") }()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	// Once Shutdown has begun, it must wait for the message in flight.
	for !srv.ch.Closing() {
		runtime.Gosched()
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a message was in flight", err)
	default:
	}
	close(release)
	if err := <-sent; err != nil {
		t.Fatalf("in-flight message: %v, want delivered", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if err := idle.Send(ctx, "late"); !errors.Is(err, ErrClosed) {
		t.Fatalf("idle session after shutdown: %v, want ErrClosed", err)
	}
	if _, err := Dial(ctx, ln.Addr().String(), w.clientConfig()); err == nil {
		t.Fatal("dial after shutdown succeeded")
	}
}

func TestShutdownDeadlineForcesClose(t *testing.T) {
	w := newWorld(t)
	block, entered := make(chan struct{}), make(chan struct{}, 1)
	cfg := w.serverConfig()
	cfg.OnMessage = func(string, string) { entered <- struct{}{}; <-block }
	srv, _ := NewServer(cfg)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	c, err := Dial(context.Background(), ln.Addr().String(), w.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sent := make(chan error, 1)
	go func() { sent <- c.Send(context.Background(), "stuck") }()
	<-entered // the session is busy in OnMessage: Shutdown must wait for it
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// Shutdown closes the connection only once its deadline passed; the
	// client's Send then fails, and only then is the handler let go (so
	// Shutdown can return at all).
	go func() { <-sent; block <- struct{}{} }()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want deadline exceeded", err)
	}
}
