package chat

import (
	"context"
	"crypto/tls"
	"io"
	"sync"
	"testing"
)

// Resumed against full handshakes, in one run, same identities (ECDSA P-256
// certificates, X25519) and the same fake inventory checker on both sides:
//
//	go test -run '^$' -bench 'HandshakeFull|HandshakeResumed' -count 5 ./chat/ | benchstat -
//
// Each resumed handshake also receives the next ticket, as a real client
// would.

func BenchmarkHandshakeFull(b *testing.B) {
	w := newWorld(b)
	addr, _, _ := startServer(b, w.serverConfig())
	cfg := w.clientConfig()
	for b.Loop() {
		c, err := Dial(context.Background(), addr, cfg)
		if err != nil {
			b.Fatal(err)
		}
		c.sess.NetConn().Close()
	}
	reportRate(b, "handshakes/s")
}

func BenchmarkHandshakeResumed(b *testing.B) {
	w := newWorld(b)
	addr, _, _ := startServer(b, w.serverConfig())
	cfg := w.clientConfig()
	cfg.Tickets = &MemoryTicketCache{}
	c, err := Dial(context.Background(), addr, cfg)
	if err != nil {
		b.Fatal(err)
	}
	c.sess.NetConn().Close()
	for b.Loop() {
		c, err := Dial(context.Background(), addr, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if !c.Resumed() {
			b.Fatal("handshake did not resume")
		}
		c.sess.NetConn().Close()
	}
	reportRate(b, "handshakes/s")
}

// BenchmarkTLS13Resumption is the reference point: crypto/tls 1.3 with the
// same certificates, X25519 only, full versus PSK-DHE resumed handshakes
// (which, like ours, keep a fresh X25519 exchange for forward secrecy).
func BenchmarkTLS13Resumption(b *testing.B) {
	w := newWorld(b)
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: trustOf(w.CA).Roots, Certificates: []tls.Certificate{tlsCert(w.ServerChain, w.ServerKey)},
		CurvePreferences: []tls.CurveID{tls.X25519}}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
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
				// Writing after the handshake flushes the session ticket.
				if conn.(*tls.Conn).Handshake() == nil {
					_, _ = conn.Write([]byte{1})
				}
				_, _ = io.Copy(io.Discard, conn)
			})
		}
	})
	for _, resume := range []bool{false, true} {
		name := map[bool]string{false: "full", true: "resumed"}[resume]
		b.Run(name, func(b *testing.B) {
			ccfg := tlsClientConfig(w)
			if resume {
				ccfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			}
			one := make([]byte, 1)
			dial := func() bool {
				c, err := tls.Dial("tcp", ln.Addr().String(), ccfg)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				if _, err := io.ReadFull(c, one); err != nil { // also reads the ticket
					b.Fatal(err)
				}
				return c.ConnectionState().DidResume
			}
			dial()
			for b.Loop() {
				if dial() != resume {
					b.Fatalf("DidResume != %v", resume)
				}
			}
			reportRate(b, "handshakes/s")
		})
	}
}
