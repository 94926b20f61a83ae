package chat

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Benchmarks compare SecureChat with crypto/tls 1.3 (mutual auth, ECDSA
// P-256 certificates, X25519 only, no resumption) on loopback, in one run:
//
//	go test -run '^$' -bench . -count 5 ./chat/ | benchstat -
//
// Both protocols do the same work per message: the client writes it and
// waits for a short acknowledgement from the server.

func BenchmarkHandshake(b *testing.B) {
	w := newWorld(b)
	b.Run("securechat", func(b *testing.B) {
		addr, _, _ := startServer(b, w.serverConfig())
		cfg := w.clientConfig()
		b.ResetTimer()
		for b.Loop() {
			c, err := Dial(context.Background(), addr, cfg)
			if err != nil {
				b.Fatal(err)
			}
			c.sess.NetConn().Close()
		}
		reportRate(b, "handshakes/s")
	})
	b.Run("tls13", func(b *testing.B) {
		addr := startTLSServer(b, w, 0)
		cfg := tlsClientConfig(w)
		b.ResetTimer()
		for b.Loop() {
			c, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
		reportRate(b, "handshakes/s")
	})
}

func BenchmarkMessage(b *testing.B) {
	w := newWorld(b)
	for _, size := range []int{1 << 10, 64 << 10} {
		text := strings.Repeat("a", size)
		// securechat: binary record bodies (the default); +json: the JSON
		// records of the seed protocol (base64 ciphertext).
		for _, body := range []string{"", "+json"} {
			b.Run(fmt.Sprintf("securechat%s/%dKiB", body, size>>10), func(b *testing.B) {
				benchSecureChatMessages(b, w, text, body == "+json")
			})
		}
		b.Run(fmt.Sprintf("tls13/%dKiB", size>>10), func(b *testing.B) {
			addr := startTLSServer(b, w, size)
			c, err := tls.Dial("tcp", addr, tlsClientConfig(w))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			msg, ack := []byte(text), make([]byte, 8)
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, ack); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, "msgs/s")
		})
	}
}

// benchSecureChatMessages sends text and waits for its ack, over one
// session; the server takes each text without copying it (OnMessageBytes).
func benchSecureChatMessages(b *testing.B, w *world, text string, jsonRecords bool) {
	size := len(text)
	scfg := w.serverConfig()
	scfg.OnMessageBytes = func(string, []byte) {}
	addr, _, _ := startServer(b, scfg)
	ccfg := w.clientConfig()
	ccfg.JSONRecords = jsonRecords
	c, err := Dial(context.Background(), addr, ccfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.SetBytes(int64(size))
	for b.Loop() {
		if err := c.Send(context.Background(), text); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "msgs/s")
}

func reportRate(b *testing.B, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

func tlsCert(chain []*x509.Certificate, key any) tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{chain[0].Raw}, PrivateKey: key, Leaf: chain[0]}
}

// tlsServerConfig is TLS 1.3 requiring and verifying a client certificate,
// X25519, no tickets.
func tlsServerConfig(w *world) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: trustOf(w.CA).Roots, Certificates: []tls.Certificate{tlsCert(w.ServerChain, w.ServerKey)},
		CurvePreferences: []tls.CurveID{tls.X25519}, SessionTicketsDisabled: true}
}

func tlsClientConfig(w *world) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: trustOf(w.CA).Roots, ServerName: "localhost",
		Certificates: []tls.Certificate{tlsCert(w.ClientChain, w.ClientKey)}, CurvePreferences: []tls.CurveID{tls.X25519}}
}

// startTLSServer runs a TLS 1.3 server that requires and verifies a client
// certificate; with msgSize > 0 it reads messages of that size and answers
// each with an 8-byte ack.
func startTLSServer(b *testing.B, w *world, msgSize int) string {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tlsServerConfig(w))
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				if err := conn.(*tls.Conn).Handshake(); err != nil || msgSize == 0 {
					io.Copy(io.Discard, conn)
					return
				}
				buf, ack := make([]byte, msgSize), make([]byte, 8)
				for {
					if _, err := io.ReadFull(conn, buf); err != nil {
						return
					}
					if _, err := conn.Write(ack); err != nil {
						return
					}
				}
			})
		}
	})
	return ln.Addr().String()
}

// BenchmarkIdleSessionMemory opens SCCA_BENCH_SESSIONS (e.g. 10000)
// authenticated sessions from a child process and reports the server's
// heap+stack growth per idle session. Opt-in: it is slow.
func BenchmarkIdleSessionMemory(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("SCCA_BENCH_SESSIONS"))
	if n == 0 {
		b.Skip("set SCCA_BENCH_SESSIONS=10000 to run")
	}
	for b.Loop() {
		w := newWorld(b)
		scfg := w.serverConfig()
		scfg.MaxConns = n + 10
		scfg.HandshakeTimeout = time.Minute
		before := liveBytes()
		addr, _, _ := startServer(b, scfg)
		dir := b.TempDir()
		writePEMs(b, dir, w)
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldSessions$", "-test.v")
		cmd.Env = append(os.Environ(), "SCCA_HOLD_ADDR="+addr, "SCCA_HOLD_N="+strconv.Itoa(n), "SCCA_HOLD_DIR="+dir)
		stdin, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() && sc.Text() != "ready" {
		}
		after := liveBytes()
		b.ReportMetric(float64(after-before)/float64(n), "B/session")
		stdin.Close()
		go io.Copy(io.Discard, out)
		cmd.Wait()
	}
}

func liveBytes() int64 {
	var m runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}
