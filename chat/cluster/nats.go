// Package cluster links SecureChat servers into one through NATS: it
// implements chat.Broker (presence, room messages, direct-message wake-ups
// and revocation hints between servers) and chat.TicketSpender (single-use
// resumption tickets across servers, with a JetStream key-value bucket as
// the compare-and-set), with the official client github.com/nats-io/nats.go.
//
// It moves bytes and answers "was this ticket used?"; what the bytes mean
// is the chat package's business, and the inventory database stays the
// system of record. It never buffers for a broker that is down: a
// publish then fails at once, so the caller can say so (docs/CLUSTER.md).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/securechat/scca/chat"
)

// Defaults for Config.
const (
	DefaultPrefix      = "scca.chat"
	DefaultMaxPending  = 65536
	DefaultWakeWorkers = 32
)

// Config configures the link to NATS.
type Config struct {
	// URL is the NATS server (nats://, tls://; several comma-separated).
	// It may carry user:password; it is never logged with them.
	URL  string
	Node string // this server's name, unique in the cluster
	// Prefix starts every subject, so several clusters can share one NATS.
	Prefix    string
	CredsFile string // NATS credentials file (JWT and NKey seed)
	CAFile    string // CA certificate(s) to verify the NATS server's TLS certificate
	// MaxPending bounds the other nodes' events waiting for this node; past
	// it NATS drops them and chat ends the sessions that may have missed
	// room messages (BrokerHandler.Lagged) instead of stalling anyone.
	MaxPending  int
	WakeWorkers int // concurrent direct-message wake-ups served
	Logger      *slog.Logger
}

// NATS is a chat.Broker on a NATS connection.
type NATS struct {
	cfg  Config
	nc   *nats.Conn
	up   atomic.Bool
	subs []*nats.Subscription

	mu      sync.Mutex
	handler chat.BrokerHandler
	started bool
	wakeSem chan struct{}
}

var _ chat.Broker = (*NATS)(nil)

// Subjects, under the prefix. Events are sent by each node on
// <prefix>.ev.<node>; one wildcard subscription per node receives every
// other node's in publish order.
func (n *NATS) evSubject(node string) string { return n.cfg.Prefix + ".ev." + node }
func (n *NATS) wakeSubject() string          { return n.cfg.Prefix + ".wake" }
func (n *NATS) revSubject() string           { return n.cfg.Prefix + ".revoked" }

// Connect dials NATS. A broker that is down now is not an error: the
// connection keeps retrying in the background (Up reports false meanwhile)
// and the server serves alone until it is back.
func Connect(cfg Config) (*NATS, error) {
	if cfg.Node == "" || strings.ContainsAny(cfg.Node, ".*> \t\r\n") {
		return nil, fmt.Errorf("cluster: node name %q must be non-empty, without dots, spaces or wildcards", cfg.Node)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.WakeWorkers <= 0 {
		cfg.WakeWorkers = DefaultWakeWorkers
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &NATS{cfg: cfg, wakeSem: make(chan struct{}, cfg.WakeWorkers)}
	opts := []nats.Option{
		nats.Name("scca-chat " + cfg.Node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		// Never buffer while disconnected: a publish must fail at once so
		// the sender is told (cluster_unavailable), not queued for later.
		nats.ReconnectBufSize(-1),
		nats.ConnectHandler(func(*nats.Conn) { n.setUp(true) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { n.setUp(false) }),
		nats.ReconnectHandler(func(*nats.Conn) { n.setUp(true) }),
		nats.ErrorHandler(n.onAsyncError),
	}
	opts = append(opts, cfg.authOptions()...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to %s: %w", Redact(cfg.URL), err)
	}
	n.nc = nc
	n.up.Store(nc.IsConnected())
	return n, nil
}

// authOptions are the credentials and TLS trust for NATS. A user and
// password in the URL are used by nats.go as they are.
func (cfg *Config) authOptions() []nats.Option {
	var opts []nats.Option
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	return opts
}

// Redact removes any password from a NATS URL (list), for logs and errors.
func Redact(raw string) string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "(unparsable url)"
			continue
		}
		parts[i] = u.Redacted()
	}
	return strings.Join(parts, ",")
}

func (n *NATS) setUp(up bool) {
	was := n.up.Swap(up)
	if up == was {
		return
	}
	n.cfg.Logger.Info("cluster broker", "node", n.cfg.Node, "connected", up)
	n.mu.Lock()
	h, started := n.handler, n.started
	n.mu.Unlock()
	if up && started && h.Reconnected != nil {
		h.Reconnected()
	}
}

// onAsyncError reports a slow consumer: NATS dropped events for us.
func (n *NATS) onAsyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if !errors.Is(err, nats.ErrSlowConsumer) || sub == nil {
		n.cfg.Logger.Warn("cluster broker error", "node", n.cfg.Node, "err", err)
		return
	}
	dropped, _ := sub.Dropped()
	n.mu.Lock()
	h := n.handler
	n.mu.Unlock()
	if h.Lagged != nil && sub.Subject == n.evSubject("*") {
		h.Lagged(dropped)
	}
}

// Node implements chat.Broker.
func (n *NATS) Node() string { return n.cfg.Node }

// Up implements chat.Broker.
func (n *NATS) Up() bool { return n.up.Load() && n.nc.IsConnected() }

// Start implements chat.Broker: it subscribes to the other nodes' events,
// to wake-ups and to revocation hints.
func (n *NATS) Start(h chat.BrokerHandler) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started {
		return errors.New("cluster: already started")
	}
	own := n.evSubject(n.cfg.Node)
	ev, err := n.nc.Subscribe(n.evSubject("*"), func(m *nats.Msg) {
		if m.Subject != own && h.Event != nil {
			h.Event(strings.TrimPrefix(m.Subject, n.cfg.Prefix+".ev."), m.Data)
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe events: %w", err)
	}
	// Bounded: a node that cannot keep up loses events (and is told)
	// rather than making NATS or the publishers hold them.
	if err := ev.SetPendingLimits(n.cfg.MaxPending, 64<<20); err != nil {
		return err
	}
	wake, err := n.nc.Subscribe(n.wakeSubject(), n.onWake(h))
	if err != nil {
		return fmt.Errorf("subscribe wake-ups: %w", err)
	}
	rev, err := n.nc.Subscribe(n.revSubject(), func(*nats.Msg) {
		if h.Revoked != nil {
			h.Revoked()
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe revocations: %w", err)
	}
	n.subs = []*nats.Subscription{ev, wake, rev}
	n.handler, n.started = h, true
	return nil
}

// onWake serves a wake-up: the handler reads the recipient's queue from
// the database, so it runs off the subscription's goroutine, at most
// WakeWorkers at once; beyond that the wake-up waits in NATS's bounded
// pending queue.
func (n *NATS) onWake(h chat.BrokerHandler) nats.MsgHandler {
	return func(m *nats.Msg) {
		if h.Wake == nil {
			return
		}
		cn := string(m.Data)
		n.wakeSem <- struct{}{}
		go func() {
			defer func() { <-n.wakeSem }()
			if h.Wake(cn) && m.Reply != "" {
				_ = m.Respond([]byte("1"))
			}
		}()
	}
}

// Broadcast implements chat.Broker.
func (n *NATS) Broadcast(ev []byte) error {
	if !n.Up() {
		return errors.New("cluster broker unreachable")
	}
	return n.nc.Publish(n.evSubject(n.cfg.Node), ev)
}

// Wake implements chat.Broker. Only a node with a live session of cn
// answers, so without confirm nothing is waited for.
func (n *NATS) Wake(ctx context.Context, cn string, confirm bool) (bool, error) {
	if !n.Up() {
		return false, errors.New("cluster broker unreachable")
	}
	if !confirm {
		return false, n.nc.Publish(n.wakeSubject(), []byte(cn))
	}
	if _, err := n.nc.RequestWithContext(ctx, n.wakeSubject(), []byte(cn)); err != nil {
		return false, err
	}
	return true, nil
}

// HintRevocation implements chat.Broker.
func (n *NATS) HintRevocation() error {
	if !n.Up() {
		return errors.New("cluster broker unreachable")
	}
	if err := n.nc.Publish(n.revSubject(), nil); err != nil {
		return err
	}
	return n.nc.Flush()
}

// Close leaves the cluster: pending publishes are flushed first (bounded).
func (n *NATS) Close() {
	_ = n.nc.FlushTimeout(time.Second)
	n.nc.Close()
}

// HintRevocation tells every server of the cluster at url to read the
// revocation feed now (`scca revoke` calls it after the commit). It dials,
// publishes and waits for the broker to have it, within timeout.
func HintRevocation(cfg Config, timeout time.Duration) error {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	opts := append([]nats.Option{nats.Name("scca revoke"), nats.Timeout(timeout), nats.NoReconnect()}, cfg.authOptions()...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return fmt.Errorf("cluster: connect to %s: %w", Redact(cfg.URL), err)
	}
	defer nc.Close()
	if err := nc.Publish(cfg.Prefix+".revoked", nil); err != nil {
		return err
	}
	return nc.FlushTimeout(timeout)
}
