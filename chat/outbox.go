package chat

import (
	"sync"

	"github.com/securechat/scca/chat/channel"
)

// DefaultSendQueue is how many pushed records (deliver, event) may wait for
// one session's writer before the session counts as too slow and is ended
// (docs/PROTOCOL.md §12.4).
const DefaultSendQueue = 1024

// DefaultSendQueueBytes bounds the plaintext bytes waiting in one session's
// outbox: without it 1024 records of up to ~190 KiB each could pin about
// 190 MiB per slow session. A record is always taken into an empty queue,
// so one record larger than the bound still goes through.
const DefaultSendQueueBytes = 4 << 20

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
//
// The queue grows with use and the writer starts with the first push: a
// session that is never pushed to (a plain client sending messages) costs
// neither a goroutine nor a queue of size records.
type outbox struct {
	sess     *channel.Session
	size     int
	maxBytes int
	fail     func(error)

	mu      sync.Mutex
	q       []outRecord
	bytes   int // plaintext bytes in q
	started bool
	stopped bool

	ready chan struct{} // signalled when q grows
	room  chan struct{} // signalled when q shrinks
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// startOutbox makes the outbox; fail is called (once, from the writer) if
// a write fails, after which the writer stops.
func startOutbox(sess *channel.Session, size, maxBytes int, fail func(error)) *outbox {
	return &outbox{sess: sess, size: size, maxBytes: maxBytes, fail: fail,
		ready: make(chan struct{}, 1), room: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
}

func (o *outbox) run() {
	defer close(o.done)
	for {
		r, ok := o.next()
		if !ok {
			return
		}
		if err := channel.WriteRecord(o.sess, r.typ, r.pt); err != nil {
			o.fail(err)
			return
		}
	}
}

// next waits for the oldest queued record; false once the outbox stopped.
func (o *outbox) next() (outRecord, bool) {
	for {
		select {
		case <-o.stop:
			return outRecord{}, false
		default:
		}
		o.mu.Lock()
		if len(o.q) > 0 {
			r := o.q[0]
			o.bytes -= len(r.pt)
			o.q[0] = outRecord{}
			o.q = o.q[1:]
			if len(o.q) == 0 {
				o.q = nil // let a burst's backing array go
			}
			o.mu.Unlock()
			signal(o.room)
			return r, true
		}
		o.mu.Unlock()
		select {
		case <-o.stop:
			return outRecord{}, false
		case <-o.ready:
		}
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// push queues r without waiting; false means the queue is full (or the
// outbox stopped).
func (o *outbox) push(r outRecord) bool {
	o.mu.Lock()
	ok := o.enqueueLocked(r)
	o.mu.Unlock()
	if ok {
		signal(o.ready)
	}
	return ok
}

// enqueueLocked appends r if there is room, starting the writer on first
// use.
func (o *outbox) enqueueLocked(r outRecord) bool {
	if o.stopped || len(o.q) >= o.size || (len(o.q) > 0 && o.bytes+len(r.pt) > o.maxBytes) {
		return false
	}
	o.q = append(o.q, r)
	o.bytes += len(r.pt)
	if !o.started {
		o.started = true
		go o.run()
	}
	return true
}

// pushWait queues r, waiting for room; false means the outbox stopped. The
// replay of queued messages uses it: a long backlog is paced by the
// recipient's reading, not refused.
func (o *outbox) pushWait(r outRecord) bool {
	for {
		o.mu.Lock()
		if o.stopped {
			o.mu.Unlock()
			return false
		}
		ok := o.enqueueLocked(r)
		o.mu.Unlock()
		if ok {
			signal(o.ready)
			return true
		}
		select {
		case <-o.room:
		case <-o.stop:
			return false
		}
	}
}

// close stops the writer and waits for it; records still queued are
// dropped (direct messages among them stay in the durable queue).
func (o *outbox) close() {
	o.once.Do(func() { close(o.stop) })
	o.mu.Lock()
	o.stopped = true
	started := o.started
	o.q, o.bytes = nil, 0
	o.mu.Unlock()
	if started {
		<-o.done
	}
}
