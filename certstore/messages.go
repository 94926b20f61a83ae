package certstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// message_queues keeps one row per recipient: the row Enqueue and
// AckDelivered lock to take turns on that recipient's queue, and the number
// of queued messages, so the bound check reads one row instead of counting.
const (
	messageColumns = "id, recipient, sender, room, msg_id, body, sent_at"
	insertMessages = "INSERT INTO messages (recipient, sender, room, msg_id, body, sent_at) VALUES "
	messageRow     = "(?, ?, ?, ?, ?, ?)"
	selectPending  = "SELECT " + messageColumns + " FROM messages" +
		" WHERE recipient = ? AND id > ? ORDER BY id LIMIT ?"
	countPending    = "SELECT COUNT(*) FROM messages WHERE recipient = ?"
	deleteDelivered = "DELETE FROM messages WHERE recipient = ? AND id <= ?"
	// selectInsertedIDs finds the ids of rows just inserted; (recipient,
	// msg_id) is unique, so each pair matches one row, and the cross
	// product of the two lists is filtered in Go.
	selectInsertedIDs = "SELECT id, recipient, msg_id FROM messages WHERE recipient IN (%s) AND msg_id IN (%s)"

	queueRow        = "(?, ?)"
	selectQueued    = "SELECT recipient, queued FROM message_queues WHERE recipient IN (%s)"
	lockQueue       = "SELECT queued FROM message_queues WHERE recipient = ?"
	releaseQueue    = "UPDATE message_queues SET queued = queued - ? WHERE recipient = ?"
	maxMessageField = 64 // characters, the VARCHAR(64) columns
)

// Batching of multi-row statements: few enough placeholders for either
// database, and few enough bytes to stay well inside max_allowed_packet.
const (
	batchRows  = 500
	batchBytes = 4 << 20
)

// Enqueue stores msgs, all or nothing, in one transaction, and returns their
// IDs in the order given. One message fanned out to many offline recipients
// is one call. If any recipient would then hold more than lim.PerRecipient
// messages, it fails with a *QueueFullError (wrapping ErrQueueFull) naming
// that recipient; if a sender, or the whole store, would then be over a
// quota of lim, with a *QuotaError (wrapping ErrQuotaExceeded); either way
// it writes nothing. A (Recipient, MsgID) pair already queued, or repeated
// in msgs, fails with ErrDuplicate, so a retried Enqueue never stores a
// message twice.
//
// Each recipient's queue row, then each sender's usage row, then the
// store's totals row is locked (rows of one kind in name order, so
// concurrent fan-outs cannot deadlock each other) before its bound is
// checked, so concurrent Enqueues, in any process, never overshoot a bound
// or quota, and one recipient's messages commit in ID order.
func (s *Store) Enqueue(ctx context.Context, msgs []QueuedMessage, lim QueueLimits) ([]int64, error) {
	if err := checkLimits(lim); err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	msgs, adding, err := s.prepareMessages(msgs)
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	senders := senderUsage(msgs)
	total := usage{msgs: int64(len(msgs))}
	for _, u := range senders {
		total.bytes += u.bytes
	}
	var ids []int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.reserveQueues(ctx, tx, adding, lim.PerRecipient); err != nil {
			return err
		}
		if err := s.reserveSenders(ctx, tx, senders, lim); err != nil {
			return err
		}
		if err := reserveTotal(ctx, tx, total, lim); err != nil {
			return err
		}
		ids, err = insertMessageRows(ctx, tx, msgs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("enqueue %d messages: %w", len(msgs), err)
	}
	return ids, nil
}

// checkLimits refuses a missing recipient bound and negative quotas.
func checkLimits(lim QueueLimits) error {
	if lim.PerRecipient < 1 {
		return fmt.Errorf("queue bound %d must be at least 1", lim.PerRecipient)
	}
	if lim.PerSender < 0 || lim.PerSenderBytes < 0 || lim.Total < 0 || lim.TotalBytes < 0 {
		return fmt.Errorf("queue quotas %+v must not be negative (0 means none)", lim)
	}
	return nil
}

// prepareMessages validates msgs and returns a copy with defaults filled in,
// plus how many messages each recipient gains.
func (s *Store) prepareMessages(msgs []QueuedMessage) ([]QueuedMessage, map[string]int, error) {
	out := make([]QueuedMessage, len(msgs))
	adding := map[string]int{}
	now := s.clock()
	for i, m := range msgs {
		if err := checkMessage(m); err != nil {
			return nil, nil, fmt.Errorf("message %d (%q for %q): %w", i, m.MsgID, m.Recipient, err)
		}
		m.ID = 0
		if m.SentAt.IsZero() {
			m.SentAt = now
		}
		m.SentAt = dbTime(m.SentAt)
		if m.Body == nil {
			m.Body = []byte{} // body is NOT NULL
		}
		out[i] = m
		adding[m.Recipient]++
	}
	return out, adding, nil
}

// checkMessage refuses what either database would refuse or mangle, so
// both behave the same.
func checkMessage(m QueuedMessage) error {
	for _, f := range []struct {
		name, v  string
		optional bool
	}{{"recipient", m.Recipient, false}, {"sender", m.Sender, false}, {"room", m.Room, true}, {"message id", m.MsgID, false}} {
		switch {
		case f.v == "" && !f.optional:
			return fmt.Errorf("%s is empty", f.name)
		case !utf8.ValidString(f.v):
			return fmt.Errorf("%s is not valid UTF-8", f.name)
		case utf8.RuneCountInString(f.v) > maxMessageField:
			return fmt.Errorf("%s is longer than %d characters", f.name, maxMessageField)
		}
	}
	if len(m.Body) > MaxBodySize {
		return fmt.Errorf("body is %d bytes, over the %d-byte limit", len(m.Body), MaxBodySize)
	}
	return nil
}

// reserveQueues adds each recipient's new messages to its queue count,
// locking the queue rows, and fails if any count would exceed limit. The
// transaction is rolled back on failure, undoing the increments.
func (s *Store) reserveQueues(ctx context.Context, tx *sql.Tx, adding map[string]int, limit int) error {
	recipients := make([]string, 0, len(adding))
	for r := range adding {
		recipients = append(recipients, r)
	}
	slices.Sort(recipients) // one lock order for every transaction
	upsert := s.d.reserveQueue
	for chunk := range slices.Chunk(recipients, batchRows) {
		args := make([]any, 0, 2*len(chunk))
		for _, r := range chunk {
			args = append(args, r, adding[r])
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(upsert, repeatJoin(queueRow, len(chunk))), args...); err != nil {
			return fmt.Errorf("reserve queue space: %w", err)
		}
		if err := checkQueues(ctx, tx, chunk, adding, limit); err != nil {
			return err
		}
	}
	return nil
}

// checkQueues reads the (already incremented) counts of recipients.
func checkQueues(ctx context.Context, tx *sql.Tx, recipients []string, adding map[string]int, limit int) error {
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(selectQueued, repeatJoin("?", len(recipients))), anySlice(recipients)...)
	if err != nil {
		return fmt.Errorf("read queue sizes: %w", err)
	}
	defer rows.Close()
	var full *QueueFullError
	for rows.Next() {
		var r string
		var queued int64
		if err := rows.Scan(&r, &queued); err != nil {
			return fmt.Errorf("read queue sizes: %w", err)
		}
		if queued > int64(limit) && (full == nil || r < full.Recipient) {
			full = &QueueFullError{Recipient: r, Queued: queued - int64(adding[r]), Adding: adding[r], Limit: limit}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read queue sizes: %w", err)
	}
	if full != nil {
		return full
	}
	return nil
}

// insertMessageRows writes msgs with multi-row INSERTs and returns their
// IDs in input order.
func insertMessageRows(ctx context.Context, tx *sql.Tx, msgs []QueuedMessage) ([]int64, error) {
	ids := make([]int64, 0, len(msgs))
	for len(msgs) > 0 {
		n := batchLen(msgs)
		args := make([]any, 0, 6*n)
		for _, m := range msgs[:n] {
			args = append(args, m.Recipient, m.Sender, m.Room, m.MsgID, m.Body, timeArg(m.SentAt))
		}
		if _, err := tx.ExecContext(ctx, insertMessages+repeatJoin(messageRow, n), args...); err != nil {
			return nil, fmt.Errorf("store messages: %w", translate(err))
		}
		got, err := insertedIDs(ctx, tx, msgs[:n])
		if err != nil {
			return nil, err
		}
		ids = append(ids, got...)
		msgs = msgs[n:]
	}
	return ids, nil
}

// batchLen is how many of msgs (at least one) fit in one INSERT.
func batchLen(msgs []QueuedMessage) int {
	n, size := 0, 0
	for n < len(msgs) && n < batchRows && (n == 0 || size+len(msgs[n].Body) <= batchBytes) {
		size += len(msgs[n].Body)
		n++
	}
	return n
}

// insertedIDs reads back the IDs of msgs, just inserted in tx. Neither
// LastInsertId (the first ID on MySQL, the last on SQLite, and consecutive
// only under some InnoDB lock modes) nor RETURNING (not in MySQL) serves
// both databases, so the rows are looked up by their unique key.
func insertedIDs(ctx context.Context, tx *sql.Tx, msgs []QueuedMessage) ([]int64, error) {
	type key struct{ recipient, msgID string }
	want := make(map[key]int, len(msgs))
	var recipients, msgIDs []string
	seenR, seenM := map[string]bool{}, map[string]bool{}
	for i, m := range msgs {
		want[key{m.Recipient, m.MsgID}] = i
		if !seenR[m.Recipient] {
			seenR[m.Recipient] = true
			recipients = append(recipients, m.Recipient)
		}
		if !seenM[m.MsgID] {
			seenM[m.MsgID] = true
			msgIDs = append(msgIDs, m.MsgID)
		}
	}
	q := fmt.Sprintf(selectInsertedIDs, repeatJoin("?", len(recipients)), repeatJoin("?", len(msgIDs)))
	rows, err := tx.QueryContext(ctx, q, append(anySlice(recipients), anySlice(msgIDs)...)...)
	if err != nil {
		return nil, fmt.Errorf("read message ids: %w", err)
	}
	defer rows.Close()
	ids, found := make([]int64, len(msgs)), 0
	for rows.Next() {
		var id int64
		var k key
		if err := rows.Scan(&id, &k.recipient, &k.msgID); err != nil {
			return nil, fmt.Errorf("read message ids: %w", err)
		}
		if i, ok := want[k]; ok {
			ids[i] = id
			found++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read message ids: %w", err)
	}
	if found != len(msgs) {
		return nil, fmt.Errorf("read message ids: found %d of %d inserted rows", found, len(msgs))
	}
	return ids, nil
}

// Pending returns up to limit of recipient's queued messages with ID above
// afterID, oldest (lowest ID) first. Pass the last ID seen to page on.
func (s *Store) Pending(ctx context.Context, recipient string, afterID int64, limit int) ([]QueuedMessage, error) {
	if limit < 1 {
		return nil, fmt.Errorf("pending messages: limit %d must be at least 1", limit)
	}
	rows, err := s.db.QueryContext(ctx, selectPending, recipient, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("pending messages for %q: %w", recipient, err)
	}
	defer rows.Close()
	var out []QueuedMessage
	for rows.Next() {
		var m QueuedMessage
		if err := rows.Scan(&m.ID, &m.Recipient, &m.Sender, &m.Room, &m.MsgID, &m.Body, &scanTime{t: &m.SentAt}); err != nil {
			return nil, fmt.Errorf("pending messages for %q: %w", recipient, err)
		}
		if m.Body == nil {
			m.Body = []byte{}
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending messages for %q: %w", recipient, err)
	}
	return out, nil
}

// AckDelivered deletes recipient's queued messages with ID <= uptoID and
// returns how many it deleted. Acknowledging again is harmless (0).
func (s *Store) AckDelivered(ctx context.Context, recipient string, uptoID int64) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Take the queue row first, as Enqueue does, so the two take turns
		// instead of deadlocking on each other's message rows.
		var queued int64
		err := tx.QueryRowContext(ctx, lockQueue+s.d.forUpdate, recipient).Scan(&queued)
		if errors.Is(err, sql.ErrNoRows) {
			n = 0 // nothing was ever queued for recipient
			return nil
		}
		if err != nil {
			return err
		}
		freed, err := releaseDelivered(ctx, tx, recipient, uptoID)
		if err != nil || len(freed) == 0 {
			return err
		}
		res, err := tx.ExecContext(ctx, deleteDelivered, recipient, uptoID)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		if _, err = tx.ExecContext(ctx, releaseQueue, n, recipient); err != nil {
			return err
		}
		return releaseUsage(ctx, tx, freed)
	})
	if err != nil {
		return 0, fmt.Errorf("acknowledge messages for %q up to %d: %w", recipient, uptoID, err)
	}
	return n, nil
}

// PendingCount returns how many messages are queued for recipient.
func (s *Store) PendingCount(ctx context.Context, recipient string) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, countPending, recipient).Scan(&n); err != nil {
		return 0, fmt.Errorf("count messages for %q: %w", recipient, err)
	}
	return n, nil
}

// repeatJoin is n copies of s separated by ", ".
func repeatJoin(s string, n int) string {
	return strings.TrimSuffix(strings.Repeat(s+", ", n), ", ")
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
