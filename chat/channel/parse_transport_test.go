package channel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/securechat/scca/internal/testnet"
)

// Tests of the parse rules of docs/PROTOCOL.md §2 on both transports, in
// both directions: a raw client against the server, and the Go client
// against a server whose frames a proxy rewrites.

// serverAnswer sends a client_hello body and returns "ok" for an accepting
// server_hello, or the code of the server's rejection.
func serverAnswer(t *testing.T, c net.Conn, body []byte) string {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(frameBytes(body)); err != nil {
		t.Fatal(err)
	}
	var hdr [FrameHeaderLen]byte
	reply, err := ReadFrame(bufio.NewReader(c), &hdr, DefaultMaxFrame)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	var sh serverHelloExt
	if err := decodeFrame(reply, typeServerHello, &sh); err != nil {
		var re *RemoteError
		if errors.As(err, &re) {
			return re.Code
		}
		t.Fatalf("server sent %q: %v", reply, err)
	}
	if sh.Status == "ok" {
		return "ok"
	}
	return sh.errBody.Code
}

// TestServerParsesHelloExactly: member names are exact after unescaping,
// null and missing members are protocol errors, base64 and PEM are strict.
func TestServerParsesHelloExactly(t *testing.T) {
	w := newWorld(t)
	cfg := w.serverConfig()
	cfg.HandshakeTimeout = time.Second
	addr, url, _, _ := startWSServer(t, cfg, WebSocketOptions{})
	good := func() string { return string(marshal(goodHello(w))) }
	replace := func(old, new string) func() []byte {
		return func() []byte {
			s := good()
			if !strings.Contains(s, old) {
				t.Fatalf("hello lacks %q", old)
			}
			return []byte(strings.Replace(s, old, new, 1))
		}
	}
	member := func(name string) func() []byte { // the member's value replaced by null
		return func() []byte {
			s := good()
			i := strings.Index(s, `"`+name+`":`) + len(name) + 3
			j := i + strings.IndexAny(s[i:], ",}")
			if s[i] == '"' || s[i] == '[' {
				j = i + strings.Index(s[i:], map[byte]string{'"': `",`, '[': `],`}[s[i]]) + 1
			}
			return []byte(s[:i] + "null" + s[j:])
		}
	}
	drop := func(name string) func() []byte {
		return func() []byte {
			s := good()
			i := strings.Index(s, `,"`+name+`":`)
			j := i + 1 + strings.Index(s[i+1:], `,"`)
			return []byte(s[:i] + s[j:])
		}
	}
	pem := encodeChain(w.ClientChain)
	withCert := func(cert string) func() []byte {
		return func() []byte {
			h := goodHello(w)
			h.Certificate = cert
			return marshal(h)
		}
	}
	cases := []struct {
		name string
		body func() []byte
		want string
	}{
		{"good", func() []byte { return []byte(good()) }, "ok"},
		{"escaped names", replace(`"key_share"`, `"key\u005fshare"`), "ok"},
		{"upper-case KEY_SHARE is not key_share", replace(`"key_share"`, `"KEY_SHARE"`), CodeProtocol},
		{"unknown Type is no duplicate", replace(`"version"`, `"Type":"x","version"`), "ok"},
		{"escaped duplicate", replace(`"version"`, `"client\u005fid":"client123","version"`), CodeProtocol},
		{"escaped client_id mismatch", replace(`"client_id":"client123"`, `"client\u005fid":"mallory"`), CodeCertificateRejected},
		{"null timestamp", member("timestamp"), CodeProtocol},
		{"null max_frame", member("max_frame"), CodeProtocol},
		{"null suites", member("suites"), CodeProtocol},
		{"null client_id", member("client_id"), CodeProtocol},
		{"null key_share", member("key_share"), CodeProtocol},
		{"missing timestamp", drop("timestamp"), CodeProtocol},
		{"missing version", drop("version"), CodeProtocol},
		{"missing key_share", drop("key_share"), CodeProtocol},
		{"timestamp with fraction", func() []byte {
			return []byte(strings.Replace(good(), `,"key_share"`, `.0,"key_share"`, 1))
		}, CodeProtocol},
		{"minus zero max_frame", replace(`"max_frame":262144`, `"max_frame":-0`), CodeProtocol},
		{"random with escaped line break", func() []byte {
			s := good()
			i := strings.Index(s, `"client_random":"`) + len(`"client_random":"`) + 20
			return []byte(s[:i] + `\n` + s[i:])
		}, CodeProtocol},
		{"random with CR LF", func() []byte {
			s := good()
			i := strings.Index(s, `"client_random":"`) + len(`"client_random":"`) + 20
			return []byte(s[:i] + `\r\n` + s[i:])
		}, CodeProtocol},
		{"text before the PEM block", withCert("junk\n" + pem), CodeProtocol},
		{"blank line after the PEM block", withCert(pem + "\n"), CodeProtocol},
		{"CRLF PEM", withCert(strings.ReplaceAll(pem, "\n", "\r\n")), CodeProtocol},
		{"PEM header", withCert(strings.Replace(pem, "-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1)), CodeProtocol},
	}
	for _, tr := range bothTransports(addr, url) {
		for _, tc := range cases {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				if got := serverAnswer(t, tr.raw(t), tc.body()); got != tc.want {
					t.Fatalf("server answered %q, want %q", got, tc.want)
				}
			})
		}
	}
}

// TestServerParsesRecordsExactly sends hand-made records after a good
// handshake: the server answers an ack, or protocol_error.
func TestServerParsesRecordsExactly(t *testing.T) {
	w := newWorld(t)
	addr, url, _, _ := startWSServer(t, w.serverConfig(), WebSocketOptions{})
	cases := []struct {
		name    string
		rewrite func(body string) string
		want    string // "ack" or an error code
	}{
		{"canonical", func(b string) string { return b }, typeAck},
		{"spaced", func(b string) string { return strings.ReplaceAll(b, `,"`, ` , "`) }, typeAck},
		{"unknown SEQ is no duplicate", func(b string) string { return strings.Replace(b, `"seq"`, `"SEQ":9,"seq"`, 1) }, typeAck},
		{"upper-case SEQ is not seq", func(b string) string { return strings.Replace(b, `"seq"`, `"SEQ"`, 1) }, CodeProtocol},
		{"escaped duplicate seq", func(b string) string { return strings.Replace(b, `"seq"`, `"s\u0065q":0,"seq"`, 1) }, CodeProtocol},
		{"null seq", func(b string) string { return strings.Replace(b, `"seq":0`, `"seq":null`, 1) }, CodeProtocol},
		{"minus zero seq", func(b string) string { return strings.Replace(b, `"seq":0`, `"seq":-0`, 1) }, CodeProtocol},
		{"fractional seq", func(b string) string { return strings.Replace(b, `"seq":0`, `"seq":0.0`, 1) }, CodeProtocol},
		{"missing seq", func(b string) string { return strings.Replace(b, `"seq":0,`, ``, 1) }, CodeProtocol},
		{"escaped line break in ciphertext", func(b string) string {
			i := strings.Index(b, `"ciphertext":"`) + len(`"ciphertext":"`) + 8
			return b[:i] + `\n` + b[i:]
		}, CodeProtocol},
		{"non-empty key_update", func(b string) string { return b }, CodeProtocol},
		{"raw line break in ciphertext", func(b string) string {
			i := strings.Index(b, `"ciphertext":"`) + len(`"ciphertext":"`) + 8
			return b[:i] + "\n" + b[i:]
		}, CodeProtocol},
	}
	for _, tr := range bothTransports(addr, url) {
		for _, tc := range cases {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				cfg := w.clientConfig()
				cfg.JSONRecords = true // these cases respell JSON record frames
				c, err := clientConn(tr.raw(t), cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer c.sess.conn.Close()
				typ, pt := typeMessage, "hello"
				if tc.name == "non-empty key_update" { // §6.3: it MUST be empty
					typ, pt = typeKeyUpdate, "x"
				}
				frame := c.sess.out.seal(typ, []byte(pt))
				body := tc.rewrite(string(frame[FrameHeaderLen:]))
				if err := WriteFrame(c.sess.conn, []byte(body)); err != nil {
					t.Fatal(err)
				}
				if got := recordAnswer(t, c); got != tc.want {
					t.Fatalf("server answered %q to %q, want %q", got, body, tc.want)
				}
			})
		}
	}
}

// recordAnswer reads the server's next frame: "ack" for an ack record, or
// the code of an error frame.
func recordAnswer(t *testing.T, c *testConn) string {
	t.Helper()
	_ = c.sess.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, _, err := c.sess.ReadRecord()
	var re *RemoteError
	switch {
	case errors.As(err, &re):
		return re.Code
	case err != nil:
		t.Fatalf("no answer: %v", err)
	}
	return typ
}

// rewriteConn hands the client every frame the server sends after passing
// its body through f: an active attacker on the path, or a broken server.
type rewriteConn struct {
	net.Conn
	br      *bufio.Reader
	pending []byte
	f       func(typ string, body []byte) []byte
}

func (c *rewriteConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		var hdr [FrameHeaderLen]byte
		body, err := ReadFrame(c.br, &hdr, 1<<20)
		if err != nil {
			return 0, err
		}
		typ, _ := frameType(body)
		c.pending = AppendFrame(nil, c.f(typ, body))
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// TestClientParsesServerHelloExactly runs the Go client against a server
// whose server_hello is rewritten on the way. A rewritten hello can never
// complete the handshake (the server signed the original transcript), so
// what matters is which check refuses it: the parser (ErrProtocol), or,
// when the parser must accept, the signature (ErrHandshake).
func TestClientParsesServerHelloExactly(t *testing.T) {
	w := newWorld(t)
	addr, url, _, _ := startWSServer(t, w.serverConfig(), WebSocketOptions{})
	cases := []struct {
		name     string
		old, new string
		want     error
	}{
		{"upper-case KEY_SHARE is not key_share", `"key_share"`, `"KEY_SHARE"`, ErrProtocol},
		{"unknown Status is no duplicate", `"status"`, `"Status":"error","status"`, ErrHandshake},
		{"escaped name is the same name", `"status":"ok"`, `"st\u0061tus":"ok"`, ErrHandshake},
		{"escaped duplicate", `"status":"ok"`, `"status":"ok","st\u0061tus":"error"`, ErrProtocol},
		{"null timestamp", `"timestamp":`, `"timestamp":null,"x":`, ErrProtocol},
		{"null max_frame", `"max_frame":`, `"max_frame":null,"x":`, ErrProtocol},
		{"missing timestamp", `"timestamp":`, `"x":`, ErrProtocol},
		{"missing server_random", `"server_random":`, `"x":`, ErrProtocol},
		{"fractional max_frame", `,"key_share"`, `.0,"key_share"`, ErrProtocol},
		{"line break in key_share", `"key_share":"`, `"key_share":"\r\n`, ErrProtocol},
	}
	for _, tr := range bothTransports(addr, url) {
		for _, tc := range cases {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				nc := tr.raw(t)
				defer nc.Close()
				rc := &rewriteConn{Conn: nc, br: bufio.NewReader(nc), f: func(typ string, body []byte) []byte {
					if typ != typeServerHello {
						return body
					}
					if !bytes.Contains(body, []byte(tc.old)) {
						t.Errorf("server_hello lacks %q", tc.old)
					}
					return bytes.Replace(body, []byte(tc.old), []byte(tc.new), 1)
				}}
				c, err := clientConn(rc, w.clientConfig())
				if err == nil {
					c.Close()
				}
				if !errors.Is(err, tc.want) || (tc.want == ErrHandshake && errors.Is(err, ErrProtocol)) {
					t.Fatalf("client: %v, want %v", err, tc.want)
				}
			})
		}
	}
}

// fakeServer accepts connections over TCP and WebSocket and runs the
// server handshake of srv on them, handing each session to serve.
func fakeServer(t *testing.T, w *world, serve func(*Session)) []transport {
	t.Helper()
	srv, err := newTestServer(w.serverConfig())
	if err != nil {
		t.Fatal(err)
	}
	run := func(conn net.Conn) {
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		h := &serverHandshake{srv: srv, conn: conn, br: bufio.NewReader(conn)}
		sess, _, err := h.run(context.Background())
		if err != nil {
			t.Errorf("fake server handshake: %v", err)
			return
		}
		serve(sess)
	}
	addr := testnet.Serve(t, run)
	hs := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		wc, err := websocket.Accept(rw, r, nil)
		if err != nil {
			return
		}
		run(newWSConn(websocket.NetConn(context.WithoutCancel(r.Context()), wc, websocket.MessageBinary)))
	}))
	t.Cleanup(hs.Close)
	return bothTransports(addr, "ws"+strings.TrimPrefix(hs.URL, "http"))
}

// TestClientRefusesWrongAckID: an ack whose id is not the count of
// messages sent ends the session with a protocol error (§6.3), on both
// transports.
func TestClientRefusesWrongAckID(t *testing.T) {
	w := newWorld(t)
	for _, tr := range fakeServer(t, w, func(s *Session) {
		if typ, _, err := s.ReadRecord(); err != nil || typ != typeMessage {
			t.Errorf("fake server read %s, %v", typ, err)
			return
		}
		_ = WriteRecord(s, typeAck, AppendAck(nil, 2)) // the first message's ack says 2
		_, _, _ = s.ReadRecord()                       // until the client hangs up
	}) {
		t.Run(tr.name, func(t *testing.T) {
			c, err := clientConn(tr.raw(t), w.clientConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.Send(ctx, "hello"); !errors.Is(err, ErrProtocol) {
				t.Fatalf("send with a wrong ack id: %v, want ErrProtocol", err)
			}
			if err := c.Send(ctx, "again"); err == nil {
				t.Fatal("session still usable after a wrong ack id")
			}
		})
	}
}

// TestRecordLimitIsProtocolError: past 2^24 records under one key the
// receiver refuses with protocol_error (§6.4), before decrypting.
func TestRecordLimitIsProtocolError(t *testing.T) {
	keys := NewTrafficKeys(SuiteAES256GCM, bytes.Repeat([]byte{7}, 32))
	out, _ := newHalfConn(dirClientToServer, keys)
	in, _ := newHalfConn(dirClientToServer, keys)
	out.seq, in.seq = SuiteAES256GCM.MaxRecords-1, SuiteAES256GCM.MaxRecords-1
	if _, err := in.open(mustParse(t, out.seal(typeMessage, []byte("last")))); err != nil {
		t.Fatalf("record %d: %v", SuiteAES256GCM.MaxRecords-1, err)
	}
	_, err := in.open(mustParse(t, out.seal(typeMessage, []byte("one too many"))))
	if !errors.Is(err, ErrProtocol) || CodeOf(err) != CodeProtocol {
		t.Fatalf("record %d: %v (code %s), want protocol_error", SuiteAES256GCM.MaxRecords, err, CodeOf(err))
	}
}
