package chat

import (
	"context"
	"time"
)

// Several servers as one (docs/CLUSTER.md). A Server with a Broker shares
// presence, rooms, direct-message wake-ups and revocation hints with the
// other servers on the same broker; the inventory database stays the
// system of record (durable queue, revocations). The channel code
// (handshake, records) knows nothing of this: only the relay side (hub,
// relay, mailbox, revwatch) calls the Broker, through the hooks in
// cluster_relay.go.

// Broker carries messages between the servers of a cluster. The chat
// package only moves opaque bytes through it; chat/cluster implements it
// on NATS. Methods may be called concurrently.
type Broker interface {
	// Node is this server's name in the cluster, unique among its servers.
	Node() string
	// Start begins delivering the other nodes' traffic to h; called once.
	Start(h BrokerHandler) error
	// Up reports whether the broker is reachable now.
	Up() bool
	// Broadcast sends ev to every other node. Events of one node reach
	// each other node in the order they were broadcast, or not at all
	// (BrokerHandler.Lagged says so). It fails, sending nothing, when the
	// broker is unreachable: it never buffers for later.
	Broadcast(ev []byte) error
	// Wake tells the nodes where cn has live sessions that a direct
	// message for cn was committed. With confirm it waits (bounded by
	// ctx) for one of them to answer that a live session took it;
	// without, it returns at once with false.
	Wake(ctx context.Context, cn string, confirm bool) (bool, error)
	// HintRevocation tells every node (this one too) to read the
	// revocation feed now.
	HintRevocation() error
}

// BrokerHandler receives the other nodes' traffic. Event calls come from
// one goroutine, in each node's order; the others may be concurrent.
type BrokerHandler struct {
	Event func(node string, ev []byte)
	// Wake reports whether a live session of cn took its queued messages.
	Wake func(cn string) bool
	// Revoked asks for an immediate read of the revocation feed.
	Revoked func()
	// Lagged: this node fell behind and dropped n events of the others.
	Lagged func(n int)
	// Reconnected: the broker is reachable again after an outage.
	Reconnected func()
}

// ClusterConfig configures a Server's place in a cluster.
type ClusterConfig struct {
	Broker Broker // nil: the server works alone
	// Heartbeat is how often this server sends its whole presence to the
	// others (DefaultHeartbeat); a node not heard from for three
	// heartbeats is dropped with its members.
	Heartbeat time.Duration
	// WakeTimeout bounds the wait for another server to confirm a live
	// direct-message delivery (DefaultWakeTimeout); past it the message
	// counts as queued (it is committed and replayed on the next connect).
	WakeTimeout time.Duration
}

// Cluster defaults.
const (
	DefaultHeartbeat   = time.Second
	DefaultWakeTimeout = time.Second
	// nodeMissedBeats is how many heartbeats a node may miss before it
	// counts as gone (killed, cut off).
	nodeMissedBeats = 3
)

// ReasonClusterUnavailable rejects a send that needs another server while
// the broker cannot be reached (§12.2): nothing was delivered or stored.
const ReasonClusterUnavailable = "cluster_unavailable"
