package channel

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/securechat/scca/internal/testpki"
	"github.com/securechat/scca/internal/waitfor"
)

// rawConn is a test peer that writes arbitrary bytes and reads frames.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// serverVerdict reads frames until the server reports an error (in a
// rejected server_hello or an error frame) and returns its code; "" if
// the connection ended without one.
func serverVerdict(t *testing.T, r io.Reader) string {
	t.Helper()
	var hdr [FrameHeaderLen]byte
	for {
		body, err := ReadFrame(r, &hdr, DefaultMaxFrame)
		if err != nil {
			return ""
		}
		if body[0] != '{' {
			continue // a binary record (§6.7): not a verdict
		}
		typ, err := frameType(body)
		if err != nil {
			t.Fatalf("server sent a malformed frame: %v", err)
		}
		switch typ {
		case typeError:
			var re *RemoteError
			if !errors.As(decodeRemoteError(body), &re) {
				t.Fatalf("malformed error frame %q", body)
			}
			return re.Code
		case typeServerHello:
			var sh serverHello
			if err := json.Unmarshal(body, &sh); err != nil {
				t.Fatal(err)
			}
			if sh.Status != "ok" {
				return sh.Error.Code
			}
		}
	}
}

func goodHello(w *world) clientHello {
	random := make([]byte, RandomLen)
	share := make([]byte, keyShareLen)
	rand.Read(random)
	priv, _ := newKeyShare(rand.Reader)
	copy(share, priv.PublicKey().Bytes())
	return clientHello{Type: typeClientHello, Version: ProtocolVersion, Suites: []string{SuiteX25519AES256GCMSHA256},
		ClientID: "client123", Certificate: encodeChain(w.ClientChain), ClientRandom: b64.EncodeToString(random),
		Timestamp: time.Now().Unix(), KeyShare: b64.EncodeToString(share), MaxFrame: DefaultMaxFrame}
}

func frameBytes(body []byte) []byte { return AppendFrame(nil, body) }

func TestBadHandshakeInput(t *testing.T) {
	w := newWorld(t)
	// No verdict here depends on how fast the machine is: the input cases
	// go to a server whose deadlines only bound a hang, so its verdict is
	// the parser's; the two timeout cases go to a server whose first
	// frame deadline is short (the verdict can only be that deadline's),
	// while its whole handshake, which the good client after each case
	// needs, stays unbounded in practice.
	cfg := w.serverConfig()
	cfg.HandshakeTimeout, cfg.FirstFrameTimeout = time.Minute, time.Minute
	addr, _, rec := startServer(t, cfg)
	cfg.FirstFrameTimeout = time.Second
	slowAddr, _, slowRec := startServer(t, cfg)
	hello := func(mut func(*clientHello)) []byte {
		h := goodHello(w)
		mut(&h)
		return frameBytes(marshal(h))
	}
	cases := []struct {
		name  string
		bytes []byte
		want  string
	}{
		{"malformed JSON", frameBytes([]byte(`{"type":"client_hello",`)), CodeProtocol},
		{"not an object", frameBytes([]byte(`["client_hello"]`)), CodeProtocol},
		{"wrong field type", frameBytes([]byte(`{"type":"client_hello","version":1}`)), CodeProtocol},
		{"timestamp as string", frameBytes([]byte(strings.Replace(string(marshal(goodHello(w))), `"timestamp":`, `"timestamp":"1",`+`"x":`, 1))), CodeProtocol},
		{"duplicate key", frameBytes([]byte(`{"type":"client_hello","type":"client_hello"}`)), CodeProtocol},
		{"unknown message type", frameBytes([]byte(`{"type":"hello_there"}`)), CodeProtocol},
		{"message before handshake", frameBytes(appendRecordFrame(nil, typeMessage, 0, make([]byte, 20))[4:]), CodeProtocol},
		{"empty frame", []byte{0, 0, 0, 0}, CodeProtocol},
		{"oversized frame", binary.BigEndian.AppendUint32(nil, MaxHandshakeFrame+1), CodeProtocol},
		{"truncated frame", binary.BigEndian.AppendUint32(nil, 100)[:4:4], CodeTimeout},
		{"silent peer", nil, CodeTimeout},
		{"old version", hello(func(h *clientHello) { h.Version = "securechat/0" }), CodeUnsupportedVersion},
		{"no common suite", hello(func(h *clientHello) { h.Suites = []string{"TLS_RSA_WITH_RC4_128_MD5"} }), CodeNoCommonSuite},
		{"short random", hello(func(h *clientHello) { h.ClientRandom = "AAAA" }), CodeProtocol},
		{"bad base64", hello(func(h *clientHello) { h.KeyShare = "!!" }), CodeProtocol},
		{"stale timestamp", hello(func(h *clientHello) { h.Timestamp -= 600 }), CodeReplay},
		{"future timestamp", hello(func(h *clientHello) { h.Timestamp += 600 }), CodeReplay},
		{"low-order key share", hello(func(h *clientHello) { h.KeyShare = b64.EncodeToString(make([]byte, 32)) }), CodeHandshakeFailed},
		{"no certificate", hello(func(h *clientHello) { h.Certificate = "" }), CodeProtocol},
		{"garbage certificate", hello(func(h *clientHello) {
			h.Certificate = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
		}), CodeCertificateRejected},
		{"tiny max_frame", hello(func(h *clientHello) { h.MaxFrame = 10 }), CodeProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, rec := addr, rec
			if tc.want == CodeTimeout {
				addr, rec = slowAddr, slowRec
			}
			c := dialRaw(t, addr)
			if tc.name == "truncated frame" {
				tc.bytes = append(tc.bytes, `{"type":`...)
			}
			if _, err := c.Write(tc.bytes); err != nil {
				t.Fatal(err)
			}
			if got := serverVerdict(t, c.br); got != tc.want {
				t.Fatalf("server verdict %q, want %q", got, tc.want)
			}
			assertGoodClient(t, w, addr, rec)
		})
	}
}

// recorder keeps a copy of every byte a connection writes.
type recorder struct {
	net.Conn
	written []byte
}

func (r *recorder) Write(b []byte) (int, error) {
	r.written = append(r.written, b...)
	return r.Conn.Write(b)
}

// splitFrames cuts a byte stream into whole frames (header included).
func splitFrames(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 4 {
		n := int(binary.BigEndian.Uint32(b)) + 4
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// recordHandshake runs a good handshake and returns the client's frames.
func recordHandshake(t *testing.T, w *world, addr string) (clientHelloFrame, clientFinishFrame []byte) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rc := &recorder{Conn: nc}
	c, err := clientConn(rc, w.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	frames := splitFrames(rc.written)
	c.Close()
	return frames[0], frames[1]
}

// TestReplayedHandshake replays a recorded client_hello and client_finish.
func TestReplayedHandshake(t *testing.T) {
	w := newWorld(t)
	addr, _, rec := startServer(t, w.serverConfig())
	ch, cf := recordHandshake(t, w, addr)

	t.Run("client_hello to the same server", func(t *testing.T) {
		c := dialRaw(t, addr)
		c.Write(ch)
		if got := serverVerdict(t, c.br); got != CodeReplay {
			t.Fatalf("verdict %q, want %q", got, CodeReplay)
		}
		assertGoodClient(t, w, addr, rec)
	})
	// A server that never saw the hello (its replay cache cannot help)
	// still refuses: its fresh random changes the transcript, so the
	// recorded client signature does not verify.
	t.Run("client_hello and client_finish to a fresh server", func(t *testing.T) {
		addr2, _, rec2 := startServer(t, w.serverConfig())
		c := dialRaw(t, addr2)
		c.Write(ch)
		c.Write(cf)
		if got := serverVerdict(t, c.br); got != CodeHandshakeFailed {
			t.Fatalf("verdict %q, want %q", got, CodeHandshakeFailed)
		}
		if rejs := rec2.Rejections(); len(rejs) != 1 || !errors.Is(rejs[0], ErrHandshake) {
			t.Fatalf("server rejections %v, want ErrHandshake", rejs)
		}
		assertGoodClient(t, w, addr2, rec2)
	})
	t.Run("client_finish after a fresh client_hello", func(t *testing.T) {
		c := dialRaw(t, addr)
		c.Write(frameBytes(marshal(goodHello(w))))
		c.Write(cf)
		if got := serverVerdict(t, c.br); got != CodeHandshakeFailed {
			t.Fatalf("verdict %q, want %q", got, CodeHandshakeFailed)
		}
		assertGoodClient(t, w, addr, rec)
	})
}

// TestProofOfPossession: a client holding a good certificate but not its
// key is refused, although its certificate passes every check.
func TestProofOfPossession(t *testing.T) {
	w := newWorld(t)
	addr, _, rec := startServer(t, w.serverConfig())
	cfg := w.clientConfig()
	cfg.Key = testpki.NewKey(t)
	c, err := dialConn(context.Background(), addr, cfg)
	if err == nil {
		err = c.Send(context.Background(), "impostor")
		c.Close()
	}
	if !errors.Is(err, ErrRejectedByServer) {
		t.Fatalf("impostor: %v, want ErrRejectedByServer", err)
	}
	if rejs := rec.Rejections(); len(rejs) != 1 || !errors.Is(rejs[0], ErrHandshake) {
		t.Fatalf("server rejections %v, want ErrHandshake", rejs)
	}
	if len(rec.Messages()) != 0 {
		t.Fatalf("impostor's message was delivered: %q", rec.Messages())
	}
	assertGoodClient(t, w, addr, rec)

	// And the client refuses a server holding the server certificate
	// without its key.
	scfg := w.serverConfig()
	scfg.Key = testpki.NewKey(t)
	addr2, _, _ := startServer(t, scfg)
	if _, err := dialConn(context.Background(), addr2, w.clientConfig()); !errors.Is(err, ErrHandshake) {
		t.Fatalf("server without its key: %v, want ErrHandshake", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	w := newWorld(t)
	cfg := w.serverConfig()
	cfg.IdleTimeout = 200 * time.Millisecond
	addr, srv, rec := startServer(t, cfg)
	c, err := dialConn(context.Background(), addr, w.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, func() bool { srv.mu.Lock(); defer srv.mu.Unlock(); return len(srv.conns) == 0 })
	if err := c.Send(context.Background(), "too late"); err == nil {
		t.Fatal("send on an idled-out session succeeded")
	}
	assertGoodClient(t, w, addr, rec)
}

// waitFor polls cond until it holds. The 30 s bound only ends a test
// whose condition never comes; a loaded machine may take seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	waitfor.Condition(t, "the condition", waitfor.HangBound, cond)
}

// HTTP on the wire reads as an enormous length; the error says what it is,
// so a user who pointed the TCP client at the WebSocket port can tell.
func TestReadFrameHTTP(t *testing.T) {
	var hdr [FrameHeaderLen]byte
	for _, in := range []string{"HTTP/1.1 400 Bad Request\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"} {
		_, err := ReadFrame(strings.NewReader(in), &hdr, MaxHandshakeFrame)
		if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "speaks HTTP") || !strings.Contains(err.Error(), "ws://") {
			t.Errorf("%q: err = %v", in[:4], err)
		}
	}
	// An ordinary oversized length is not called HTTP.
	_, err := ReadFrame(strings.NewReader("\x7f\x00\x00\x00"), &hdr, MaxHandshakeFrame)
	if !errors.Is(err, ErrProtocol) || strings.Contains(err.Error(), "HTTP") {
		t.Errorf("oversized: err = %v", err)
	}
}
