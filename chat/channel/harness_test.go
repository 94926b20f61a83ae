package channel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/securechat/scca/internal/testchat"
	"github.com/securechat/scca/internal/testnet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The channel's tests run a Server with ackHandler, the smallest
// application: it reads message records, hands each to OnMessage and
// acknowledges it (§6.3), and answers close with close (§6.5), byte for
// byte what the messaging relay does with these core records.

// testServerConfig is a ServerConfig with the test application's settings.
type testServerConfig struct {
	ServerConfig
	OnMessage   func(from, text string)
	IdleTimeout time.Duration
}

type ackHandler struct{ cfg testServerConfig }

func (h ackHandler) ServeSession(_ context.Context, s *Session) {
	var received uint64
	var ackBuf [len(`{"id":}`) + 20]byte
	defer s.ReleaseRead()
	for {
		s.ReleaseRead()
		if !s.WaitIdle(h.cfg.IdleTimeout) {
			_ = WriteRecord(s, typeClose, s.EndReason())
			return
		}
		typ, pt, err := s.ReadRecord()
		if err != nil {
			var re *RemoteError
			switch {
			case IsTimeout(err) && s.EndReason() != "":
				_ = WriteRecord(s, typeClose, s.EndReason())
			case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || PeerReset(err) || errors.As(err, &re):
			case IsTimeout(err):
				s.SendError(CodeTimeout, "idle timeout")
			default:
				s.SendError(CodeOf(err), truncate(err.Error(), maxTextErr))
			}
			return
		}
		if !s.SetBusy() && typ != typeMessage {
			_ = WriteRecord(s, typeClose, "server shutting down")
			return
		}
		switch typ {
		case typeMessage:
			if err := CheckText(pt); err != nil {
				s.SendError(CodeOf(err), truncate(err.Error(), maxTextErr))
				return
			}
			received++
			if h.cfg.OnMessage != nil {
				h.cfg.OnMessage(s.PeerCN(), string(pt))
			}
			if err := WriteRecord(s, typeAck, AppendAck(ackBuf[:0], received)); err != nil {
				return
			}
		case typeClose:
			_ = WriteRecord(s, typeClose, "")
			return
		default:
			s.SendError(CodeProtocol, "unexpected "+typ)
			return
		}
	}
}

func newTestServer(cfg testServerConfig) (*Server, error) {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	return NewServer(cfg.ServerConfig, ackHandler{cfg})
}

// received collects what the server's OnMessage and OnReject saw.
type received = testchat.Received

// startServer serves cfg on a loopback listener until the test ends.
func startServer(t testing.TB, cfg testServerConfig) (string, *Server, *received) {
	t.Helper()
	ln := testnet.Loopback(t)
	srv, rec := serveOn(t, cfg, ln)
	return ln.Addr().String(), srv, rec
}

// servePipes serves cfg on an in-memory listener until the end of t, for
// tests that run in a testing/synctest bubble; call it inside the bubble.
func servePipes(t testing.TB, cfg testServerConfig) (*testnet.Listener, *Server, *received) {
	t.Helper()
	ln := testnet.Listen()
	srv, rec := serveOn(t, cfg, ln)
	return ln, srv, rec
}

// serveOn serves cfg on ln until the test ends; what OnMessage and
// OnReject see (unless cfg sets them) is in the result.
func serveOn(t testing.TB, cfg testServerConfig, ln net.Listener) (*Server, *received) {
	t.Helper()
	rec := &received{}
	rec.Hook(&cfg.OnMessage, &cfg.OnReject)
	srv, err := newTestServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	testchat.Serve(t, srv, ln, ErrServerClosed)
	return srv, rec
}

// testConn is the test application's client: messages and their acks.
type testConn struct {
	sess *Session
	sent uint64
}

func connOf(s *Session, err error) (*testConn, error) {
	if err != nil {
		return nil, err
	}
	return &testConn{sess: s}, nil
}

func dialConn(ctx context.Context, addr string, cfg ClientConfig) (*testConn, error) {
	return connOf(Dial(ctx, addr, &cfg))
}

func (c *testConn) PeerCN() string { return c.sess.PeerCN() }
func (c *testConn) Resumed() bool  { return c.sess.Resumed() }

// Send sends text as one message and waits for its ack.
func (c *testConn) Send(ctx context.Context, text string) error {
	c.sent++
	if err := WriteRecord(c.sess, typeMessage, text); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.sess.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	_ = c.sess.conn.SetReadDeadline(time.Now().Add(c.sess.WriteTimeout()))
	typ, pt, err := c.sess.ReadRecord()
	defer c.sess.ReleaseRead()
	if err != nil {
		return err
	}
	if typ == typeClose {
		return fmt.Errorf("%w by server: %s", ErrClosed, pt)
	}
	id, err := ParseAck(pt)
	if err != nil || typ != typeAck || id != c.sent {
		return fmt.Errorf("%w: %s %q instead of ack %d", ErrProtocol, typ, pt, c.sent)
	}
	return nil
}

// Close sends close, waits briefly for the server's and closes the
// connection.
func (c *testConn) Close() error {
	defer c.sess.conn.Close()
	if err := WriteRecord(c.sess, typeClose, ""); err != nil {
		return nil
	}
	_ = c.sess.conn.SetReadDeadline(time.Now().Add(time.Second))
	for {
		typ, _, err := c.sess.ReadRecord()
		if err != nil || typ == typeClose {
			return nil
		}
	}
}

// assertGoodClient checks the server still completes a handshake and
// delivers a message for a good client.
func assertGoodClient(t testing.TB, w *world, addr string, rec *received) {
	t.Helper()
	testchat.AssertGoodClient(t, func(ctx context.Context) (*testConn, error) { return dialConn(ctx, addr, w.clientConfig()) }, rec)
}

// clientConn runs the client handshake over conn.
func clientConn(conn net.Conn, cfg ClientConfig) (*testConn, error) {
	return connOf(Handshake(context.Background(), conn, &cfg))
}

// startWSServer is startServer that also serves WebSocket clients: the
// TCP address, the ws:// URL, the Server and what it received.
func startWSServer(t *testing.T, cfg testServerConfig, opts WebSocketOptions) (string, string, *Server, *received) {
	t.Helper()
	return testchat.AlsoWebSocket(t, ErrServerClosed, func() (string, *Server, *received) { return startServer(t, cfg) },
		func(srv *Server, ln net.Listener) error { return srv.ServeWebSocket(ln, opts) })
}

// assertGoodClientWS checks a good client still gets through over
// WebSocket.
func assertGoodClientWS(t *testing.T, w *world, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg := w.clientConfig()
	c, err := connOf(DialWebSocket(ctx, url, &cfg))
	if err != nil {
		t.Fatalf("good websocket client: %v", err)
	}
	defer c.Close()
	if err := c.Send(ctx, "still here"); err != nil {
		t.Fatal(err)
	}
}
