package main

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/securechat/scca/internal/waitfor"
)

// syncBuffer is a bytes.Buffer safe for one writer and one poller.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// waitFor polls cond until it holds (30 s at most, a hang detector).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.Condition(t, what, waitfor.HangBound, cond)
}

// TestServeReloadsOnSIGHUP runs `scca serve --api-listen` in process, sends
// this process SIGHUP (which serve catches from before its ports open), and
// checks that it reloads and keeps serving, then stops on SIGINT.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	var out, errOut syncBuffer
	if code := run([]string{"--certs-dir", dir, "init"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("init: %s", errOut.String())
	}
	port, api := freePort(t), freePort(t)
	done := make(chan int)
	go func() {
		done <- run([]string{"--certs-dir", dir, "serve", "--listen", "127.0.0.1:" + port, "--api-listen", "127.0.0.1:" + api},
			strings.NewReader(""), &out, &errOut)
	}()
	waitFor(t, "the API port", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+api)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload", func() bool { return strings.Contains(errOut.String(), "reloaded certificates") })
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop on SIGINT")
	}
}
