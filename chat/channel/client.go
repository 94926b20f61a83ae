package channel

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// ClientConfig configures the client end of the channel.
type ClientConfig struct {
	Config
	ServerName string // DNS name or IP the server certificate must match; required
	ClientID   string // optional; must equal our certificate's CN if set

	HandshakeTimeout time.Duration // DefaultHandshakeTimeout

	// Tickets, if set, makes the client ask for resumption tickets and
	// resume with them (docs/PROTOCOL.md §13).
	Tickets TicketCache

	// Suites are the cipher suites offered, most preferred first (the
	// server takes the first it knows); nil offers
	// SuiteX25519AES256GCMSHA256 alone. A client without AES hardware
	// offers SuiteX25519ChaCha20Poly1305SHA256 first or alone.
	Suites []string
	// JSONRecords makes the client not offer binary record bodies
	// (docs/PROTOCOL.md §6.7): every record is then a JSON frame with a
	// base64 ciphertext, as in the seed protocol.
	JSONRecords bool
}

// offeredSuites is the suites field of client_hello; every name must be a
// known suite.
func (cfg *ClientConfig) offeredSuites() ([]string, error) {
	if len(cfg.Suites) == 0 {
		return []string{SuiteX25519AES256GCMSHA256}, nil
	}
	if len(cfg.Suites) > maxSuites {
		return nil, fmt.Errorf("chat: more than %d suites", maxSuites)
	}
	for _, s := range cfg.Suites {
		if SuiteByName(s) == nil {
			return nil, fmt.Errorf("chat: unknown cipher suite %q", s)
		}
	}
	return cfg.Suites, nil
}

func (cfg *ClientConfig) identity() (identity, error) {
	if cfg.ServerName == "" {
		// Without a name, any certificate the CA issued with serverAuth
		// would be accepted as this server.
		return identity{}, ErrNoServerName
	}
	return cfg.Config.identity()
}

// Dial connects to addr over TCP and performs the client handshake. A
// rejection by the server returns an error wrapping ErrRejectedByServer (a
// *RemoteError with the server's code and reason); a bad server
// certificate returns one wrapping ErrPeerCertificate.
func Dial(ctx context.Context, addr string, cfg *ClientConfig) (*Session, error) {
	id, err := cfg.identity()
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return handshakeOrClose(ctx, conn, cfg, id)
}

// DialWebSocket connects to a ws:// or wss:// URL and performs the
// handshake over it (§14), like Dial. cfg.ServerName must be set: the
// URL's host is not taken as the name to verify.
func DialWebSocket(ctx context.Context, url string, cfg *ClientConfig) (*Session, error) {
	id, err := cfg.identity()
	if err != nil {
		return nil, err
	}
	wc, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	conn := newWSConn(websocket.NetConn(context.WithoutCancel(ctx), wc, websocket.MessageBinary))
	wc.SetReadLimit(wsReadLimit(id.max))
	return handshakeOrClose(ctx, conn, cfg, id)
}

func handshakeOrClose(ctx context.Context, conn net.Conn, cfg *ClientConfig, id identity) (*Session, error) {
	s, err := handshakeWith(ctx, conn, cfg, id)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// Handshake performs the client handshake over an existing connection,
// giving up when ctx ends (its deadline also bounds the handshake). On
// error the caller still owns conn.
func Handshake(ctx context.Context, conn net.Conn, cfg *ClientConfig) (*Session, error) {
	id, err := cfg.identity()
	if err != nil {
		return nil, err
	}
	return handshakeWith(ctx, conn, cfg, id)
}

func handshakeWith(ctx context.Context, conn net.Conn, cfg *ClientConfig, id identity) (*Session, error) {
	deadline := handshakeDeadline(ctx, orDefault(cfg.HandshakeTimeout, DefaultHandshakeTimeout))
	_ = conn.SetDeadline(deadline)
	stop := func() bool { return true } // a context that can never end needs no watcher
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	hctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	h := &clientHandshake{cfg: cfg, id: id, conn: conn, br: bufio.NewReader(conn)}
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
	cn := sess.PeerCN()
	id.logger.Info("connected", "server", conn.RemoteAddr().String(), "cn", cn)
	sess.log = id.logger
	return sess, nil
}

// PeerReset reports whether the peer dropped the connection (reset, or a
// write to a connection it closed).
func PeerReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
