package chat

import "sync"

// DefaultSendQueue is how many pushed records (deliver, event) may wait for
// one session's writer before the session counts as too slow and is ended
// (docs/PROTOCOL.md §12.4).
const DefaultSendQueue = 1024

// outRecord is one record waiting to be sealed and written.
type outRecord struct {
	typ string
	pt  []byte // shared between the recipients of a fan-out; never modified
}

// outbox is a session's queue of pushed records and the one goroutine that
// writes them, so a relay never blocks on a slow recipient: push does not
// wait, and a full queue is the caller's signal to end that session.
// Sealing happens in the writer, under the session's write lock, so the
// record order on the wire is the order of push calls.
type outbox struct {
	sess *session
	ch   chan outRecord
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// startOutbox starts the writer; fail is called (once, from the writer) if
// a write fails, after which the writer stops.
func startOutbox(sess *session, size int, fail func(error)) *outbox {
	o := &outbox{sess: sess, ch: make(chan outRecord, size), stop: make(chan struct{}), done: make(chan struct{})}
	go o.run(fail)
	return o
}

func (o *outbox) run(fail func(error)) {
	defer close(o.done)
	for {
		select {
		case <-o.stop:
			return
		case r := <-o.ch:
			if err := writeRecord(o.sess, r.typ, r.pt); err != nil {
				fail(err)
				return
			}
		}
	}
}

// push queues r without waiting; false means the queue is full (or the
// outbox stopped).
func (o *outbox) push(r outRecord) bool {
	select {
	case <-o.stop:
		return false
	default:
	}
	select {
	case o.ch <- r:
		return true
	default:
		return false
	}
}

// pushWait queues r, waiting for room; false means the outbox stopped. The
// replay of queued messages uses it: a long backlog is paced by the
// recipient's reading, not refused.
func (o *outbox) pushWait(r outRecord) bool {
	select {
	case o.ch <- r:
		return true
	case <-o.stop:
		return false
	}
}

// close stops the writer and waits for it; records still queued are
// dropped (direct messages among them stay in the durable queue).
func (o *outbox) close() {
	o.once.Do(func() { close(o.stop) })
	<-o.done
}
