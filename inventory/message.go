package inventory

import (
	"errors"
	"fmt"
	"time"
)

// QueuedMessage is one message waiting in a recipient's durable queue, kept
// in the inventory database for users who are offline.
type QueuedMessage struct {
	ID        int64     // assigned by Enqueue, strictly increasing per store (auto-increment)
	Recipient string    // recipient's certificate CN
	Sender    string    // sender's authenticated CN
	Room      string    // "" for a direct message
	MsgID     string    // the server-assigned message id (opaque, <= 64 chars), unique per (recipient, msg_id)
	Body      []byte    // opaque bytes; the chat layer decides the format and any encryption at rest
	SentAt    time.Time // server timestamp, UTC, microseconds; zero means now
}

// MaxBodySize is the largest QueuedMessage.Body a store accepts. It is far
// below MySQL's MEDIUMBLOB limit (16 MiB) and the server's default
// max_allowed_packet, so every database refuses the same messages.
const MaxBodySize = 1 << 20

// ErrQueueFull is wrapped (by *QueueFullError) when an Enqueue would put a
// recipient over its bound.
var ErrQueueFull = errors.New("recipient's message queue is full")

// QueueFullError names the recipient whose queue refused an Enqueue.
type QueueFullError struct {
	Recipient string
	Queued    int64 // messages already queued for Recipient
	Adding    int   // messages this Enqueue tried to add for Recipient
	Limit     int
}

func (e *QueueFullError) Error() string {
	return fmt.Sprintf("recipient %q has %d queued messages, adding %d would exceed %d: %s",
		e.Recipient, e.Queued, e.Adding, e.Limit, ErrQueueFull)
}

// Unwrap makes errors.Is(err, ErrQueueFull) true.
func (e *QueueFullError) Unwrap() error { return ErrQueueFull }

// QueueLimits bound the durable queue for one Enqueue. PerRecipient is
// required (at least 1); the quotas are off when 0. Bytes are the sum of
// the queued messages' Body lengths.
type QueueLimits struct {
	PerRecipient   int   // messages queued for one recipient
	PerSender      int   // messages one sender has queued, for all recipients
	PerSenderBytes int64 // body bytes one sender has queued
	Total          int   // messages queued in the whole store
	TotalBytes     int64 // body bytes queued in the whole store
}

// ErrQuotaExceeded is wrapped (by *QuotaError) when an Enqueue would put a
// sender, or the whole store, over a quota of QueueLimits.
var ErrQuotaExceeded = errors.New("message queue quota exceeded")

// Quota scopes in QuotaError.
const (
	QuotaSender = "sender" // one sender's messages for all recipients
	QuotaTotal  = "total"  // every queued message in the store
)

// QuotaError says which quota refused an Enqueue. Sender is set for
// QuotaSender. Unit is "messages" or "bytes"; Queued and Adding are in it.
type QuotaError struct {
	Scope  string
	Sender string
	Unit   string
	Queued int64 // already queued before this Enqueue
	Adding int64 // what this Enqueue tried to add
	Limit  int64
}

func (e *QuotaError) Error() string {
	who := "all senders"
	if e.Scope == QuotaSender {
		who = fmt.Sprintf("sender %q", e.Sender)
	}
	return fmt.Sprintf("%s has %d %s queued, adding %d would exceed %d: %s",
		who, e.Queued, e.Unit, e.Adding, e.Limit, ErrQuotaExceeded)
}

// Unwrap makes errors.Is(err, ErrQuotaExceeded) true.
func (e *QuotaError) Unwrap() error { return ErrQuotaExceeded }
