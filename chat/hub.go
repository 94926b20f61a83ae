package chat

import (
	"github.com/securechat/scca/chat/channel"

	"bytes"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
)

// maxRoomsPerSession bounds the rooms one session may be in.
const maxRoomsPerSession = 64

// certKey identifies a certificate as the inventory does: the issuer's key
// identifier (hex of the authority key identifier) and the serial in
// lower-case hex. Live revocation matches sessions by it.
type certKey struct{ issuerKeyID, serial string }

func certKeyOf(c *x509.Certificate) certKey {
	return certKey{issuerKeyID: hex.EncodeToString(c.AuthorityKeyId), serial: fmt.Sprintf("%x", c.SerialNumber)}
}

// chainKeys are the keys of a session's chain below its trust anchor: the
// leaf and each intermediate CA, so that revoking an intermediate ends the
// sessions of every certificate it issued, as it refuses their next
// handshake (docs/PROTOCOL.md §7.3). A self-issued certificate (the root)
// is not revoked, only removed from trust.
func chainKeys(chain []*x509.Certificate) []certKey {
	keys := make([]certKey, 0, len(chain))
	for i, c := range chain {
		if i > 0 && bytes.Equal(c.RawIssuer, c.RawSubject) {
			break
		}
		keys = append(keys, certKeyOf(c))
	}
	return keys
}

// member is one established session as the relay sees it.
type member struct {
	sess  *channel.Session
	cn    string
	certs []certKey // chainKeys: the leaf first, then its issuing CAs
	out   *outbox
	rooms map[string]struct{} // guarded by hub.mu

	// Direct-message delivery state (mailbox.go), guarded by dm.
	dm          sync.Mutex
	live        bool  // replay finished: new direct messages are pushed at once
	dirty       bool  // a direct message arrived during replay: read the queue again
	maxReplayed int64 // highest id sent by the replay; a live push at or below it is a repeat
	maxPushed   int64 // highest direct-message id handed to the outbox

	ack ackState // confirmations waiting for the store (mailbox.go)
}

// hub is the server's presence and room registry: who is online under which
// CN and certificate, and who is in which room.
type hub struct {
	mu      sync.RWMutex
	byCN    map[string]map[*member]struct{}
	byCert  map[certKey]map[*member]struct{}
	rooms   map[string]map[*member]struct{}
	revoked map[certKey]string // certificates the revocation feed reported, with the reason

	// dmLocks serialise "enqueue then push" per recipient (striped), so the
	// store's ids reach each recipient in increasing order and a cumulative
	// delivered confirmation never covers a message not yet pushed.
	dmLocks [64]sync.Mutex
	seed    maphash.Seed

	// cl shares presence with the other servers of a cluster; nil when
	// alone (cluster_relay.go). Its publishLocked runs under mu.
	cl *clusterState
}

func newHub() *hub {
	return &hub{
		byCN: make(map[string]map[*member]struct{}), byCert: make(map[certKey]map[*member]struct{}),
		rooms: make(map[string]map[*member]struct{}), revoked: make(map[certKey]string),
		seed: maphash.MakeSeed(),
	}
}

func (h *hub) dmLock(recipient string) *sync.Mutex {
	return &h.dmLocks[maphash.String(h.seed, recipient)%uint64(len(h.dmLocks))]
}

func addTo[K comparable](m map[K]map[*member]struct{}, k K, mb *member) {
	set := m[k]
	if set == nil {
		set = make(map[*member]struct{})
		m[k] = set
	}
	set[mb] = struct{}{}
}

func removeFrom[K comparable](m map[K]map[*member]struct{}, k K, mb *member) {
	delete(m[k], mb)
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

// register makes m visible to relays and revocation. If the certificate
// was already reported revoked (a revocation racing the handshake), it
// returns the reason and registers nothing.
func (h *hub) register(m *member) (revokedReason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range m.certs {
		if r, ok := h.revoked[k]; ok {
			return r
		}
	}
	addTo(h.byCN, m.cn, m)
	for _, k := range m.certs {
		addTo(h.byCert, k, m)
	}
	h.cl.publishLocked(clusterEvent{K: evOnline, CN: m.cn})
	return ""
}

// unregister removes m everywhere and tells each of its rooms it left.
func (h *hub) unregister(m *member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	removeFrom(h.byCN, m.cn, m)
	for _, k := range m.certs {
		removeFrom(h.byCert, k, m)
	}
	for room := range m.rooms {
		h.leaveLocked(m, room)
	}
	h.cl.publishLocked(clusterEvent{K: evOffline, CN: m.cn})
}

// revoke records a revoked certificate and ends its live sessions: those
// of the certificate itself and, for an intermediate CA, those of every
// certificate it issued.
func (h *hub) revoke(k certKey, reason string) int {
	h.mu.Lock()
	h.revoked[k] = reason
	victims := make([]*member, 0, len(h.byCert[k]))
	for m := range h.byCert[k] {
		victims = append(victims, m)
	}
	h.mu.Unlock()
	for _, m := range victims {
		m.sess.Kill(CodeCertificateRevoked, reason)
	}
	return len(victims)
}

func (h *hub) isRevoked(k certKey) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	_, ok := h.revoked[k]
	return ok
}

// join adds m to room, announces it to the others and returns the members.
func (h *hub) join(m *member, room string) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, in := m.rooms[room]; !in {
		if len(m.rooms) >= maxRoomsPerSession {
			return nil, fmt.Errorf("already in %d rooms", maxRoomsPerSession)
		}
		h.announceLocked(room, m, EventJoin)
		addTo(h.rooms, room, m)
		m.rooms[room] = struct{}{}
		h.cl.publishLocked(clusterEvent{K: evJoin, Room: room, CN: m.cn})
	}
	return h.membersLocked(room), nil
}

// leave removes m from room; it reports whether m was in it.
func (h *hub) leave(m *member, room string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, in := m.rooms[room]; !in {
		return false
	}
	h.leaveLocked(m, room)
	return true
}

func (h *hub) leaveLocked(m *member, room string) {
	delete(m.rooms, room)
	removeFrom(h.rooms, room, m)
	h.announceLocked(room, m, EventLeave)
	h.cl.publishLocked(clusterEvent{K: evLeave, Room: room, CN: m.cn})
}

// announceLocked pushes a presence event to every member of room but m.
func (h *hub) announceLocked(room string, m *member, kind string) {
	ev := outRecord{typ: typeEvent, pt: marshal(eventBody{Kind: kind, Room: room, CN: m.cn})}
	for other := range h.rooms[room] {
		if other != m {
			other.pushOrKill(ev)
		}
	}
}

// membersLocked lists the distinct CNs in room, sorted.
func (h *hub) membersLocked(room string) []string {
	return truncList(mergeNames(distinctCNs(h.rooms[room]), h.cl.roomMembers(room)))
}

func distinctCNs(set map[*member]struct{}) []string {
	cns := make([]string, 0, len(set))
	for m := range set {
		cns = append(cns, m.cn)
	}
	slices.Sort(cns)
	return slices.Compact(cns)
}

// who lists a room's members, or with room "" everyone online.
func (h *hub) who(room string) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if room != "" {
		return h.membersLocked(room)
	}
	cns := make([]string, 0, len(h.byCN))
	for cn := range h.byCN {
		cns = append(cns, cn)
	}
	return truncList(mergeNames(cns, h.cl.online()))
}

// roomNames lists the rooms that have members, sorted.
func (h *hub) roomNames() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	names := make([]string, 0, len(h.rooms))
	for r := range h.rooms {
		names = append(names, r)
	}
	return truncList(mergeNames(names, h.cl.roomNames()))
}

// truncList keeps a reply within maxListLen names (and so within a frame).
func truncList(s []string) []string { return s[:min(len(s), maxListLen)] }

// fanOut pushes a room message to every member of room except the sending
// session; it reports false if from is not in the room.
func (h *hub) fanOut(from *member, room string, rec outRecord) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if _, in := h.rooms[room][from]; !in {
		return false
	}
	for m := range h.rooms[room] {
		if m != from {
			m.pushOrKill(rec)
		}
	}
	return true
}

// pushOrKill queues a live record for m; if m's queue is full, m is too
// slow to keep up and its session is ended (§12.4) rather than letting it
// hold back everyone else.
func (m *member) pushOrKill(r outRecord) {
	if !m.out.push(r) {
		m.sess.Kill(CodeSlowConsumer, fmt.Sprintf("more than %d records waiting to be sent", m.out.size))
	}
}
