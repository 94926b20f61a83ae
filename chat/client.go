package chat

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/securechat/scca/chat/channel"
)

// ClientConfig configures a client. Zero durations take the package
// defaults; Now and Rand nil mean the real clock and crypto/rand.
type ClientConfig struct {
	Chain []*x509.Certificate // client certificate first, then intermediates
	Key   crypto.Signer       // private key of Chain[0]
	// Roots are the CA(s) the server certificate must chain to, through
	// Intermediates (optional) and the certificates the server sends.
	Roots         *x509.CertPool
	Intermediates *x509.CertPool
	Checker       PeerChecker // inventory or CRL/OCSP check of the server; required
	ServerName    string      // DNS name or IP the server certificate must match
	ClientID      string      // optional; must equal our certificate's CN if set

	HandshakeTimeout time.Duration
	WriteTimeout     time.Duration
	MaxFrame         int
	TimestampWindow  time.Duration
	KeyUpdateAfter   uint64

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

	Logger *slog.Logger
	Now    func() time.Time
	Rand   io.Reader
}

// channelConfig is cfg as the secure channel takes it.
func (cfg *ClientConfig) channelConfig() *channel.ClientConfig {
	checker := cfg.Checker
	if checker != nil {
		checker = statusChecker{checker}
	}
	return &channel.ClientConfig{
		Config: channel.Config{Chain: cfg.Chain, Key: cfg.Key, Roots: cfg.Roots,
			Intermediates: cfg.Intermediates, Checker: checker,
			MaxFrame: cfg.MaxFrame, TimestampWindow: cfg.TimestampWindow, KeyUpdateAfter: cfg.KeyUpdateAfter,
			WriteTimeout: cfg.WriteTimeout, Logger: cfg.Logger, Now: cfg.Now, Rand: cfg.Rand},
		ServerName: cfg.ServerName, ClientID: cfg.ClientID, HandshakeTimeout: cfg.HandshakeTimeout,
		Tickets: cfg.Tickets, Suites: cfg.Suites, JSONRecords: cfg.JSONRecords,
	}
}

// Conn is an established client session. Send and the other requests may
// be called from one goroutine while Receive runs in another; requests are
// served one at a time.
type Conn struct {
	sess   *channel.Session
	peerCN string
	rand   io.Reader // client_msg_id

	mu     sync.Mutex // one request (Send, SendTo, Join, ...) or Close at a time
	sent   uint64
	closed bool

	// rsem is held by the one goroutine reading from the connection: a
	// waiting request or Receive. Whoever reads dispatches each record: a
	// response to resp, a push to the event queue (docs/PROTOCOL.md §12.1).
	rsem chan struct{}
	resp chan response

	evmu    sync.Mutex
	events  []Event
	evReady chan struct{} // signalled when events grows

	conf confirmState // direct messages returned, not yet confirmed

	dead     chan struct{} // closed when the session failed or ended
	deadOnce sync.Once
	err      error // why, set before dead closes
}

// response is a server record answering our outstanding request.
type response struct {
	typ string
	pt  []byte
}

// maxUnreadEvents bounds pushes received but not yet taken by Receive; a
// client that never calls Receive while being sent messages ends its
// session there instead of growing without bound (direct messages stay
// queued on the server: they were never confirmed).
const maxUnreadEvents = 1 << 16

func newConn(sess *channel.Session, rnd io.Reader) *Conn {
	if rnd == nil {
		rnd = rand.Reader
	}
	return &Conn{sess: sess, peerCN: sess.PeerCN(), rand: rnd,
		rsem: make(chan struct{}, 1), resp: make(chan response, 1),
		evReady: make(chan struct{}, 1), dead: make(chan struct{})}
}

// Dial connects to addr and performs the handshake. A rejection by the
// server returns an error wrapping ErrRejectedByServer (a *RemoteError with
// the server's code and reason); a bad server certificate returns one
// wrapping ErrPeerCertificate.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*Conn, error) {
	return connOf(cfg)(channel.Dial(ctx, addr, cfg.channelConfig()))
}

// DialWebSocket connects to a ws:// or wss:// URL and performs the
// handshake over it, like Dial. cfg.ServerName must be set: the URL's host
// is not taken as the name to verify.
func DialWebSocket(ctx context.Context, url string, cfg ClientConfig) (*Conn, error) {
	return connOf(cfg)(channel.DialWebSocket(ctx, url, cfg.channelConfig()))
}

// Client performs the handshake over an existing connection. On error the
// caller still owns conn. It is Handshake without a context.
func Client(conn net.Conn, cfg ClientConfig) (*Conn, error) {
	return Handshake(context.Background(), conn, cfg)
}

// Handshake performs the client handshake over an existing connection,
// giving up when ctx ends (its deadline also bounds the handshake). On error
// the caller still owns conn.
func Handshake(ctx context.Context, conn net.Conn, cfg ClientConfig) (*Conn, error) {
	return connOf(cfg)(channel.Handshake(ctx, conn, cfg.channelConfig()))
}

// connOf makes the Conn of a handshake's result.
func connOf(cfg ClientConfig) func(*channel.Session, error) (*Conn, error) {
	return func(sess *channel.Session, err error) (*Conn, error) {
		if err != nil {
			return nil, err
		}
		return newConn(sess, cfg.Rand), nil
	}
}

// Resumed reports whether the handshake resumed an earlier session with a
// ticket instead of running in full.
func (c *Conn) Resumed() bool { return c.sess.Resumed() }

// PeerCN is the common name of the server's verified certificate.
func (c *Conn) PeerCN() string { return c.peerCN }

// Done is closed once the session has ended: the server closed it or the
// connection failed (Receive and requests then return why), or Close was
// called. A request refused while the session goes on (ErrMessageRejected,
// ErrMessageTooLarge) leaves it open, so after a failed request Done tells
// whether the session is still usable.
func (c *Conn) Done() <-chan struct{} { return c.dead }

// Send encrypts text as one message to the server (the seed's message,
// §6.3) and waits for the server's ack, so a nil error means the server
// received and processed it. Cancelling ctx abandons the wait and ends the
// session (delivery is then unknown).
func (c *Conn) Send(ctx context.Context, text string) error {
	if !utf8.ValidString(text) {
		return fmt.Errorf("%w: message text is not UTF-8", ErrProtocol)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.usable(); err != nil {
		return err
	}
	if len(text) > c.sess.MaxPlaintext() {
		return fmt.Errorf("%w: %d bytes, server accepts at most %d", ErrMessageTooLarge, len(text), c.sess.MaxPlaintext())
	}
	c.sent++
	if err := sendRequest(c, typeMessage, text); err != nil {
		return err
	}
	r, err := c.awaitResponse(ctx, typeMessage)
	if err != nil {
		return err
	}
	if r.typ != typeAck {
		return c.fail(fmt.Errorf("%w: server sent %s instead of ack", ErrProtocol, r.typ))
	}
	id, err := channel.ParseAck(r.pt)
	if err != nil {
		return c.fail(err)
	}
	if id != c.sent {
		return c.fail(fmt.Errorf("%w: ack for message %d, expected %d", ErrProtocol, id, c.sent))
	}
	return nil
}

// usable reports why no request can be made, if so. Called with mu held.
func (c *Conn) usable() error {
	if c.closed {
		return ErrClosed
	}
	select {
	case <-c.dead:
		return c.err
	default:
		return nil
	}
}

// roundTrip sends one request record and waits for its response, reading
// from the connection itself unless a Receive is already reading. Called
// with mu held. The wait is bounded by the write timeout.
func (c *Conn) roundTrip(ctx context.Context, typ string, pt []byte) (response, error) {
	if err := sendRequest(c, typ, pt); err != nil {
		return response{}, err
	}
	return c.awaitResponse(ctx, typ)
}

// sendRequest seals and sends one request record (a message's text is
// sealed straight from the string). Called with mu held.
func sendRequest[T ~string | ~[]byte](c *Conn, typ string, pt T) error {
	if len(pt) > c.sess.MaxPlaintext() {
		return fmt.Errorf("%w: %d bytes, server accepts at most %d", ErrMessageTooLarge, len(pt), c.sess.MaxPlaintext())
	}
	if err := channel.WriteRecord(c.sess, typ, pt); err != nil {
		if channel.PeerReset(err) {
			err = fmt.Errorf("%w: connection reset by the server", ErrClosed)
		}
		return c.fail(fmt.Errorf("send: %w", err))
	}
	return nil
}

// awaitResponse waits for the response to the request just sent, bounded
// by the write timeout. Called with mu held.
func (c *Conn) awaitResponse(ctx context.Context, typ string) (response, error) {
	deadline := time.Now().Add(c.sess.WriteTimeout())
	// Usually nobody else is reading (no Receive running): then we read
	// ourselves under the read deadline, which bounds the wait without a
	// timer.
	select {
	case c.rsem <- struct{}{}:
		r, err := c.readResponse(ctx, deadline)
		<-c.rsem
		return r, err
	default:
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		// A response already read wins over reading more: select alone
		// would pick at random between it and the read semaphore.
		select {
		case r := <-c.resp:
			return r, nil
		default:
		}
		select {
		case r := <-c.resp:
			return r, nil
		case <-c.dead:
			return response{}, c.err
		case <-ctx.Done():
			return response{}, c.fail(fmt.Errorf("send: %w", ctx.Err()))
		case <-timer.C:
			return response{}, c.fail(fmt.Errorf("waiting for %s response: %w", typ, errTimeout))
		case c.rsem <- struct{}{}:
			_ = c.sess.NetConn().SetReadDeadline(deadline)
			err := c.readOne(ctx)
			<-c.rsem
			if err != nil {
				return response{}, err
			}
		}
	}
}

// readResponse reads records until the response to our request arrives
// (dispatching any push on the way); called holding rsem.
func (c *Conn) readResponse(ctx context.Context, deadline time.Time) (response, error) {
	_ = c.sess.NetConn().SetReadDeadline(deadline)
	for {
		select {
		case r := <-c.resp:
			return r, nil
		default:
		}
		if err := c.readOne(ctx); err != nil {
			return response{}, err
		}
	}
}

// errTimeout is the cause when the server does not answer in time.
var errTimeout = errors.New("timed out")

// readOne reads one record and dispatches it; called holding rsem. A
// cancelled ctx wakes the read (and so ends the session: the stream
// position would be unknown).
func (c *Conn) readOne(ctx context.Context) error {
	if ctx.Done() != nil { // a context that can never end needs no watcher
		stop := context.AfterFunc(ctx, func() { _ = c.sess.NetConn().SetReadDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	typ, pt, err := c.sess.ReadRecord()
	defer c.sess.ReleaseRead()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		} else if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: connection closed by server without close", ErrClosed)
		} else if channel.PeerReset(err) {
			// A reset can discard a close record already on its way
			// (the kernel drops unread data), so it means the same.
			err = fmt.Errorf("%w: connection reset by the server", ErrClosed)
		}
		return c.fail(fmt.Errorf("read: %w", err))
	}
	switch typ {
	case typeAck, typeSent, typeReply:
		select {
		case c.resp <- response{typ: typ, pt: bytes.Clone(pt)}:
			return nil
		default:
			return c.fail(fmt.Errorf("%w: unsolicited %s", ErrProtocol, typ))
		}
	case typeDeliver, typeEvent:
		ev, err := parsePush(typ, pt)
		if err != nil {
			return c.fail(err)
		}
		return c.queueEvent(ev)
	case typeClose:
		return c.fail(closeError(pt))
	}
	return c.fail(fmt.Errorf("%w: server sent %s", ErrProtocol, typ))
}

// closeError is the error for a close record from the server: ErrClosed,
// and a *RemoteError when the reason starts with a code (§12.5).
func closeError(pt []byte) error {
	reason := truncate(string(pt), maxTextErr)
	if code, detail, ok := strings.Cut(reason, ": "); ok && isCode(code) {
		return fmt.Errorf("%w by server: %w", ErrClosed, &RemoteError{Code: code, Reason: detail})
	}
	return fmt.Errorf("%w by server: %s", ErrClosed, reason)
}

func isCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '_' {
			return false
		}
	}
	return true
}

// fail ends the session once with err, closing the connection, and
// returns the session's error.
func (c *Conn) fail(err error) error {
	c.deadOnce.Do(func() {
		c.err = err
		close(c.dead)
		c.sess.NetConn().Close()
	})
	return c.err
}

// Close sends close, waits briefly for the server's close and closes the
// connection.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	if c.usable() != nil {
		c.closed = true
		return nil
	}
	c.closed = true
	// Closing says the message Receive returned last was handled too:
	// confirm it with what a batch still holds.
	if c.handled() != nil || c.flushConfirm() != nil {
		return nil
	}
	c.conf.mu.Lock()
	c.conf.closed = true
	c.conf.mu.Unlock()
	if err := channel.WriteRecord(c.sess, typeClose, ""); err != nil {
		c.fail(ErrClosed)
		return nil // the peer is already gone: nothing more to do
	}
	// Wait for the server's close (read by us, or by a Receive that is
	// reading), at most a second.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for {
		select {
		case <-c.dead:
			return nil
		case <-ctx.Done():
			c.fail(ErrClosed)
			return nil
		case <-c.resp: // a response nobody waits for any more
		case c.rsem <- struct{}{}:
			_ = c.sess.NetConn().SetReadDeadline(time.Time{})
			err := c.readOne(ctx)
			<-c.rsem
			if err != nil {
				c.fail(ErrClosed)
				return nil
			}
		}
	}
}
