package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// The relay's side of a cluster (docs/CLUSTER.md): what a Server does with
// a Broker. Everything here is a no-op for a server without one.

// clusterState is a Server's link to the other nodes.
type clusterState struct {
	b    Broker
	cfg  ClusterConfig
	srv  *Server
	peer replica
}

func newClusterState(s *Server, cfg ClusterConfig) *clusterState {
	if cfg.Broker == nil {
		return nil
	}
	cfg.Heartbeat = orDefault(cfg.Heartbeat, DefaultHeartbeat)
	cfg.WakeTimeout = orDefault(cfg.WakeTimeout, DefaultWakeTimeout)
	return &clusterState{b: cfg.Broker, cfg: cfg, srv: s, peer: replica{nodes: map[string]*remoteNode{}}}
}

// publishLocked broadcasts a presence change; the hub calls it under h.mu
// (see snapshotLocked). A failure is only logged: the next heartbeat after
// the broker returns carries the whole presence again.
func (c *clusterState) publishLocked(ev clusterEvent) {
	if c == nil || !c.b.Up() {
		return
	}
	if err := c.b.Broadcast(encodeEvent(&ev)); err != nil {
		c.srv.log.Debug("presence not broadcast", "err", err)
	}
}

// start subscribes and runs the heartbeat until stop closes.
func (c *clusterState) start(stop <-chan struct{}) error {
	err := c.b.Start(BrokerHandler{
		Event:       c.onEvent,
		Wake:        c.srv.pullDirect,
		Revoked:     func() { signal(c.srv.revWake) },
		Lagged:      c.onLagged,
		Reconnected: c.onReconnected,
	})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	c.srv.wg.Add(1)
	go func() {
		defer c.srv.wg.Done()
		c.heartbeat(stop)
	}()
	return nil
}

// heartbeat sends this node's presence every period and drops nodes not
// heard from for nodeMissedBeats periods, announcing their members as
// gone. While the broker is down nobody is dropped: silence then says
// nothing about the others.
func (c *clusterState) heartbeat(stop <-chan struct{}) {
	tick := time.NewTicker(c.cfg.Heartbeat)
	defer tick.Stop()
	h := c.srv.hub
	for {
		select {
		case <-stop:
			h.mu.RLock()
			c.publishLocked(clusterEvent{K: evBye})
			h.mu.RUnlock()
			return
		case <-tick.C:
		}
		if !c.b.Up() {
			continue
		}
		h.mu.RLock()
		c.publishLocked(h.snapshotLocked())
		h.mu.RUnlock()
		now := c.srv.now()
		for _, rooms := range c.peer.expire(now.Add(-nodeMissedBeats * c.cfg.Heartbeat)) {
			c.announceGone(rooms)
		}
	}
}

func (c *clusterState) onReconnected() {
	c.srv.log.Info("cluster broker reachable again")
	c.peer.touch(c.srv.now())
	h := c.srv.hub
	h.mu.RLock()
	c.publishLocked(h.snapshotLocked())
	h.mu.RUnlock()
}

// onEvent applies another node's event: room messages and presence changes
// reach the local members of the room.
func (c *clusterState) onEvent(node string, raw []byte) {
	var ev clusterEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		c.srv.log.Warn("malformed cluster event ignored", "from_node", node, "err", err)
		return
	}
	h := c.srv.hub
	switch ev.K {
	case evMessage:
		rec := outRecord{typ: typeDeliver, pt: marshal(deliverBody{ID: ev.ID, From: ev.CN, Room: ev.Room, TS: ev.TS, Text: ev.Text})}
		h.pushRoom(ev.Room, nil, rec)
		return
	case evJoin, evLeave:
		kind := EventJoin
		if ev.K == evLeave {
			kind = EventLeave
		}
		c.peer.apply(node, &ev, c.srv.now())
		h.pushRoom(ev.Room, nil, outRecord{typ: typeEvent, pt: marshal(eventBody{Kind: kind, Room: ev.Room, CN: ev.CN})})
		return
	}
	if gone := c.peer.apply(node, &ev, c.srv.now()); gone != nil {
		c.announceGone(gone)
	}
}

// announceGone tells local room members that a vanished node's members left.
func (c *clusterState) announceGone(rooms map[string]map[string]int) {
	for room, cns := range rooms {
		for cn := range cns {
			c.srv.hub.pushRoom(room, nil, outRecord{typ: typeEvent, pt: marshal(eventBody{Kind: EventLeave, Room: room, CN: cn})})
		}
	}
}

// onLagged: the broker dropped events meant for this node (it read them
// too slowly), so local room members may have missed messages. As for a
// slow session (§12.4), they are ended rather than left with a silent gap.
func (c *clusterState) onLagged(n int) {
	c.srv.log.Warn("this server fell behind the cluster; ending sessions in rooms", "dropped", n)
	h := c.srv.hub
	h.mu.RLock()
	var victims []*member
	for _, set := range h.rooms {
		for m := range set {
			victims = append(victims, m)
		}
	}
	h.mu.RUnlock()
	for _, m := range victims {
		m.sess.Kill(CodeSlowConsumer, "this server fell behind the other servers; room messages were lost")
	}
}

// pushRoom pushes rec to every local member of room except skip.
func (h *hub) pushRoom(room string, skip *member, rec outRecord) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for m := range h.rooms[room] {
		if m != skip {
			m.pushOrKill(rec)
		}
	}
}

// inRoom reports whether m is in room.
func (h *hub) inRoom(m *member, room string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	_, in := h.rooms[room][m]
	return in
}

// relayRoom is a room message's trip to the other nodes, before the local
// fan-out. ok false means the message must not be delivered at all, with
// res saying why: the sender is not in the room, or the room has members
// elsewhere and the broker cannot be reached (no member gets it, so a
// retry cannot duplicate it).
func (c *clusterState) relayRoom(m *member, req sendReq, id, ts int64) (res sentBody, ok bool) {
	if c == nil {
		return sentBody{}, true
	}
	res = sentBody{ClientMsgID: req.ClientMsgID, TS: ts}
	if !c.srv.hub.inRoom(m, req.Room) {
		return rejected(res, ReasonNotInRoom, "join "+req.Room+" before sending to it"), false
	}
	var err error
	if c.b.Up() {
		err = c.b.Broadcast(encodeEvent(&clusterEvent{K: evMessage, Room: req.Room, CN: m.cn, ID: id, TS: ts, Text: req.Text}))
	} else {
		err = errBrokerDown
	}
	if err != nil && c.peer.hasRoom(req.Room) {
		c.srv.log.Warn("room message refused: other servers unreachable", "room", req.Room, "err", err)
		return rejected(res, ReasonClusterUnavailable, "members of "+req.Room+" on other servers cannot be reached now; nothing was delivered"), false
	}
	return res, true
}

var errBrokerDown = fmt.Errorf("broker unreachable")

// directPrecheck refuses a direct message that would need another server
// while the broker is down: the recipient may be live elsewhere, where it
// could not be told. Nothing is stored then.
func (c *clusterState) directPrecheck(to string, res sentBody) (sentBody, bool) {
	if c == nil || c.b.Up() || c.srv.hub.hasLocal(to) {
		return res, true
	}
	return rejected(res, ReasonClusterUnavailable, "the other servers cannot be reached now, so "+to+" cannot be reached; the message was not stored"), false
}

func (h *hub) hasLocal(cn string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.byCN[cn]) > 0
}

// deliverDirect pushes a committed direct message to the recipient's live
// sessions: here, and through the broker on the other nodes. In a cluster
// the message is not pushed as given but read back from the queue
// (pullDirect): commits to one recipient from several servers are ordered
// by the database, not by one server's lock, so reading the queue is the
// only way to hand the ids over in increasing order without a gap.
func (s *Server) deliverDirect(to string, id int64, rec outRecord) bool {
	c := s.cl
	if c == nil {
		return s.hub.pushDirect(to, id, rec)
	}
	delivered := s.pullDirect(to)
	if !c.b.Up() {
		return delivered
	}
	confirm := !delivered && c.peer.isOnline(to)
	ctx, cancel := context.WithTimeout(s.base, c.cfg.WakeTimeout)
	defer cancel()
	remote, err := c.b.Wake(ctx, to, confirm)
	if err != nil && confirm {
		s.log.Info("no server confirmed a live delivery; the message stays queued", "to", to, "err", err)
	}
	return delivered || remote
}

// pullDirect hands cn's queued messages that its live sessions on this node
// have not had yet to them; it reports whether one of them is live.
func (s *Server) pullDirect(cn string) bool {
	if s.cfg.Mailbox == nil {
		return false
	}
	s.hub.mu.RLock()
	ms := make([]*member, 0, len(s.hub.byCN[cn]))
	for m := range s.hub.byCN[cn] {
		ms = append(ms, m)
	}
	s.hub.mu.RUnlock()
	live := false
	for _, m := range ms {
		if s.pullMember(m) {
			live = true
		}
	}
	return live
}

// pullMember reads m's queue after the last id pushed to it and pushes the
// rest, in order. A member still replaying is only marked dirty: its replay
// reads the queue again before going live.
func (s *Server) pullMember(m *member) bool {
	m.dm.Lock()
	defer m.dm.Unlock()
	if !m.live {
		m.dirty = true
		return false
	}
	for {
		rows, err := s.pending(m.cn, m.maxPushed)
		if err != nil {
			s.log.Warn("reading queued messages failed", "cn", m.cn, "err", err)
			return false
		}
		for _, r := range rows {
			m.maxPushed = r.ID
			m.pushOrKill(outRecord{typ: typeDeliver, pt: marshal(deliverBody{ID: r.ID, From: r.Sender,
				TS: r.SentAt.UnixMilli(), Text: string(r.Body)})})
		}
		if len(rows) < replayBatch {
			return true
		}
	}
}

// Nil-safe views of the other nodes' presence, for the hub's replies.

func (c *clusterState) roomMembers(room string) []string {
	if c == nil {
		return nil
	}
	return c.peer.roomMembers(room)
}

func (c *clusterState) online() []string {
	if c == nil {
		return nil
	}
	return c.peer.online()
}

func (c *clusterState) roomNames() []string {
	if c == nil {
		return nil
	}
	return c.peer.roomNames()
}
