package testnet

import (
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

func TestDialAcceptClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := Listen()
		got := make(chan []byte, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(c)
			got <- b
		}()
		c := ln.Dial(t)
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if b := <-got; string(b) != "hello" {
			t.Fatalf("server read %q", b)
		}
		// A deadline on a pipe runs on the bubble's clock.
		silent := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			silent <- c
		}()
		c2 := ln.Dial(t)
		defer (<-silent).Close()
		start := time.Now()
		_ = c2.SetReadDeadline(start.Add(time.Hour))
		var ne net.Error
		if _, err := c2.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("read: %v, want a timeout", err)
		}
		if d := time.Since(start); d != time.Hour {
			t.Fatalf("deadline hit after %v, want 1h of fake time", d)
		}
		ln.Close()
		if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v", err)
		}
		if ln.Addr().String() != "pipe" {
			t.Fatalf("Addr = %v", ln.Addr())
		}
	})
}

func TestLoopback(t *testing.T) {
	ln := Loopback(t)
	if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() || a.Port == 0 {
		t.Fatalf("Addr = %v, want a loopback TCP port", ln.Addr())
	}
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("x"))
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if b, err := io.ReadAll(c); err != nil || string(b) != "x" {
		t.Fatalf("read %q, %v", b, err)
	}
}

func TestServe(t *testing.T) {
	addr := Serve(t, func(c net.Conn) { defer c.Close(); _, _ = c.Write([]byte("hi")) })
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(b) != "hi" {
			t.Fatalf("read %q, %v", b, err)
		}
	}
}
