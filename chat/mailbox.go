package chat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/securechat/scca/inventory"
)

// Mailbox is the durable per-recipient message queue direct messages go
// through (docs/PROTOCOL.md §12.3); *certstore.Store implements it.
type Mailbox interface {
	// Enqueue commits msgs (all or nothing) and returns their ids, strictly
	// increasing; inventory.ErrQueueFull past lim.PerRecipient,
	// inventory.ErrQuotaExceeded (a *inventory.QuotaError) past a sender or
	// total quota, inventory.ErrDuplicate for a (recipient, msg_id) already
	// queued.
	Enqueue(ctx context.Context, msgs []inventory.QueuedMessage, lim inventory.QueueLimits) ([]int64, error)
	// Pending returns up to limit of recipient's messages after afterID, by id.
	Pending(ctx context.Context, recipient string, afterID int64, limit int) ([]inventory.QueuedMessage, error)
	// AckDelivered deletes recipient's messages up to and including uptoID.
	AckDelivered(ctx context.Context, recipient string, uptoID int64) (int64, error)
}

// Directory answers whether a CN may receive direct messages: it names an
// active client certificate (docs/PROTOCOL.md §12.3). *certstore.Store
// implements it; a server whose Mailbox does and whose Directory is nil
// uses the Mailbox.
type Directory interface {
	ActiveClient(ctx context.Context, cn string) (bool, error)
}

const (
	// DefaultQueueLimit bounds each recipient's durable queue; a send past
	// it is rejected with reason queue_full (the sender keeps the message).
	DefaultQueueLimit = 1000
	// DefaultSenderQuota and DefaultSenderQuotaBytes bound what one sender
	// may have waiting for offline recipients, all recipients together, so
	// one client cannot fill the disk; a send past either is rejected with
	// reason quota_exceeded.
	DefaultSenderQuota      = 5000
	DefaultSenderQuotaBytes = 64 << 20
	// DefaultTotalQuota and DefaultTotalQuotaBytes bound the whole durable
	// queue, every sender together.
	DefaultTotalQuota      = 1_000_000
	DefaultTotalQuotaBytes = 1 << 30
	// replayBatch is how many queued messages one Pending call reads.
	replayBatch = 100
	// storeTimeout bounds one store call made for a session.
	storeTimeout = 5 * time.Second
	// storeRetry is the pause before retrying a failed replay read.
	storeRetry = time.Second
)

// Reasons in rejected sent responses (§12.2).
const (
	ReasonNoStore          = "no_store"
	ReasonStoreUnavailable = "store_unavailable"
	ReasonQueueFull        = "queue_full"
	ReasonQuotaExceeded    = "quota_exceeded"
	ReasonNotInRoom        = "not_in_room"
	ReasonUnknownRecipient = "unknown_recipient"
)

// storeMsgID is the msg_id a direct message is stored under: a hash of the
// sender and its client_msg_id, so a retried send (same client_msg_id) is
// recognised as a duplicate while two senders' ids never collide. Without
// a client_msg_id the id is random: such a send cannot be deduplicated.
func storeMsgID(sender, clientMsgID string) string {
	if clientMsgID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		return "r" + hex.EncodeToString(b[:])
	}
	h := sha256.Sum256([]byte(sender + "\x00" + clientMsgID))
	return "c" + hex.EncodeToString(h[:20])
}

// sendDirect stores a direct message, then pushes it to every live session
// of the recipient. The sender is answered only after the commit, so an
// acknowledged direct message is durable (§12.3).
func (s *Server) sendDirect(from *member, req sendReq, now time.Time) sentBody {
	res := sentBody{ClientMsgID: req.ClientMsgID, TS: now.UnixMilli()}
	mb := s.cfg.Mailbox
	if mb == nil {
		return rejected(res, ReasonNoStore, "this server keeps no message store, so it takes no direct messages")
	}
	ctx, cancel := context.WithTimeout(s.base, storeTimeout)
	defer cancel()
	if dir := s.directory(); dir != nil {
		// Only someone who could connect may have messages kept: a CN
		// never issued, or only revoked, would fill the disk for nobody.
		ok, err := dir.ActiveClient(ctx, req.To)
		switch {
		case err != nil:
			s.log.Warn("recipient lookup failed", "err", err)
			return rejected(res, ReasonStoreUnavailable, "the message store cannot be reached; the message was not sent")
		case !ok:
			return rejected(res, ReasonUnknownRecipient, "no active client certificate has that name")
		}
	}
	if r, ok := s.cl.directPrecheck(req.To, res); !ok {
		return r
	}
	lk := s.hub.dmLock(req.To)
	lk.Lock()
	defer lk.Unlock()
	ids, err := mb.Enqueue(ctx, []inventory.QueuedMessage{{Recipient: req.To, Sender: from.cn,
		MsgID: storeMsgID(from.cn, req.ClientMsgID), Body: []byte(req.Text), SentAt: now}}, s.queueLimits())
	var quota *inventory.QuotaError
	switch {
	case errors.Is(err, inventory.ErrQueueFull):
		return rejected(res, ReasonQueueFull, fmt.Sprintf("%s has %d messages waiting", req.To, s.cfg.QueueLimit))
	case errors.As(err, &quota):
		return s.overQuota(res, quota)
	case errors.Is(err, inventory.ErrDuplicate):
		res.Status = StatusDuplicate
		return res
	case err != nil:
		s.log.Warn("message store unavailable", "err", err)
		return rejected(res, ReasonStoreUnavailable, "the message store cannot be reached; the message was not sent")
	}
	res.ID = ids[0]
	d := outRecord{typ: typeDeliver, pt: marshal(deliverBody{ID: res.ID, From: from.cn, TS: res.TS, Text: req.Text})}
	res.Status = StatusQueued
	if s.deliverDirect(req.To, res.ID, d) {
		res.Status = StatusDelivered
	}
	return res
}

// queueLimits are the bounds of the durable queue for one Enqueue, with a
// negative quota (none) passed as 0.
func (s *Server) queueLimits() inventory.QueueLimits {
	return inventory.QueueLimits{
		PerRecipient: s.cfg.QueueLimit,
		PerSender:    max(s.cfg.SenderQuota, 0), PerSenderBytes: max(s.cfg.SenderQuotaBytes, 0),
		Total: max(s.cfg.TotalQuota, 0), TotalBytes: max(s.cfg.TotalQuotaBytes, 0),
	}
}

// overQuota answers a direct message refused by a quota (§12.3). The
// sender learns its own usage; of the total only that it is reached, which
// the operator also sees in the log.
func (s *Server) overQuota(res sentBody, q *inventory.QuotaError) sentBody {
	if q.Scope == inventory.QuotaSender {
		return rejected(res, ReasonQuotaExceeded, fmt.Sprintf(
			"you have %d %s waiting for offline recipients, the most this server keeps per sender is %d", q.Queued, q.Unit, q.Limit))
	}
	s.log.Warn("direct message refused: the queue for offline recipients is full", "unit", q.Unit, "queued", q.Queued, "limit", q.Limit)
	return rejected(res, ReasonQuotaExceeded, "the server's queue for offline recipients is full")
}

// quotaOrDefault is v, or def when v is 0.
func quotaOrDefault[T int | int64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

func rejected(res sentBody, reason, detail string) sentBody {
	res.Status, res.Reason = StatusRejected, reason+": "+detail
	return res
}

// pushDirect hands a stored direct message to every live session of cn;
// it reports whether at least one took it. Called under cn's dmLock.
func (h *hub) pushDirect(cn string, id int64, rec outRecord) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	pushed := false
	for m := range h.byCN[cn] {
		if m.pushDM(id, rec) {
			pushed = true
		}
	}
	return pushed
}

// pushDM pushes a stored direct message unless m is still replaying its
// queue (the replay will read it) or already sent it during replay.
func (m *member) pushDM(id int64, rec outRecord) bool {
	m.dm.Lock()
	defer m.dm.Unlock()
	switch {
	case !m.live:
		m.dirty = true
		return false
	case id <= m.maxReplayed:
		return true
	}
	m.maxPushed = max(m.maxPushed, id)
	m.pushOrKill(rec)
	return true
}

// replayQueued sends m everything queued for its CN, in id order, before any live
// direct message, then switches m to live delivery. A message committed
// during the replay marks m dirty, so the queue is read again before the
// switch: none is skipped and none is sent twice (§12.3).
func (s *Server) replayQueued(m *member, quit <-chan struct{}) {
	if s.cfg.Mailbox == nil {
		m.dm.Lock()
		m.live = true
		m.dm.Unlock()
		return
	}
	var after int64
	for {
		rows, err := s.pending(m.cn, after)
		if err != nil {
			s.log.Warn("reading queued messages failed; retrying", "cn", m.cn, "err", err)
			select {
			case <-quit:
				return
			case <-time.After(storeRetry):
				continue
			}
		}
		for _, r := range rows {
			rec := outRecord{typ: typeDeliver, pt: marshal(deliverBody{ID: r.ID, From: r.Sender,
				TS: r.SentAt.UnixMilli(), Text: string(r.Body)})}
			// Record the id before the push: the writer may send it and
			// the client confirm it before pushWait even returns, and a
			// confirmation beyond maxPushed is a protocol error.
			m.dm.Lock()
			m.maxReplayed, m.maxPushed = r.ID, max(m.maxPushed, r.ID)
			m.dm.Unlock()
			if !m.out.pushWait(rec) {
				return
			}
			after = r.ID
		}
		if len(rows) == replayBatch {
			continue
		}
		m.dm.Lock()
		if !m.dirty {
			m.live = true
			m.dm.Unlock()
			return
		}
		m.dirty = false
		m.dm.Unlock()
	}
}

func (s *Server) pending(cn string, after int64) ([]inventory.QueuedMessage, error) {
	ctx, cancel := context.WithTimeout(s.base, storeTimeout)
	defer cancel()
	return s.cfg.Mailbox.Pending(ctx, cn, after, replayBatch)
}

// confirm handles delivered{id}: the client has every direct message up
// to id, so the store may delete them. A confirmation beyond what was sent
// is a protocol error. If the store cannot take it now, it is retried with
// the next confirmation and when the session ends; until then the
// messages stay queued and a new session would receive them again.
func (s *Server) confirm(m *member, id int64) error {
	m.dm.Lock()
	sent := m.maxPushed
	m.dm.Unlock()
	if id > sent {
		return fmt.Errorf("%w: delivered %d, but only up to %d was sent", ErrProtocol, id, sent)
	}
	m.ack.note(id)
	return nil
}

// ackState holds the highest confirmation the store has not taken yet. The
// session's reader only notes it; applyConfirms passes it to the store. A
// confirmation is thus never waiting unread in the socket behind a store
// call: when a receiver crashes (its kernel resets the connection, and a
// reset discards what the server has not read yet), every confirmation it
// sent before is already noted, and the session's end applies it.
type ackState struct {
	mu      sync.Mutex
	pending int64
	kick    chan struct{} // capacity 1: "pending changed"
}

func (a *ackState) note(id int64) {
	a.mu.Lock()
	a.pending = max(a.pending, id)
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default: // a kick is already waiting; it will see the new value
	}
}

// applyConfirms passes confirmations to the store as they are noted, until
// quit; the session's end calls flushConfirm once more for the last one.
func (s *Server) applyConfirms(m *member, quit <-chan struct{}) {
	var retry <-chan time.Time // set while the store refused the last one
	for {
		select {
		case <-quit:
			return
		case <-m.ack.kick:
		case <-retry:
		}
		retry = nil
		if !s.flushConfirm(m) {
			// Not left for the next confirmation, which may never come
			// (the last batch of a session): the messages would stay
			// queued and be delivered again.
			retry = time.After(storeRetry)
		}
	}
}

// flushConfirm passes the highest pending confirmation to the store and
// reports whether nothing is left pending. If the store cannot take it now,
// it stays pending (applyConfirms retries, and the session's end tries once
// more); until then the messages stay queued and a new session would
// receive them again.
func (s *Server) flushConfirm(m *member) bool {
	m.ack.mu.Lock()
	upto := m.ack.pending
	m.ack.mu.Unlock()
	if upto == 0 || s.cfg.Mailbox == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(s.base, storeTimeout)
	defer cancel()
	if _, err := s.cfg.Mailbox.AckDelivered(ctx, m.cn, upto); err != nil {
		s.log.Warn("confirming delivery failed; will retry", "cn", m.cn, "err", err)
		return false
	}
	m.ack.mu.Lock()
	if m.ack.pending == upto {
		m.ack.pending = 0
	}
	m.ack.mu.Unlock()
	return true
}

// directory is the configured Directory, else the Mailbox if it is one.
func (s *Server) directory() Directory {
	if s.cfg.Directory != nil {
		return s.cfg.Directory
	}
	d, _ := s.cfg.Mailbox.(Directory)
	return d
}
