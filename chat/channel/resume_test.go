package channel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/securechat/scca/internal/testchat"
	"github.com/securechat/scca/internal/testpki"
)

// Tests for session resumption (docs/PROTOCOL.md §13). End-to-end tests
// check what a user sees (Resumed, messages, refusals); the direct tests
// below them check why the server declined a ticket.

func dialT(t *testing.T, addr string, cfg ClientConfig) *testConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialConn(ctx, addr, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// fullThenTicket runs a full handshake with a fresh cache and returns the
// cache holding the ticket the server sent.
func fullThenTicket(t *testing.T, addr string, cfg ClientConfig) *MemoryTicketCache {
	t.Helper()
	cache := &MemoryTicketCache{}
	cfg.Tickets = cache
	c := dialT(t, addr, cfg)
	if c.Resumed() {
		t.Fatal("first handshake resumed without a ticket")
	}
	if cache.Get(cfg.ServerName) == nil {
		t.Fatal("no ticket after a full handshake")
	}
	c.Close()
	return cache
}

func TestResumeSucceedsAndMessagesFlow(t *testing.T) {
	w := newWorld(t)
	addr, _, rec := startServer(t, w.serverConfig())
	cfg := w.clientConfig()
	cache := fullThenTicket(t, addr, cfg)
	cfg.Tickets = cache
	calls := w.Inv.Calls()
	for i, text := range []string{"resumed once", "resumed twice"} {
		c := dialT(t, addr, cfg)
		if !c.Resumed() {
			t.Fatalf("handshake %d did not resume", i+2)
		}
		if c.PeerCN() != "localhost" {
			t.Fatalf("PeerCN %q", c.PeerCN())
		}
		if err := c.Send(context.Background(), text); err != nil {
			t.Fatal(err)
		}
		if msgs := rec.Messages(); msgs[len(msgs)-1] != "client123: "+text {
			t.Fatalf("server saw %q", msgs)
		}
		if cache.Get(cfg.ServerName) == nil {
			t.Fatal("resumed handshake brought no new ticket")
		}
	}
	// Revocation is re-checked on every resumption (§13.4).
	if got := w.Inv.Calls() - calls; got != 2 {
		t.Fatalf("server checked the client certificate %d times in 2 resumptions, want 2", got)
	}
}

func TestResumeTicketSecondUseRefused(t *testing.T) {
	w := newWorld(t)
	addr, _, _ := startServer(t, w.serverConfig())
	cfg := w.clientConfig()
	cache := fullThenTicket(t, addr, cfg)
	stolen := *cache.Get(cfg.ServerName)
	cfg.Tickets = cache
	if c := dialT(t, addr, cfg); !c.Resumed() {
		t.Fatal("first use did not resume")
	}
	cache.Put(cfg.ServerName, &stolen) // the client is made to offer it again
	c := dialT(t, addr, cfg)
	if c.Resumed() {
		t.Fatal("a ticket resumed twice")
	}
	if err := c.Send(context.Background(), "after fallback"); err != nil {
		t.Fatalf("full handshake after the refused ticket: %v", err)
	}
}

func TestResumeTicketOfAnotherClientRefused(t *testing.T) {
	w := newWorld(t)
	addr, _, rec := startServer(t, w.serverConfig())
	victim := fullThenTicket(t, addr, w.clientConfig()).Get("localhost")

	// Mallory has the victim's ticket and certificate (both public on the
	// wire or guessable) but neither the resumption secret nor the key.
	malloryKey := testpki.NewKey(t)
	secret := make([]byte, BinderLen)
	rand.Read(secret)
	cfg := w.clientConfig()
	cfg.Key = malloryKey
	cfg.Tickets = &MemoryTicketCache{}
	forged := *victim
	forged.Secret = secret
	cfg.Tickets.Put("localhost", &forged)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialConn(ctx, addr, cfg)
	if err == nil {
		c.Close()
		t.Fatal("stolen ticket gave a session")
	}
	if !errors.Is(err, ErrRejectedByServer) {
		t.Fatalf("stolen ticket: %v, want a rejection", err)
	}
	// Mallory with her own certificate: the ticket is not hers, so the
	// server runs a full handshake and attributes messages to her.
	mChain, mKey := w.CA.Issue(t, "mallory", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth})
	w.Inv.Add(mChain[0])
	cfg = w.clientConfig()
	cfg.Chain, cfg.Key, cfg.ClientID = mChain, mKey, ""
	cfg.Tickets = &MemoryTicketCache{}
	forged.ClientCert = mChain[0].Raw
	cfg.Tickets.Put("localhost", &forged)
	mc := dialT(t, addr, cfg)
	if mc.Resumed() {
		t.Fatal("another client resumed the victim's session")
	}
	if err := mc.Send(context.Background(), "hi"); err != nil {
		t.Fatal(err)
	}
	if msgs := rec.Messages(); msgs[len(msgs)-1] != "mallory: hi" {
		t.Fatalf("attribution: %q", msgs)
	}
}

// TestResumeAfterRevocationRefused: a ticket does not outlive a
// revocation; the server re-checks the client's certificate and the client
// the server's (§13.4).
func TestResumeAfterRevocationRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		revoke func(*world)
		ok     func(error) bool // the dial error is the refusal wanted
		want   string
	}{
		{"client revoked", func(w *world) { w.Inv.Revoke(w.ClientChain[0]) }, func(err error) bool {
			var re *RemoteError
			return errors.As(err, &re) && re.Code == CodeCertificateRejected
		}, "certificate_rejected"},
		{"server revoked", func(w *world) { w.ClientInv.Revoke(w.ServerChain[0]) }, func(err error) bool {
			return errors.Is(err, ErrPeerCertificate)
		}, "ErrPeerCertificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			addr, _, _ := startServer(t, w.serverConfig())
			cfg := w.clientConfig()
			cfg.Tickets = fullThenTicket(t, addr, cfg)
			tc.revoke(w)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := dialConn(ctx, addr, cfg)
			if err == nil {
				c.Close()
			}
			if !tc.ok(err) {
				t.Fatalf("%s: resuming gave %v, want %s", tc.name, err, tc.want)
			}
		})
	}
}

func TestResumeTamperedTicketFallsBack(t *testing.T) {
	w := newWorld(t)
	addr, _, _ := startServer(t, w.serverConfig())
	cfg := w.clientConfig()
	for _, pos := range []int{0, ticketKeyID, ticketKeyID + ticketNonceLen, ticketLen - 1} {
		cache := fullThenTicket(t, addr, cfg)
		tk := cache.Get("localhost")
		tk.Ticket = bytes.Clone(tk.Ticket)
		tk.Ticket[pos] ^= 1
		cfg.Tickets = cache
		if c := dialT(t, addr, cfg); c.Resumed() {
			t.Fatalf("ticket with byte %d flipped resumed", pos)
		}
		cfg.Tickets = nil
	}
}

func TestResumeDisabledServerSendsNoTicket(t *testing.T) {
	w := newWorld(t)
	scfg := w.serverConfig()
	scfg.Tickets.Disabled = true
	addr, _, _ := startServer(t, scfg)
	cfg := w.clientConfig()
	cache := &MemoryTicketCache{}
	cfg.Tickets = cache
	dialT(t, addr, cfg)
	if cache.Get("localhost") != nil {
		t.Fatal("server with tickets disabled issued one")
	}
}

func TestResumeTicketBoundToClientCertificate(t *testing.T) {
	w := newWorld(t)
	addr, _, _ := startServer(t, w.serverConfig())
	cache := fullThenTicket(t, addr, w.clientConfig())
	chain, key := w.CA.Issue(t, "client123", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth})
	w.Inv.Add(chain[0])
	cfg := w.clientConfig()
	cfg.Chain, cfg.Key, cfg.Tickets = chain, key, cache
	if c := dialT(t, addr, cfg); c.Resumed() {
		t.Fatal("a ticket of one certificate resumed with another")
	}
}

func TestResumeForwardSecrecyFreshKeys(t *testing.T) {
	w := newWorld(t)
	addr, _, _ := startServer(t, w.serverConfig())
	cfg := w.clientConfig()
	cfg.Tickets = fullThenTicket(t, addr, cfg)
	seen := map[string]bool{}
	var secrets [][]byte
	for range 3 {
		secrets = append(secrets, cfg.Tickets.Get("localhost").Secret)
		c := dialT(t, addr, cfg)
		if !c.Resumed() {
			t.Fatal("did not resume")
		}
		for _, k := range [][]byte{c.sess.out.keys.Key, c.sess.in.keys.Key} {
			if seen[string(k)] {
				t.Fatal("two resumed sessions share a traffic key")
			}
			seen[string(k)] = true
		}
		// The traffic keys depend on the fresh X25519 exchange: the
		// resumption secret alone does not give them.
		hsNoDH := ResumedHandshakeSecret(secrets[len(secrets)-1], make([]byte, 32))
		if bytes.Equal(NewTrafficKeys(SuiteAES256GCM, ExpandLabel(hsNoDH, "c ap traffic", c.sess.out.keys.Secret, 32)).Key, c.sess.out.keys.Key) {
			t.Fatal("traffic key derivable without the ephemeral exchange")
		}
	}
	if bytes.Equal(secrets[0], secrets[1]) || bytes.Equal(secrets[1], secrets[2]) {
		t.Fatal("resumption secrets repeat along a ticket family")
	}
}

// --- direct checks of the server's decisions ---

// captureConn records what a handshake writes; it is never read.
type captureConn struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *captureConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// helloFrame is the client_hello frame cfg would send (taking a ticket
// from cfg.Tickets like a real handshake).
func helloFrame(t *testing.T, cfg ClientConfig) []byte {
	t.Helper()
	id, err := cfg.identity()
	if err != nil {
		t.Fatal(err)
	}
	cc := &captureConn{}
	h := &clientHandshake{cfg: &cfg, id: id, conn: cc, th: NewTranscript()}
	if err := h.sendClientHello(); err != nil {
		t.Fatal(err)
	}
	return cc.buf.Bytes()
}

// serverResume feeds a client_hello frame to a server handshake and
// returns resume's verdict.
func serverResume(t *testing.T, srv *Server, frame []byte) error {
	t.Helper()
	h := &serverHandshake{srv: srv, th: NewTranscript(), br: bufio.NewReader(bytes.NewReader(frame))}
	if err := h.readClientHello(); err != nil {
		t.Fatalf("client_hello: %v", err)
	}
	return h.resume(context.Background())
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// resumeWorld is a world with a long-lived client certificate, a server on
// a settable clock, and a ticket from one full handshake.
type resumeWorld struct {
	*world
	clk   *clock
	srv   *Server
	addr  string
	cache *MemoryTicketCache
	cfg   ClientConfig
}

func newResumeWorld(t *testing.T, tc TicketConfig) *resumeWorld {
	w := newWorld(t)
	w.ClientChain, w.ClientKey = w.CA.Issue(t, "client123", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth,
		NotAfter: time.Now().Add(20 * time.Hour)})
	w.Inv.Add(w.ClientChain[0])
	rw := &resumeWorld{world: w, clk: &clock{t: time.Now()}}
	scfg := w.serverConfig()
	scfg.Now, scfg.Tickets = rw.clk.now, tc
	scfg.TimestampWindow = 24 * time.Hour // the client's clock stays put
	rw.addr, rw.srv, _ = startServer(t, scfg)
	rw.cfg = w.clientConfig()
	rw.cfg.TimestampWindow = 24 * time.Hour
	rw.cache = fullThenTicket(t, rw.addr, rw.cfg)
	rw.cfg.Tickets = rw.cache
	return rw
}

// hello takes the cached ticket into a client_hello frame, keeping a copy
// of the ticket in the cache.
func (rw *resumeWorld) hello(t *testing.T) []byte {
	tk := rw.cache.Get("localhost")
	f := helloFrame(t, rw.cfg)
	rw.cache.Put("localhost", tk)
	return f
}

func TestResumeServerDecisions(t *testing.T) {
	t.Run("good ticket accepted once", func(t *testing.T) {
		rw := newResumeWorld(t, TicketConfig{})
		if err := serverResume(t, rw.srv, rw.hello(t)); err != nil {
			t.Fatalf("first use: %v", err)
		}
		if err := serverResume(t, rw.srv, rw.hello(t)); !errors.Is(err, errTicketUsed) {
			t.Fatalf("second use: %v, want errTicketUsed", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		rw := newResumeWorld(t, TicketConfig{Lifetime: 10 * time.Minute})
		rw.clk.add(10*time.Minute + time.Second)
		if err := serverResume(t, rw.srv, rw.hello(t)); !errors.Is(err, errTicketExpired) {
			t.Fatalf("expired ticket: %v, want errTicketExpired", err)
		}
		// And end to end: the client's own clock still thinks it is fresh.
		if c := dialT(t, rw.addr, rw.cfg); c.Resumed() {
			t.Fatal("expired ticket resumed")
		}
	})
	t.Run("previous key accepted, rotated-out key refused", func(t *testing.T) {
		rw := newResumeWorld(t, TicketConfig{Lifetime: time.Hour, Rotation: time.Hour})
		rw.clk.add(50 * time.Minute)
		rw.cache = fullThenTicket(t, rw.addr, rw.cfg) // issued at +50 min, expires +1h50
		rw.cfg.Tickets = rw.cache
		rw.clk.add(20 * time.Minute) // +1h10: the key is now the previous one
		frame := rw.hello(t)
		if err := serverResume(t, rw.srv, rw.hello(t)); err != nil {
			t.Fatalf("ticket under the previous key: %v", err)
		}
		if rw.srv.tickets.previous == nil {
			t.Fatal("no rotation happened")
		}
		rw.srv.tickets.mu.Lock()
		_ = rw.srv.tickets.rotateLocked(rw.clk.now(), true) // previous key dropped
		rw.srv.tickets.mu.Unlock()
		if err := serverResume(t, rw.srv, frame); !errors.Is(err, errTicketKey) {
			t.Fatalf("ticket under a rotated-out key: %v, want errTicketKey", err)
		}
	})
	t.Run("wrong binder", func(t *testing.T) {
		rw := newResumeWorld(t, TicketConfig{})
		tk := rw.cache.Get("localhost")
		tk.Secret = bytes.Repeat([]byte{7}, BinderLen)
		if err := serverResume(t, rw.srv, rw.hello(t)); !errors.Is(err, errBinder) {
			t.Fatalf("wrong secret: %v, want errBinder", err)
		}
	})
	t.Run("failed binder does not burn the ticket", func(t *testing.T) {
		rw := newResumeWorld(t, TicketConfig{})
		good := *rw.cache.Get("localhost")
		bad := good
		bad.Secret = bytes.Repeat([]byte{7}, BinderLen)
		rw.cache.Put("localhost", &bad)
		if err := serverResume(t, rw.srv, rw.hello(t)); !errors.Is(err, errBinder) {
			t.Fatalf("wrong secret: %v", err)
		}
		rw.cache.Put("localhost", &good)
		if err := serverResume(t, rw.srv, rw.hello(t)); err != nil {
			t.Fatalf("owner after a forged attempt: %v", err)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		rw := newResumeWorld(t, TicketConfig{})
		tk := rw.cache.Get("localhost")
		orig := bytes.Clone(tk.Ticket)
		for pos, want := range map[int]error{0: errTicketKey, ticketKeyID: errTicketAuth, ticketLen - 1: errTicketAuth} {
			tk.Ticket = bytes.Clone(orig)
			tk.Ticket[pos] ^= 0x80
			if err := serverResume(t, rw.srv, rw.hello(t)); !errors.Is(err, want) {
				t.Fatalf("byte %d flipped: %v, want %v", pos, err, want)
			}
		}
		tk.Ticket = orig[:len(orig)-1]
		if err := serverResume(t, rw.srv, rw.hello(t)); !errors.Is(err, errTicketMalformed) {
			t.Fatalf("short ticket: %v", err)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		rw := newResumeWorld(t, TicketConfig{})
		rw.Inv.Revoke(rw.ClientChain[0])
		if err := serverResume(t, rw.srv, rw.hello(t)); !errors.Is(err, ErrPeerCertificate) || !errors.Is(err, testchat.ErrRevoked) {
			t.Fatalf("revoked: %v, want ErrPeerCertificate wrapping testchat.ErrRevoked", err)
		}
	})
	t.Run("used set full", func(t *testing.T) {
		rw := newResumeWorld(t, TicketConfig{MaxUsed: 1})
		second := fullThenTicket(t, rw.addr, rw.cfg).Get("localhost")
		if err := serverResume(t, rw.srv, rw.hello(t)); err != nil {
			t.Fatal(err)
		}
		rw.cache.Put("localhost", second)
		if err := serverResume(t, rw.srv, rw.hello(t)); !errors.Is(err, errTicketsFull) {
			t.Fatalf("full set: %v, want errTicketsFull", err)
		}
		rw.clk.add(2 * time.Hour) // every used id expired: swept
		rw.cache = fullThenTicket(t, rw.addr, rw.cfg)
		rw.cfg.Tickets = rw.cache
		if err := serverResume(t, rw.srv, rw.hello(t)); err != nil {
			t.Fatalf("after expiry sweep: %v", err)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		rw := newResumeWorld(t, TicketConfig{})
		rw.srv.tickets = nil
		if err := serverResume(t, rw.srv, rw.hello(t)); !errors.Is(err, errTicketsOff) {
			t.Fatalf("disabled: %v", err)
		}
	})
}

func TestTruncatedHello(t *testing.T) {
	rs := bytes.Repeat([]byte{1}, BinderLen)
	body := marshalHelloWithBinder(clientHelloExt{clientHello: clientHello{Type: typeClientHello,
		Version: ProtocolVersion, Suites: []string{SuiteX25519AES256GCMSHA256}, Certificate: "c", ClientRandom: "r",
		Timestamp: 1, KeyShare: "k", MaxFrame: MinMaxFrame}, Ticket: "AA=="}, rs)
	var ch clientHelloExt
	if err := decodeFrame(body, typeClientHello, &ch); err != nil {
		t.Fatal(err)
	}
	tr, err := truncatedHello(body, ch.Binder)
	if err != nil {
		t.Fatal(err)
	}
	if mac, _ := b64.DecodeString(ch.Binder); !bytes.Equal(mac, Binder(rs, tr)) {
		t.Fatal("binder does not cover the truncated hello")
	}
	spaced := append(bytes.Clone(body[:len(body)-1]), ' ', '}')
	if _, err := truncatedHello(spaced, ch.Binder); !errors.Is(err, errBinder) {
		t.Fatalf("binder not last: %v", err)
	}
	moved := []byte(`{"binder":"` + ch.Binder + `","type":"client_hello"}`)
	if _, err := truncatedHello(moved, ch.Binder); !errors.Is(err, errBinder) {
		t.Fatalf("binder first: %v", err)
	}
}
