package chat

import (
	"container/list"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/securechat/scca/ca"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("chat: server closed")

// ServerConfig configures a Server. Zero durations and limits take the
// package defaults; Now and Rand nil mean the real clock and crypto/rand.
type ServerConfig struct {
	Chain []*x509.Certificate // server certificate first, then intermediates
	Key   crypto.Signer       // private key of Chain[0]
	// Roots are the CA(s) client certificates must chain to, through
	// Intermediates (optional) and the certificates the client sends.
	Roots         *x509.CertPool
	Intermediates *x509.CertPool
	// Trust is the former spelling of Roots and Intermediates (callers move
	// to those), used when Roots is nil.
	Trust   ca.Trust
	Checker PeerChecker // inventory / revocation check; required

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

	// BaseContext is the parent of the server's base context, under which
	// every storage, checker and broker call runs; nil: context.Background.
	// Shutdown cancels the base context when its own context expires, so a
	// forced shutdown does not wait for a hung store.
	BaseContext context.Context

	Now  func() time.Time
	Rand io.Reader
}

// Server accepts SecureChat connections.
type Server struct {
	cfg    ServerConfig
	id     identity
	replay *replayCache
	// tickets seals and opens resumption tickets; nil when disabled.
	tickets *ticketer
	// checks caches positive client certificate checks (also id.checker);
	// nil without a revocation feed or when disabled.
	checks *checkCache

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*serverConn]struct{}
	hs        handshakeLimits // guarded by mu
	sessions  int             // established sessions, guarded by mu
	closing   atomic.Bool
	wg        sync.WaitGroup

	hub       *hub
	lastMsgID atomic.Int64 // room message ids (§12.2)
	watchOnce sync.Once
	stopWatch chan struct{}
	cl        *clusterState // nil when alone
	revWake   chan struct{} // read the revocation feed now

	// base is the context of every storage, checker and broker call;
	// cancelBase ends it when Shutdown gives up waiting, or has finished.
	base       context.Context
	cancelBase context.CancelFunc
}

// NewServer checks cfg and returns a Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	id, err := newIdentity(cfg.Chain, cfg.Key, trustOf(cfg.Roots, cfg.Intermediates, cfg.Trust), cfg.Checker, cfg.Now, cfg.Rand,
		cfg.TimestampWindow, cfg.KeyUpdateAfter, cfg.MaxFrame, cfg.Logger)
	if err != nil {
		return nil, err
	}
	cfg.HandshakeTimeout = orDefault(cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	id.statusTimeout = min(orDefault(cfg.StatusCheckTimeout, DefaultStatusCheckTimeout), cfg.HandshakeTimeout)
	cfg.IdleTimeout = orDefault(cfg.IdleTimeout, DefaultIdleTimeout)
	cfg.WriteTimeout = orDefault(cfg.WriteTimeout, DefaultWriteTimeout)
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxHandshakes <= 0 {
		cfg.MaxHandshakes = DefaultMaxHandshakes
	}
	if cfg.MaxHandshakesPerIP <= 0 {
		cfg.MaxHandshakesPerIP = DefaultMaxHandshakesPerIP
	}
	cfg.FirstFrameTimeout = min(orDefault(cfg.FirstFrameTimeout, DefaultFirstFrameTimeout), cfg.HandshakeTimeout)
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
	srv := &Server{
		cfg: cfg, id: id,
		// Enough for every handshake the window can hold at a high rate.
		replay:    newReplayCache(1 << 20),
		tickets:   newServerTicketer(cfg.Tickets, id.rand),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*serverConn]struct{}),
		hs:        newHandshakeLimits(),
		hub:       newHub(), stopWatch: make(chan struct{}), revWake: make(chan struct{}, 1),
	}
	parent := cfg.BaseContext
	if parent == nil {
		parent = context.Background()
	}
	srv.base, srv.cancelBase = context.WithCancel(parent)
	if cfg.Revocations != nil && cfg.CheckCacheTTL >= 0 {
		srv.checks = newCheckCache(id.checker, orDefault(cfg.CheckCacheTTL, MaxCheckCacheTTL), nil)
		srv.id.checker = srv.checks
	}
	if cfg.Cluster.Broker != nil {
		// Every log line names the node, so a cluster's logs can be merged.
		srv.id.logger = srv.id.logger.With("node", cfg.Cluster.Broker.Node())
	}
	srv.cl = newClusterState(srv, cfg.Cluster)
	srv.hub.cl = srv.cl
	// Room message ids start at the current time in microseconds, so they
	// keep increasing across restarts of this server.
	srv.lastMsgID.Store(id.now().UnixMicro())
	return srv, nil
}

// startWatcher starts the revocation watcher once, with the first Serve.
func (s *Server) startWatcher() {
	s.watchOnce.Do(func() {
		if s.cl != nil {
			if err := s.cl.start(s.stopWatch); err != nil {
				s.id.logger.Error("cluster not started; serving alone", "err", err)
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
	})
}

// Serve accepts connections on ln until Shutdown; it then returns
// ErrServerClosed. Each connection is served in its own goroutine.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.startWatcher()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.track(conn)
	}
}

// track starts serving conn, or refuses it with server_busy when the
// sessions or the handshake limits are full (admit, limits.go).
func (s *Server) track(conn net.Conn) {
	sc := &serverConn{srv: s, conn: conn, remote: conn.RemoteAddr().String()}
	sc.ip = sourceIP(conn.RemoteAddr())
	s.mu.Lock()
	if s.closing.Load() {
		// Shutdown may already be waiting on wg: adding to it now would
		// race with that Wait. The connection is simply not served.
		s.mu.Unlock()
		conn.Close()
		return
	}
	refusal := s.admitLocked(sc)
	if refusal == "" {
		s.conns[sc] = struct{}{}
	}
	s.wg.Add(1)
	s.mu.Unlock()
	if refusal != "" {
		go func() {
			defer s.wg.Done()
			s.id.logger.Warn("connection refused", "remote", sc.remote, "reason", refusal)
			sendError(conn, CodeBusy, publicReason(CodeBusy))
			conn.Close()
		}()
		return
	}
	go func() {
		defer s.wg.Done()
		defer s.untrack(sc)
		sc.serve()
	}()
}

func (s *Server) untrack(sc *serverConn) {
	s.mu.Lock()
	s.releaseHandshakeLocked(sc)
	if sc.session {
		s.sessions--
	}
	delete(s.conns, sc)
	s.mu.Unlock()
}

// Shutdown stops accepting, lets each session finish the message it is
// processing (and acknowledge it), sends close to every session and waits
// for all connection goroutines to end. If ctx ends first, remaining
// connections are closed abruptly and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing.Swap(true) {
		close(s.stopWatch)
	}
	for ln := range s.listeners {
		ln.Close()
	}
	for sc := range s.conns {
		sc.interrupt()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancelBase()
		return nil
	case <-ctx.Done():
		// Storage and checker calls still running end now rather than
		// at their own timeouts.
		s.cancelBase()
		s.mu.Lock()
		for sc := range s.conns {
			sc.conn.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// Connection states, for Shutdown's decision.
const (
	stateHandshake = iota
	stateBusy      // processing a received frame: let it finish
	stateIdle      // waiting for the next frame: interrupt now
)

type serverConn struct {
	srv    *Server
	conn   net.Conn
	remote string
	ip     string // source address, for the per-IP handshake limit

	// Handshake accounting (limits.go), guarded by srv.mu.
	hsHeld   bool          // holds a handshake slot
	admitted time.Time     // when it took the slot
	waiting  *list.Element // in srv.hs.waiting until the first frame arrived
	session  bool          // counted in srv.sessions

	mu     sync.Mutex
	state  int
	killed string // "code: reason" once the session must end (revoked, too slow)
}

// kill ends the session from outside its loop (live revocation, a full
// send queue): the loop notices at its next read, which is woken now, and
// sends close with the reason (§12.5).
func (sc *serverConn) kill(code, reason string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.killed != "" {
		return
	}
	sc.killed = code + ": " + reason
	_ = sc.conn.SetReadDeadline(time.Unix(1, 0))
}

// endReason is why the loop must stop now, or "" to go on.
func (sc *serverConn) endReason() string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.killed != "" {
		return sc.killed
	}
	if sc.srv.closing.Load() {
		return "server shutting down"
	}
	return ""
}

// interrupt is Shutdown's nudge: a handshake is cut, an idle session's
// read is woken (its loop then sends close), a busy one is left to finish.
func (sc *serverConn) interrupt() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	switch sc.state {
	case stateHandshake:
		sc.conn.Close()
	case stateIdle:
		_ = sc.conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// setState records the state and reports false if the server is closing
// (checked under the same lock interrupt takes, so no wake-up is lost).
func (sc *serverConn) setState(state int) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.state = state
	return !sc.srv.closing.Load()
}
