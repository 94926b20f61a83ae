package chat

import (
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"
)

// Presence across servers (docs/CLUSTER.md): each node broadcasts its
// changes (a session online/offline, a join, a leave) as they happen, and
// its whole presence every heartbeat; every node keeps a replica of the
// others'. The replica answers who/rooms and tells a sender whether a room
// or a recipient has members elsewhere.

// Cluster event kinds (the "k" member of a clusterEvent).
const (
	evMessage = "msg"     // a room message
	evJoin    = "join"    // a session of cn joined room
	evLeave   = "leave"   // a session of cn left room
	evOnline  = "online"  // a session of cn registered
	evOffline = "offline" // a session of cn ended
	evSnap    = "snap"    // the node's whole presence
	evBye     = "bye"     // the node is shutting down
)

// clusterEvent is what nodes broadcast to each other. It never reaches a
// client as is: a room message becomes a deliver record, a join or leave
// an event record, built by the receiving node.
type clusterEvent struct {
	K      string                    `json:"k"`
	Room   string                    `json:"room,omitempty"`
	CN     string                    `json:"cn,omitempty"`
	ID     int64                     `json:"id,omitempty"`
	TS     int64                     `json:"ts,omitempty"`
	Text   string                    `json:"text,omitempty"`
	Online map[string]int            `json:"online,omitempty"` // snap: sessions per CN
	Rooms  map[string]map[string]int `json:"rooms,omitempty"`  // snap: sessions per CN per room
}

// remoteNode is the replica of one other node's presence.
type remoteNode struct {
	seen   time.Time
	online map[string]int
	rooms  map[string]map[string]int
}

func newRemoteNode(now time.Time) *remoteNode {
	return &remoteNode{seen: now, online: map[string]int{}, rooms: map[string]map[string]int{}}
}

// replica holds every other node's presence.
type replica struct {
	mu    sync.Mutex
	nodes map[string]*remoteNode
}

func bump(m map[string]int, k string, d int) {
	if m[k] += d; m[k] <= 0 {
		delete(m, k)
	}
}

// apply updates node's replica with ev; it returns the node's room members
// that are gone when ev is a bye, so they can be announced as leaving.
func (r *replica) apply(node string, ev *clusterEvent, now time.Time) (gone map[string]map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.nodes[node]
	if n == nil {
		n = newRemoteNode(now)
		r.nodes[node] = n
	}
	n.seen = now
	switch ev.K {
	case evOnline:
		bump(n.online, ev.CN, 1)
	case evOffline:
		bump(n.online, ev.CN, -1)
	case evJoin, evLeave:
		d := 1
		if ev.K == evLeave {
			d = -1
		}
		if n.rooms[ev.Room] == nil {
			n.rooms[ev.Room] = map[string]int{}
		}
		if bump(n.rooms[ev.Room], ev.CN, d); len(n.rooms[ev.Room]) == 0 {
			delete(n.rooms, ev.Room)
		}
	case evSnap:
		n.online, n.rooms = orEmpty(ev.Online), ev.Rooms
		if n.rooms == nil {
			n.rooms = map[string]map[string]int{}
		}
	case evBye:
		delete(r.nodes, node)
		return n.rooms
	}
	return nil
}

func orEmpty(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}

// expire drops the nodes not heard from since before; it returns their
// room members, to be announced as leaving.
func (r *replica) expire(before time.Time) []map[string]map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []map[string]map[string]int
	for name, n := range r.nodes {
		if n.seen.Before(before) {
			delete(r.nodes, name)
			gone = append(gone, n.rooms)
		}
	}
	return gone
}

// touch marks every node as just heard from: after our own outage the
// others get a full heartbeat period to be heard again.
func (r *replica) touch(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.nodes {
		n.seen = now
	}
}

// roomMembers lists the CNs in room on other nodes.
func (r *replica) roomMembers(room string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var cns []string
	for _, n := range r.nodes {
		cns = slices.AppendSeq(cns, maps.Keys(n.rooms[room]))
	}
	return cns
}

// hasRoom reports whether room has members on another node.
func (r *replica) hasRoom(room string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.nodes {
		if len(n.rooms[room]) > 0 {
			return true
		}
	}
	return false
}

// isOnline reports whether cn has a live session on another node.
func (r *replica) isOnline(cn string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.nodes {
		if n.online[cn] > 0 {
			return true
		}
	}
	return false
}

// online lists the CNs online on other nodes.
func (r *replica) online() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var cns []string
	for _, n := range r.nodes {
		cns = slices.AppendSeq(cns, maps.Keys(n.online))
	}
	return cns
}

// roomNames lists the rooms with members on other nodes.
func (r *replica) roomNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, n := range r.nodes {
		names = slices.AppendSeq(names, maps.Keys(n.rooms))
	}
	return names
}

// snapshotLocked is this node's presence as a snap event. Called under
// h.mu, like every delta, so a snapshot and the deltas are broadcast in the
// order of the changes they describe.
func (h *hub) snapshotLocked() clusterEvent {
	ev := clusterEvent{K: evSnap, Online: make(map[string]int, len(h.byCN)), Rooms: make(map[string]map[string]int, len(h.rooms))}
	for cn, set := range h.byCN {
		ev.Online[cn] = len(set)
	}
	for room, set := range h.rooms {
		per := make(map[string]int, len(set))
		for m := range set {
			per[m.cn]++
		}
		ev.Rooms[room] = per
	}
	return ev
}

// mergeNames adds other to local, sorted, without repeats.
func mergeNames(local, other []string) []string {
	all := append(local, other...)
	slices.Sort(all)
	return slices.Compact(all)
}

func encodeEvent(ev *clusterEvent) []byte {
	b, _ := json.Marshal(ev) // strings, ints and maps of them: cannot fail
	return b
}
