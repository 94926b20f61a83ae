package chat

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/securechat/scca/chat/channel"
	"github.com/securechat/scca/revocation"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = channel.ErrServerClosed

// ServerConfig configures a Server. Zero durations and limits take the
// package defaults; Now and Rand nil mean the real clock and crypto/rand.
type ServerConfig struct {
	Chain []*x509.Certificate // server certificate first, then intermediates
	Key   crypto.Signer       // private key of Chain[0]
	// Roots are the CA(s) client certificates must chain to, through
	// Intermediates (optional) and the certificates the client sends.
	Roots         *x509.CertPool
	Intermediates *x509.CertPool
	Checker       PeerChecker // inventory / revocation check; required (revocation.ErrUnavailable: store_unavailable)

	MaxFrame         int           // largest frame body after the handshake (DefaultMaxFrame)
	HandshakeTimeout time.Duration // whole handshake deadline
	IdleTimeout      time.Duration // longest wait for the next frame (and to receive it)
	WriteTimeout     time.Duration // longest a write may block on a peer that does not read
	MaxConns         int           // concurrent established sessions
	// Connections that have not finished the handshake have limits of
	// their own (docs/PROTOCOL.md §9): at most MaxHandshakes in all and
	// MaxHandshakesPerIP from one source address, and each must deliver
	// its complete client_hello within FirstFrameTimeout. When
	// MaxHandshakes is reached, a new connection displaces the oldest one
	// still waiting for its first frame (so silent and trickling sockets
	// cannot hold the server), or gets server_busy if there is none.
	MaxHandshakes      int
	MaxHandshakesPerIP int
	FirstFrameTimeout  time.Duration
	// StatusCheckTimeout bounds the Checker call during a handshake
	// (DefaultStatusCheckTimeout); when it passes, or the Checker reports
	// its source unavailable, the client is told store_unavailable.
	StatusCheckTimeout time.Duration
	TimestampWindow    time.Duration // allowed clock difference for client_hello
	KeyUpdateAfter     uint64        // records per key before key_update (DefaultKeyUpdateAfter)

	// Mailbox keeps direct messages for offline users (§12.3); nil: the
	// server refuses direct messages. Revocations, if set, is polled every
	// RevocationPoll and ends the live sessions of revoked certificates
	// (§12.5); nil: revocation applies at the next handshake only.
	Mailbox        Mailbox
	Directory      Directory // who may receive direct messages; nil: the Mailbox, if it is a Directory
	Revocations    RevocationFeed
	RevocationPoll time.Duration // DefaultRevocationPoll
	// CheckCacheTTL is how long a positive Checker answer for a client
	// certificate is reused by later handshakes (§7.4); it needs
	// Revocations, whose every event flushes the cache and whose failure
	// disables it. 0 means MaxCheckCacheTTL (the maximum); negative: off.
	CheckCacheTTL time.Duration
	QueueLimit    int // per-recipient bound of the durable queue (DefaultQueueLimit)
	// Quotas of the durable queue (§12.3): messages and body bytes one
	// sender may have waiting for offline recipients, and all senders
	// together. 0 means the default (DefaultSenderQuota ...), negative none.
	SenderQuota      int
	SenderQuotaBytes int64
	TotalQuota       int
	TotalQuotaBytes  int64
	SendQueue        int // pushed records waiting per session before it counts as too slow (DefaultSendQueue)
	SendQueueBytes   int // and their plaintext bytes (DefaultSendQueueBytes)

	Logger *slog.Logger // nil: discard
	// OnMessage is called for each message, in order per session, before
	// it is acknowledged; from is the authenticated certificate's CN.
	OnMessage func(from, text string)
	// OnMessageBytes, if set, is called instead of OnMessage with the text
	// still in the record buffer (no copy); text is valid only during the
	// call.
	OnMessageBytes func(from string, text []byte)
	// OnAccept is called when a client completed the handshake.
	OnAccept func(remote, cn string)
	// OnReject is called when a handshake fails; errors.Is(err,
	// ErrPeerCertificate) tells a certificate rejection from other failures.
	OnReject func(remote string, err error)

	// Tickets configures session resumption (docs/PROTOCOL.md §13); the
	// zero value enables it with the defaults.
	Tickets TicketConfig

	// Cluster links this server to others sharing the inventory
	// (docs/CLUSTER.md); the zero value: the server works alone.
	Cluster ClusterConfig

	// BaseContext is the parent of the server's base context (the secure
	// channel's, channel.Server.BaseContext), under which every storage,
	// checker and broker call runs; nil: context.Background.
	// Shutdown cancels the base context when its own context expires, so a
	// forced shutdown does not wait for a hung store.
	BaseContext context.Context

	Now  func() time.Time
	Rand io.Reader
}

// Server is the messaging relay (docs/PROTOCOL.md §12) on a secure
// channel server: the channel accepts connections, runs the handshake and
// hands each authenticated session to the relay (a channel.Handler).
type Server struct {
	cfg ServerConfig
	ch  *channel.Server
	log *slog.Logger
	now func() time.Time
	// checks caches positive client certificate checks (the channel's
	// Checker); nil without a revocation feed or when disabled.
	checks *checkCache
	// base is the channel server's base context: the context of every
	// storage and broker call, ended when Shutdown gives up waiting.
	base context.Context

	hub       *hub
	lastMsgID atomic.Int64 // room message ids (§12.2)
	wmu       sync.Mutex   // guards watching and stopped
	watching  bool
	stopped   bool
	stopWatch chan struct{}
	wg        sync.WaitGroup // the revocation watcher and cluster goroutines
	cl        *clusterState  // nil when alone
	revWake   chan struct{}  // read the revocation feed now
}

// NewServer checks cfg and returns a Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	cfg.IdleTimeout = orDefault(cfg.IdleTimeout, DefaultIdleTimeout)
	cfg.RevocationPoll = orDefault(cfg.RevocationPoll, DefaultRevocationPoll)
	if cfg.QueueLimit <= 0 {
		cfg.QueueLimit = DefaultQueueLimit
	}
	cfg.SenderQuota = quotaOrDefault(cfg.SenderQuota, DefaultSenderQuota)
	cfg.SenderQuotaBytes = quotaOrDefault(cfg.SenderQuotaBytes, DefaultSenderQuotaBytes)
	cfg.TotalQuota = quotaOrDefault(cfg.TotalQuota, DefaultTotalQuota)
	cfg.TotalQuotaBytes = quotaOrDefault(cfg.TotalQuotaBytes, DefaultTotalQuotaBytes)
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = DefaultSendQueue
	}
	if cfg.SendQueueBytes <= 0 {
		cfg.SendQueueBytes = DefaultSendQueueBytes
	}
	srv := &Server{cfg: cfg, log: cfg.Logger, now: cfg.Now,
		hub: newHub(), stopWatch: make(chan struct{}), revWake: make(chan struct{}, 1)}
	if srv.log == nil {
		srv.log = slog.New(slog.DiscardHandler)
	}
	if srv.now == nil {
		srv.now = time.Now
	}
	if cfg.Cluster.Broker != nil {
		// Every log line names the node, so a cluster's logs can be merged.
		srv.log = srv.log.With("node", cfg.Cluster.Broker.Node())
	}
	checker := cfg.Checker
	if checker != nil {
		checker = statusChecker{checker}
		if cfg.Revocations != nil && cfg.CheckCacheTTL >= 0 {
			srv.checks = newCheckCache(checker, orDefault(cfg.CheckCacheTTL, MaxCheckCacheTTL), nil)
			checker = srv.checks
		}
	}
	ch, err := channel.NewServer(channel.ServerConfig{
		Config: channel.Config{Chain: cfg.Chain, Key: cfg.Key, Roots: cfg.Roots,
			Intermediates: cfg.Intermediates, Checker: checker,
			MaxFrame: cfg.MaxFrame, TimestampWindow: cfg.TimestampWindow, KeyUpdateAfter: cfg.KeyUpdateAfter,
			WriteTimeout: cfg.WriteTimeout, Logger: srv.log, Now: cfg.Now, Rand: cfg.Rand},
		HandshakeTimeout: cfg.HandshakeTimeout, MaxConns: cfg.MaxConns,
		MaxHandshakes: cfg.MaxHandshakes, MaxHandshakesPerIP: cfg.MaxHandshakesPerIP,
		FirstFrameTimeout: cfg.FirstFrameTimeout, StatusCheckTimeout: cfg.StatusCheckTimeout,
		Tickets: cfg.Tickets, OnAccept: cfg.OnAccept, OnReject: cfg.OnReject, BaseContext: cfg.BaseContext,
	}, (*relay)(srv))
	if err != nil {
		return nil, err
	}
	srv.ch, srv.base = ch, ch.BaseContext()
	srv.cl = newClusterState(srv, cfg.Cluster)
	srv.hub.cl = srv.cl
	// Room message ids start at the current time in microseconds, so they
	// keep increasing across restarts of this server.
	srv.lastMsgID.Store(srv.now().UnixMicro())
	return srv, nil
}

// startWatcher starts the revocation watcher once, with the first Serve.
func (s *Server) startWatcher() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.watching || s.stopped {
		return
	}
	s.watching = true
	if s.cl != nil {
		if err := s.cl.start(s.stopWatch); err != nil {
			s.log.Error("cluster not started; serving alone", "err", err)
		}
	}
	if s.cfg.Revocations == nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.watchRevocations(s.stopWatch)
	}()
}

// stopWatcher stops the revocation watcher and the cluster link (once);
// one started later would not start.
func (s *Server) stopWatcher() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if !s.stopped {
		s.stopped = true
		close(s.stopWatch)
	}
}

// Serve accepts connections on ln until Shutdown; it then returns
// ErrServerClosed. Each connection is served in its own goroutine.
func (s *Server) Serve(ln net.Listener) error {
	s.startWatcher()
	return s.ch.Serve(ln)
}

// ServeConn serves one connection that was accepted elsewhere (for example
// a WebSocket wrapped as a net.Conn) in the background, under the same
// connection limit, timeouts and Shutdown as connections from Serve.
func (s *Server) ServeConn(conn net.Conn) { s.ch.ServeConn(conn) }

// WebSocketHandler returns an http.Handler that upgrades each request to a
// WebSocket and serves it with ServeConn (docs/PROTOCOL.md §14). After
// Shutdown it answers 503.
func (s *Server) WebSocketHandler(opts WebSocketOptions) http.Handler {
	return s.ch.WebSocketHandler(opts)
}

// ServeWebSocket serves WebSocket clients on ln (plain HTTP; put TLS in
// front, or pass a tls.Listener, for wss://) until Shutdown, then returns
// ErrServerClosed. Any request path is accepted.
func (s *Server) ServeWebSocket(ln net.Listener, opts WebSocketOptions) error {
	return s.ch.ServeWebSocket(ln, opts)
}

// ServeHandler serves HTTP on ln with h until Shutdown, then returns
// ErrServerClosed: ServeWebSocket with a handler of the caller's, for
// example one that serves the browser client (package web) and passes
// WebSocket upgrades to WebSocketHandler.
func (s *Server) ServeHandler(ln net.Listener, h http.Handler) error {
	return s.ch.ServeHandler(ln, h)
}

// Shutdown stops accepting, lets each session finish the message it is
// processing (and acknowledge it), sends close to every session and waits
// for all connection goroutines to end. If ctx ends first, remaining
// connections are closed abruptly and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopWatcher()
	err := s.ch.Shutdown(ctx)
	s.wg.Wait()
	return err
}

// statusChecker is the server's PeerChecker as the channel sees it: the
// inventory's "cannot tell" (revocation.ErrUnavailable) becomes the
// channel's ErrCheckUnavailable, so the client hears store_unavailable.
type statusChecker struct{ PeerChecker }

func (c statusChecker) Check(ctx context.Context, cert *x509.Certificate) error {
	return unavailableAs(c.PeerChecker.Check(ctx, cert))
}

func (c statusChecker) CheckChain(ctx context.Context, chain []*x509.Certificate) error {
	return unavailableAs(channel.CheckPeerChain(ctx, c.PeerChecker, chain))
}

func unavailableAs(err error) error {
	if errors.Is(err, revocation.ErrUnavailable) {
		return fmt.Errorf("%w: %w", channel.ErrCheckUnavailable, err)
	}
	return err
}
