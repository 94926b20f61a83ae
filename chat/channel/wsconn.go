package channel

import (
	"net"
	"os"
	"sync"
	"time"
)

// wsConn gives a WebSocket net.Conn (websocket.NetConn) the read deadlines
// of a TCP connection. The library closes the WebSocket when a read
// deadline expires during a read; the server, though, wakes an idle session
// loop with an expired read deadline (Shutdown, live revocation, a slow
// consumer) and then still sends close with the reason (docs/PROTOCOL.md
// §12.5, §14). So the underlying Read never has a deadline: one pump
// goroutine performs it on demand, and Read waits for its result, the read
// deadline or Close, whichever comes first. A timed-out Read leaves the
// pump's read pending; the next Read takes its result, so no byte is lost
// and the stream stays in order.
//
// Writes, write deadlines, Close and the addresses are the library's.
type wsConn struct {
	net.Conn

	rmu     sync.Mutex // one Read at a time; guards left, err, pending
	left    []byte     // rest of the pump's last chunk, not yet returned
	err     error      // the pump's read error, returned once left is empty
	pending bool       // a read was requested and its result not yet taken

	want     chan struct{} // Read asks the pump for one read (buffered: never blocks)
	got      chan wsChunk
	closed   chan struct{}
	pumpDone chan struct{}
	once     sync.Once
	rd       deadline
}

type wsChunk struct {
	b   []byte
	err error
}

// wsChunkSize bounds one pump read: the pump's buffer is the only copy of
// received data held outside the session's bufio.Reader.
const wsChunkSize = 32 << 10

func newWSConn(nc net.Conn) *wsConn {
	c := &wsConn{Conn: nc, want: make(chan struct{}, 1), got: make(chan wsChunk),
		closed: make(chan struct{}), pumpDone: make(chan struct{}), rd: newDeadline()}
	go c.pump()
	return c
}

// pump reads from the WebSocket each time Read asks, into one buffer that
// it reuses only after Read has taken everything from it (Read asks again
// only then).
func (c *wsConn) pump() {
	defer close(c.pumpDone)
	buf := make([]byte, wsChunkSize)
	for {
		select {
		case <-c.want:
		case <-c.closed:
			return
		}
		n, err := c.Conn.Read(buf)
		select {
		case c.got <- wsChunk{b: buf[:n], err: err}:
		case <-c.closed:
			return
		}
		if err != nil {
			return
		}
	}
}

// Read returns received bytes, or os.ErrDeadlineExceeded (a net.Error whose
// Timeout is true) once the read deadline passed, leaving the connection
// usable. As on TCP, an expired deadline wins over data already received.
func (c *wsConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.left) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		expired := c.rd.wait()
		select {
		case <-expired:
			return 0, os.ErrDeadlineExceeded
		default:
		}
		if !c.pending {
			c.want <- struct{}{}
			c.pending = true
		}
		select {
		case r := <-c.got:
			c.pending = false
			c.left, c.err = r.b, r.err
		case <-expired:
			return 0, os.ErrDeadlineExceeded
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, c.left)
	c.left = c.left[n:]
	return n, nil
}

// Close closes the WebSocket and waits for the pump to end.
func (c *wsConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		close(c.closed)
		err = c.Conn.Close() // ends a pending pump read
		<-c.pumpDone
	})
	return err
}

// SetDeadline sets the read deadline here and the write deadline in the
// library (an expired write deadline may close the WebSocket: a peer that
// does not read is beyond telling anything anyway).
func (c *wsConn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	return c.Conn.SetWriteDeadline(t)
}

// SetReadDeadline never reaches the library, whose expiry would close the
// WebSocket.
func (c *wsConn) SetReadDeadline(t time.Time) error {
	c.rd.set(t)
	return nil
}

// deadline is a settable point in time with a channel closed once it
// passed; the same design as net.Pipe's deadlines.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{} // closed when the deadline passed
}

func newDeadline() deadline { return deadline{cancel: make(chan struct{})} }

// set moves the deadline to t; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait until it closed cancel
	}
	d.timer = nil
	passed := isClosed(d.cancel)
	if t.IsZero() {
		if passed {
			d.cancel = make(chan struct{})
		}
		return
	}
	// Deadlines use the real clock, like the network's own.
	if dur := time.Until(t); dur > 0 {
		if passed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !passed {
		close(d.cancel)
	}
}

// wait returns a channel closed once the deadline passed.
func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
