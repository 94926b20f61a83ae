package certstore

import (
	"context"
	"database/sql"
	"errors"
	"github.com/securechat/scca/internal/atomicfile"
	"sync"
	"sync/atomic"
)

// Group commit of certificate inserts.
//
// Every insert appends to the one audit hash chain, so it holds the chain's
// head row (FOR UPDATE; SQLite's write lock) until its commit, and its
// commit waits for the database's fsync. One transaction per certificate
// would let one certificate through per fsync however many issuers there
// are. Instead Insert and Supersede queue their certificate, and a
// committer goroutine takes everything queued and records it in one
// transaction: one head lock, one commit (one fsync) for the batch,
// entries chained in queue order exactly as if they had been inserted one
// after the other. Batches form by themselves: what queues while a commit
// runs goes into the next one, so a lone caller waits for no one. On a
// database server two committers run, so that the next batch's
// certificate rows are written while the previous batch commits (its audit
// entries wait for the head row, so the chain order is the commit order);
// SQLite's one writer at a time gains nothing from that, and has one.
//
// Each caller gets its own answer:
//   - a certificate refused on its own account (a duplicate, an identity
//     that is taken) is refused to its caller alone: the transaction is
//     rolled back and the rest of the batch is recorded without it;
//   - any other failure, and a failed commit above all, is every caller's
//     answer: the transaction is rolled back whole, so nothing of the batch
//     is half-applied (a commit whose reply was lost may have happened for
//     all of them, exactly as for a single insert);
//   - a caller whose context ends while its certificate is still queued
//     gets the context's error and its certificate is never recorded; once
//     the committer has taken it, the caller waits for the batch's outcome
//     (bounded by the store's timeout on each statement) and gets that, so
//     its answer always says what happened.
//
// The audit chain keeps every property it had: ids are assigned while the
// head row is locked and the lock is held until the commit, so entries
// still become visible in id order (see RevocationsSince); each entry is
// still hashed onto its predecessor and sealed on its own; and the anchor
// file moves to the batch's last entry after the commit.

// maxBatch bounds how many certificates one transaction records, so that
// one batch holds the head lock for a bounded time.
const maxBatch = 64

// Item states: queued until the committer takes it or its caller gives up.
const (
	itemQueued int32 = iota
	itemTaken
	itemAbandoned
)

// pendingInsert is one queued certificate and where its answer goes.
type pendingInsert struct {
	rec      Record
	skeleton any
	details  string
	replace  bool
	dirs     *atomicfile.DirSyncs // the caller's deferred directory fsyncs, or nil
	state    atomic.Int32
	done     chan insertResult // buffered: the committer never blocks on it
}

type insertResult struct {
	replaced *Record
	err      error
}

// committer batches a Store's inserts; its zero value is ready.
type committer struct {
	mu      sync.Mutex
	queue   []*pendingInsert
	running int // goroutines draining queue

	// Test hooks, nil outside tests: taken sees each batch as the
	// committer takes it; beforeCommit runs inside the batch's transaction
	// after its statements, and its error fails the batch.
	taken        func(n int)
	beforeCommit func(tx *sql.Tx, n int) error
}

// insertQueued queues a prepared certificate and waits for its outcome.
func (s *Store) insertQueued(ctx context.Context, rec Record, skeleton any, replace bool) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	it := &pendingInsert{rec: rec, skeleton: skeleton, details: issueDetails(rec), replace: replace,
		dirs: atomicfile.DirSyncsFrom(ctx), done: make(chan insertResult, 1)}
	s.enqueue(it)
	select {
	case r := <-it.done:
		return r.replaced, r.err
	case <-ctx.Done():
		if it.state.CompareAndSwap(itemQueued, itemAbandoned) {
			return nil, ctx.Err() // never taken, so never recorded
		}
		r := <-it.done // in a batch already: its outcome is the answer
		return r.replaced, r.err
	}
}

// enqueue adds it to the queue, starting a committer if fewer than the
// dialect's committers run.
func (s *Store) enqueue(it *pendingInsert) {
	c := &s.commit
	c.mu.Lock()
	c.queue = append(c.queue, it)
	start := c.running < s.d.committers
	if start {
		c.running++
	}
	c.mu.Unlock()
	if start {
		go s.runCommitter()
	}
}

// runCommitter records batches until the queue is empty, then exits; the
// next enqueue starts one again, so a Store leaves no goroutine behind.
func (s *Store) runCommitter() {
	for {
		batch := s.commit.take()
		if batch == nil {
			return
		}
		if s.commit.taken != nil {
			s.commit.taken(len(batch))
		}
		s.commitBatch(batch)
	}
}

// take removes up to maxBatch live items from the queue and marks them
// taken. It returns nil, and marks the committer stopped, when there are
// none.
func (c *committer) take() []*pendingInsert {
	c.mu.Lock()
	defer c.mu.Unlock()
	var batch []*pendingInsert
	n := 0
	for ; n < len(c.queue) && len(batch) < maxBatch; n++ {
		if it := c.queue[n]; it.state.CompareAndSwap(itemQueued, itemTaken) {
			batch = append(batch, it)
		}
	}
	c.queue = append(c.queue[:0], c.queue[n:]...)
	if len(batch) == 0 {
		c.running--
		return nil
	}
	return batch
}

// commitBatch records batch in one transaction and answers every item.
// An item refused on its own account is answered and dropped, and the
// rest retried; each round drops one, so this ends.
func (s *Store) commitBatch(batch []*pendingInsert) {
	// The batch belongs to no single caller: one caller's cancelled
	// context must not roll back the others' certificates. Each statement
	// stays bounded by the store's timeout.
	ctx := context.Background()
	for len(batch) > 0 {
		results, bad, err := s.tryBatch(ctx, batch)
		if err == nil {
			for i, it := range batch {
				it.done <- results[i]
			}
			return
		}
		if bad < 0 {
			for _, it := range batch {
				it.done <- insertResult{err: err}
			}
			return
		}
		batch[bad].done <- insertResult{err: err}
		batch = append(batch[:bad:bad], batch[bad+1:]...)
	}
}

// tryBatch records batch in one transaction. On failure, bad is the index
// of the item refused on its own account, or -1 when the failure is the
// batch's (a database fault, a failed commit). The batch is first tried in
// a handful of statements whatever its size (insertBatch); when that finds
// something that needs looking at item by item (an identity already held,
// a duplicate), its transaction is rolled back and the batch run again one
// certificate at a time, which names the item at fault.
//
// The batch's audit anchor is staged inside the transaction (it needs the
// last entry) and flushed while the transaction commits: the closures'
// one effect outside the transaction, so each attempt discards the one
// before, and a failure discards it too.
func (s *Store) tryBatch(ctx context.Context, batch []*pendingInsert) ([]insertResult, int, error) {
	var anchor *anchorStage // written while the transaction commits
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		anchor.discard() // a retried attempt's
		anchor = nil
		last, err := s.insertBatch(ctx, tx, batch)
		if err == nil {
			anchor = s.seal.stageAnchor(last.ID, last.Hash)
		}
		return s.finishBatch(tx, len(batch), err)
	})
	if err == nil {
		s.advanceBatchAnchor(batch, anchor)
		return make([]insertResult, len(batch)), -1, nil
	}
	anchor.discard()
	if !errors.Is(err, errNeedsItems) {
		return nil, -1, err
	}
	results := make([]insertResult, len(batch))
	bad := -1
	var last AuditEntry
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		anchor.discard()
		anchor = nil
		bad = -1
		for i, it := range batch {
			replaced, written, err := s.insertTx(ctx, tx, it.rec, it.skeleton, it.details, it.replace)
			if err != nil {
				if ownFault(err) {
					bad = i
				}
				return err
			}
			results[i], last = insertResult{replaced: replaced}, written
		}
		anchor = s.seal.stageAnchor(last.ID, last.Hash)
		return s.finishBatch(tx, len(batch), nil)
	})
	if err != nil {
		anchor.discard()
		return nil, bad, err
	}
	s.advanceBatchAnchor(batch, anchor)
	return results, -1, nil
}

// finishBatch runs the test hook before a batch's commit.
func (s *Store) finishBatch(tx *sql.Tx, n int, err error) error {
	if hook := s.commit.beforeCommit; err == nil && hook != nil {
		return hook(tx, n)
	}
	return err
}

// ownFault reports whether err refuses one certificate on its own account,
// leaving the rest of its batch fine to record.
func ownFault(err error) bool {
	return errors.Is(err, ErrDuplicate) || errors.Is(err, ErrIdentityTaken)
}

// advanceBatchAnchor moves the audit anchor to the batch's last entry
// (staged while the transaction committed).
// When every caller carries deferred directory fsyncs (an issuance that
// fsyncs its directories once at its end), the anchor's directory is
// handed to each of them instead of being fsynced here: each caller syncs
// it before it reports success, and the batch's answer is sent only after
// this returns. Otherwise the anchor is synced at once.
// A failure is reported to Options.AnchorFailed (see advanceAnchor).
func (s *Store) advanceBatchAnchor(batch []*pendingInsert, anchor *anchorStage) {
	for _, it := range batch {
		if it.dirs == nil {
			anchor.report(s, anchor.commit(context.Background()))
			return
		}
	}
	var d atomicfile.DirSyncs
	anchor.report(s, anchor.commit(atomicfile.WithDirSyncs(context.Background(), &d)))
	for _, it := range batch {
		d.HandTo(it.dirs)
	}
}
