package channel

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsPair returns the two ends of a real WebSocket as net.Conns; the
// client end is wrapped in wsConn.
func wsPair(t *testing.T) (client *wsConn, server net.Conn) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wc, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		accepted <- websocket.NetConn(context.WithoutCancel(r.Context()), wc, websocket.MessageBinary)
	}))
	t.Cleanup(hs.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	client = newWSConn(websocket.NetConn(context.Background(), wc, websocket.MessageBinary))
	server = <-accepted
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// goroutineWaitsIn reports whether some goroutine is blocked in state (as
// the runtime names it: "select", "chan send") with fn as its innermost
// frame: a condition a test can wait for instead of sleeping.
func goroutineWaitsIn(state, fn string) bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, frames, _ := strings.Cut(g, "\n")
		if strings.Contains(header, "["+state) && strings.HasPrefix(frames, "github.com/securechat/scca/chat/channel."+fn+"(") {
			return true
		}
	}
	return false
}

// whenReadWaits runs f once a wsConn Read is blocked waiting, unless done
// closes first (the Read returned without waiting).
func whenReadWaits(done <-chan struct{}, f func()) {
	for !goroutineWaitsIn("select", "(*wsConn).Read") {
		select {
		case <-done:
			return
		case <-time.After(time.Millisecond): // poll interval
		}
	}
	f()
}

// TestWSConnDeadlineKeepsConnection: an expired read deadline fails the
// Read with a timeout and leaves the WebSocket open; bytes that arrive for
// the interrupted read are returned by the next one, in order.
func TestWSConnDeadlineKeepsConnection(t *testing.T) {
	c, peer := wsPair(t)
	buf := make([]byte, 16)
	isTimeout := func(err error) bool {
		var ne net.Error
		return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
	}

	// An interrupted read: woken as Shutdown and kill do, once Read waits.
	done := make(chan struct{})
	go whenReadWaits(done, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	n, err := c.Read(buf)
	close(done)
	if !isTimeout(err) {
		t.Fatalf("read past the deadline: %d, %v; want a timeout", n, err)
	}
	// Still open both ways.
	if _, err := c.Write([]byte("close: why")); err != nil {
		t.Fatalf("write after the read deadline expired: %v", err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := io.ReadFull(peer, buf[:10]); err != nil || string(buf[:n]) != "close: why" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	// An expired deadline wins over data already there, as on TCP.
	if _, err := peer.Write([]byte("abcdef")); err != nil {
		t.Fatal(err)
	}
	// The pump (asked by the read above) holds the chunk, offering it.
	waitFor(t, func() bool { return goroutineWaitsIn("select", "(*wsConn).pump") })
	if _, err := c.Read(buf); !isTimeout(err) {
		t.Fatalf("read with the deadline still past: %v; want a timeout", err)
	}
	// Cleared: the data is all there, in order, across short reads.
	_ = c.SetDeadline(time.Time{})
	if _, err := peer.Write([]byte("ghi")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 9)
	for i := 0; i < len(got); {
		n, err := c.Read(got[i:min(i+2, len(got))])
		if err != nil {
			t.Fatalf("read after clearing the deadline: %v", err)
		}
		i += n
	}
	if string(got) != "abcdefghi" {
		t.Fatalf("read %q, want abcdefghi", got)
	}
	// A future deadline that passes while waiting.
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := c.Read(buf); !isTimeout(err) {
		t.Fatalf("read past a future deadline: %v; want a timeout", err)
	}
	// Close wakes a pending Read and the pump ends (goleak checks).
	_ = c.SetReadDeadline(time.Time{})
	done = make(chan struct{})
	go whenReadWaits(done, func() { c.Close() })
	_, err = c.Read(buf)
	close(done)
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read across Close: %v, want net.ErrClosed", err)
	}
	// The peer sees the end of the stream.
	_ = peer.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := peer.Read(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("peer after Close: %v, want EOF", err)
	}
}
