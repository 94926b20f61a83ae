package chat

import (
	"bufio"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/securechat/scca/ca"
)

// ClientConfig configures a client. Zero durations take the package
// defaults; Now and Rand nil mean the real clock and crypto/rand.
type ClientConfig struct {
	Chain      []*x509.Certificate // client certificate first, then intermediates
	Key        crypto.Signer       // private key of Chain[0]
	Trust      ca.Trust            // CA(s) the server certificate must chain to
	Checker    PeerChecker         // inventory or CRL/OCSP check of the server; required
	ServerName string              // DNS name or IP the server certificate must match
	ClientID   string              // optional; must equal our certificate's CN if set

	HandshakeTimeout time.Duration
	WriteTimeout     time.Duration
	MaxFrame         int
	TimestampWindow  time.Duration
	KeyUpdateAfter   uint64

	Logger *slog.Logger
	Now    func() time.Time
	Rand   io.Reader
}

func (cfg *ClientConfig) identity() (identity, error) {
	return newIdentity(cfg.Chain, cfg.Key, cfg.Trust, cfg.Checker, cfg.Now, cfg.Rand,
		cfg.TimestampWindow, cfg.KeyUpdateAfter, cfg.MaxFrame, cfg.Logger)
}

// Conn is an established client session.
type Conn struct {
	sess   *session
	peerCN string
	log    *slog.Logger

	mu     sync.Mutex // one Send or Close at a time
	sent   uint64
	err    error // sticky: once the session failed, every call returns it
	closed bool
}

// Dial connects to addr and performs the handshake. A rejection by the
// server returns an error wrapping ErrRejectedByServer (a *RemoteError with
// the server's code and reason); a bad server certificate returns one
// wrapping ErrPeerCertificate.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*Conn, error) {
	id, err := cfg.identity()
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c, err := handshakeWith(ctx, conn, cfg, id)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// Client performs the handshake over an existing connection. On error the
// caller still owns conn.
func Client(conn net.Conn, cfg ClientConfig) (*Conn, error) {
	return handshake(context.Background(), conn, cfg)
}

func handshake(ctx context.Context, conn net.Conn, cfg ClientConfig) (*Conn, error) {
	id, err := cfg.identity()
	if err != nil {
		return nil, err
	}
	return handshakeWith(ctx, conn, cfg, id)
}

func handshakeWith(ctx context.Context, conn net.Conn, cfg ClientConfig, id identity) (*Conn, error) {
	deadline := handshakeDeadline(ctx, orDefault(cfg.HandshakeTimeout, DefaultHandshakeTimeout))
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	hctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	h := &clientHandshake{cfg: &cfg, id: id, conn: conn, br: bufio.NewReader(conn)}
	sess, err := h.run(hctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("handshake: %w", ctx.Err())
		}
		return nil, fmt.Errorf("handshake with %s: %w", conn.RemoteAddr(), err)
	}
	if !stop() {
		return nil, fmt.Errorf("handshake: %w", ctx.Err())
	}
	_ = conn.SetDeadline(time.Time{})
	sess.writeTimeout = orDefault(cfg.WriteTimeout, DefaultWriteTimeout)
	cn := h.peer[0].Subject.CommonName
	id.logger.Info("connected", "server", conn.RemoteAddr().String(), "cn", cn)
	return &Conn{sess: sess, peerCN: cn, log: id.logger}, nil
}

// PeerCN is the common name of the server's verified certificate.
func (c *Conn) PeerCN() string { return c.peerCN }

// Send encrypts text as one message and waits for the server's ack, so a
// nil error means the server received and processed it. Cancelling ctx
// abandons the wait and ends the session (delivery is then unknown).
func (c *Conn) Send(ctx context.Context, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if c.closed {
		return ErrClosed
	}
	if !utf8.ValidString(text) {
		return fmt.Errorf("%w: message text is not UTF-8", ErrProtocol)
	}
	if len(text) > maxPlaintext(c.sess.maxSend) {
		return fmt.Errorf("%w: %d bytes, server accepts at most %d", ErrMessageTooLarge, len(text), maxPlaintext(c.sess.maxSend))
	}
	stop := context.AfterFunc(ctx, func() { _ = c.sess.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	err := c.send(text)
	c.sess.releaseRead()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("send: %w", ctx.Err())
		}
		c.err = err
		c.sess.conn.Close()
	}
	return err
}

func (c *Conn) send(text string) error {
	c.sent++
	if err := writeRecord(c.sess, typeMessage, text); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	_ = c.sess.conn.SetReadDeadline(time.Now().Add(c.sess.writeTimeout))
	typ, pt, err := c.sess.readRecord()
	if err != nil {
		return fmt.Errorf("waiting for ack: %w", err)
	}
	switch typ {
	case typeAck:
		id, err := parseAck(pt)
		if err != nil {
			return err
		}
		if id != c.sent {
			return fmt.Errorf("%w: ack for message %d, expected %d", ErrProtocol, id, c.sent)
		}
		return nil
	case typeClose:
		return fmt.Errorf("%w by server: %s", ErrClosed, truncate(string(pt), maxTextErr))
	}
	return fmt.Errorf("%w: server sent %s instead of ack", ErrProtocol, typ)
}

// Close sends close, waits briefly for the server's close and closes the
// connection.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	defer c.sess.conn.Close()
	if c.err != nil {
		return nil
	}
	if err := writeRecord(c.sess, typeClose, ""); err != nil {
		return nil // the peer is already gone: nothing more to do
	}
	_ = c.sess.conn.SetReadDeadline(time.Now().Add(time.Second))
	defer c.sess.releaseRead()
	if typ, _, err := c.sess.readRecord(); err == nil && typ != typeClose {
		c.log.Debug("unexpected record at close", "type", typ)
	} else if err != nil && !errors.Is(err, io.EOF) {
		c.log.Debug("no close from server", "err", err)
	}
	return nil
}
