package testdb

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/securechat/scca/internal/testnet"
)

// echoServer answers every line with itself.
func echoServer(t *testing.T) string {
	return testnet.Serve(t, func(c net.Conn) { defer c.Close(); _, _ = io.Copy(c, c) })
}

// roundTrip sends a line and reads the answer within d: a hang detector
// where an answer is due, the proof of silence where none is.
func roundTrip(c net.Conn, line string, d time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	return got, err
}

func TestProxyCutRestoreSwallow(t *testing.T) {
	const answered, silence = 10 * time.Second, 300 * time.Millisecond
	p := NewProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := roundTrip(c, "one", answered); err != nil || got != "one\n" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}
	addr := p.Addr()
	p.Cut()
	if _, err := roundTrip(c, "two", answered); err == nil {
		t.Fatal("an open connection survived Cut")
	}
	if c2, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c2.Close()
		t.Fatal("a new connection was accepted after Cut")
	}
	p.Restore()
	if p.Addr() != addr {
		t.Fatalf("Restore listens on %s, want the same port %s", p.Addr(), addr)
	}
	c3, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if got, err := roundTrip(c3, "three", answered); err != nil || got != "three\n" {
		t.Fatalf("after Restore: %q, %v", got, err)
	}
	p.Swallow()
	if _, err := roundTrip(c3, "four", silence); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("open connection after Swallow: %v, want no answer (a timeout)", err)
	}
	c4, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("a black hole still accepts: %v", err)
	}
	defer c4.Close()
	if _, err := roundTrip(c4, "five", silence); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("new connection after Swallow: %v, want no answer (a timeout)", err)
	}
}

func TestVia(t *testing.T) {
	rewrite, up := Via(t, "postgres://postgres@127.0.0.1:5432/scca_x?sslmode=disable")
	if up != "127.0.0.1:5432" || rewrite("127.0.0.1:1") != "postgres://postgres@127.0.0.1:1/scca_x?sslmode=disable" {
		t.Fatalf("postgres: %s, %s", up, rewrite("127.0.0.1:1"))
	}
	rewrite, up = Via(t, "root@tcp(127.0.0.1:3306)/scca_x")
	if got := rewrite("127.0.0.1:1"); up != "127.0.0.1:3306" || got != "root@tcp(127.0.0.1:1)/scca_x" {
		t.Fatalf("mysql: %s, %s", up, got)
	}
}
