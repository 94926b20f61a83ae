package certstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// message_senders and message_totals count what each sender, and every
// sender together, has queued, in messages and body bytes. Enqueue adds to
// them and AckDelivered subtracts, in the transaction that inserts or
// deletes the counted rows, so the counts are exact and the quotas of
// QueueLimits hold under concurrent senders in any number of processes.
//
// Lock order, the same in every transaction: recipients' message_queues
// rows (by name), then message_senders rows (by name), then the one
// message_totals row. The totals row serialises every Enqueue and
// AckDelivered for the instant between its update and the commit.
const (
	senderRow      = "(?, ?, ?)"
	selectSenders  = "SELECT sender, queued, bytes FROM message_senders WHERE sender IN (%s)"
	releaseSender  = "UPDATE message_senders SET queued = queued - ?, bytes = bytes - ? WHERE sender = ?"
	addTotals      = "UPDATE message_totals SET queued = queued + ?, bytes = bytes + ? WHERE id = 1"
	releaseTotals  = "UPDATE message_totals SET queued = queued - ?, bytes = bytes - ? WHERE id = 1"
	selectTotals   = "SELECT queued, bytes FROM message_totals WHERE id = 1"
	deliveredUsage = "SELECT sender, COUNT(*), SUM(LENGTH(body)) FROM messages" +
		" WHERE recipient = ? AND id <= ? GROUP BY sender"
)

// usage is a number of messages and their body bytes.
type usage struct{ msgs, bytes int64 }

// senderUsage sums msgs per sender.
func senderUsage(msgs []QueuedMessage) map[string]usage {
	out := map[string]usage{}
	for _, m := range msgs {
		u := out[m.Sender]
		u.msgs++
		u.bytes += int64(len(m.Body))
		out[m.Sender] = u
	}
	return out
}

// reserveSenders adds each sender's new messages to its counts, locking
// the rows, and fails with a *QuotaError if a count would exceed lim.
func (s *Store) reserveSenders(ctx context.Context, tx *sql.Tx, adding map[string]usage, lim QueueLimits) error {
	senders := sortedKeys(adding)
	for chunk := range slices.Chunk(senders, batchRows) {
		args := make([]any, 0, 3*len(chunk))
		for _, snd := range chunk {
			args = append(args, snd, adding[snd].msgs, adding[snd].bytes)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(s.d.reserveSender, repeatJoin(senderRow, len(chunk))), args...); err != nil {
			return fmt.Errorf("reserve sender quota: %w", err)
		}
		if err := checkSenders(ctx, tx, chunk, adding, lim); err != nil {
			return err
		}
	}
	return nil
}

// checkSenders reads the (already incremented) counts of senders.
func checkSenders(ctx context.Context, tx *sql.Tx, senders []string, adding map[string]usage, lim QueueLimits) error {
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(selectSenders, repeatJoin("?", len(senders))), anySlice(senders)...)
	if err != nil {
		return fmt.Errorf("read sender quotas: %w", err)
	}
	defer rows.Close()
	var over *QuotaError
	for rows.Next() {
		var snd string
		var now usage
		if err := rows.Scan(&snd, &now.msgs, &now.bytes); err != nil {
			return fmt.Errorf("read sender quotas: %w", err)
		}
		if e := overQuota(QuotaSender, now, adding[snd], int64(lim.PerSender), lim.PerSenderBytes); e != nil && (over == nil || snd < over.Sender) {
			e.Sender, over = snd, e
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read sender quotas: %w", err)
	}
	if over != nil {
		return over
	}
	return nil
}

// reserveTotal adds all new messages to the store's totals, locking the
// row, and fails with a *QuotaError if a total would exceed lim.
func reserveTotal(ctx context.Context, tx *sql.Tx, adding usage, lim QueueLimits) error {
	if _, err := tx.ExecContext(ctx, addTotals, adding.msgs, adding.bytes); err != nil {
		return fmt.Errorf("reserve total quota: %w", err)
	}
	var now usage
	if err := tx.QueryRowContext(ctx, selectTotals).Scan(&now.msgs, &now.bytes); err != nil {
		return fmt.Errorf("read total quota: %w", err)
	}
	if e := overQuota(QuotaTotal, now, adding, int64(lim.Total), lim.TotalBytes); e != nil {
		return e
	}
	return nil
}

// overQuota checks counts that already include adding against the limits
// (0 = none), messages first.
func overQuota(scope string, now, adding usage, maxMsgs, maxBytes int64) *QuotaError {
	switch {
	case maxMsgs > 0 && now.msgs > maxMsgs:
		return &QuotaError{Scope: scope, Unit: "messages", Queued: now.msgs - adding.msgs, Adding: adding.msgs, Limit: maxMsgs}
	case maxBytes > 0 && now.bytes > maxBytes:
		return &QuotaError{Scope: scope, Unit: "bytes", Queued: now.bytes - adding.bytes, Adding: adding.bytes, Limit: maxBytes}
	}
	return nil
}

// releaseDelivered reads what recipient's messages up to uptoID count
// against their senders, for AckDelivered to subtract once they are
// deleted. The caller holds recipient's queue row, so the set cannot grow.
func releaseDelivered(ctx context.Context, tx *sql.Tx, recipient string, uptoID int64) (map[string]usage, error) {
	rows, err := tx.QueryContext(ctx, deliveredUsage, recipient, uptoID)
	if err != nil {
		return nil, fmt.Errorf("read delivered usage: %w", err)
	}
	defer rows.Close()
	out := map[string]usage{}
	for rows.Next() {
		var snd string
		var u usage
		if err := rows.Scan(&snd, &u.msgs, &u.bytes); err != nil {
			return nil, fmt.Errorf("read delivered usage: %w", err)
		}
		out[snd] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read delivered usage: %w", err)
	}
	return out, nil
}

// releaseUsage subtracts freed from the senders' counts and the totals,
// in lock order.
func releaseUsage(ctx context.Context, tx *sql.Tx, freed map[string]usage) error {
	var total usage
	for _, snd := range sortedKeys(freed) {
		u := freed[snd]
		if _, err := tx.ExecContext(ctx, releaseSender, u.msgs, u.bytes, snd); err != nil {
			return fmt.Errorf("release sender quota: %w", err)
		}
		total.msgs += u.msgs
		total.bytes += u.bytes
	}
	if _, err := tx.ExecContext(ctx, releaseTotals, total.msgs, total.bytes); err != nil {
		return fmt.Errorf("release total quota: %w", err)
	}
	return nil
}

// sortedKeys returns m's keys in order: the one lock order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
