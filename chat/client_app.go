package chat

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/securechat/scca/chat/channel"
)

// Event is something the server pushed (docs/PROTOCOL.md §12.2): a message
// (Kind EventMessage) or a presence change (EventJoin, EventLeave).
type Event struct {
	Kind string
	ID   int64     // message id (messages only)
	From string    // sender CN; for presence, whose presence changed
	Room string    // room, or "" for a direct message
	Time time.Time // server timestamp (messages only)
	Text string
}

// SendResult is the server's answer to an accepted SendTo or SendRoom.
type SendResult struct {
	ID     int64     // server-assigned message id (0 for StatusDuplicate)
	Time   time.Time // server timestamp
	Status string    // StatusDelivered, StatusQueued or StatusDuplicate
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// Receive returns the next message or presence event the server pushed,
// waiting for one until ctx ends. A direct message is confirmed to the
// server (delivered, §12.3) once Receive has returned it, so the server
// deletes it from the queue; confirmations go in small batches while a
// backlog is read, at the latest after confirmBatch messages or
// confirmEvery, and whenever Receive is about to wait or Close is called, so a
// client killed mid-stream gets at most a batch again from its next
// session. One not yet received stays queued for the next session.
// Cancelling ctx while Receive is reading from the connection ends the
// session. Once the session ended, queued events are still returned, then
// the session's error.
func (c *Conn) Receive(ctx context.Context) (Event, error) {
	for {
		if ev, ok := c.popEvent(); ok {
			return ev, c.taken(ev)
		}
		// Caught up: confirm what was taken before waiting, so a batch is
		// only ever held back while a backlog is being read (and a ctx
		// that ends this wait, which ends the session, loses nothing).
		if err := c.flushConfirm(); err != nil {
			return Event{}, err
		}
		select {
		case <-c.evReady:
		case <-c.dead:
			if ev, ok := c.popEvent(); ok {
				return ev, nil
			}
			return Event{}, c.err
		case <-ctx.Done():
			return Event{}, ctx.Err()
		case c.rsem <- struct{}{}:
			_ = c.sess.NetConn().SetReadDeadline(time.Time{})
			err := c.readOne(ctx)
			<-c.rsem
			if err != nil && ctx.Err() != nil {
				return Event{}, ctx.Err()
			}
		}
	}
}

func (c *Conn) queueEvent(ev Event) error {
	c.evmu.Lock()
	if len(c.events) >= maxUnreadEvents {
		c.evmu.Unlock()
		return c.fail(fmt.Errorf("%w: more than %d unread events", ErrProtocol, maxUnreadEvents))
	}
	c.events = append(c.events, ev)
	c.evmu.Unlock()
	select {
	case c.evReady <- struct{}{}:
	default:
	}
	return nil
}

func (c *Conn) popEvent() (Event, bool) {
	c.evmu.Lock()
	defer c.evmu.Unlock()
	if len(c.events) == 0 {
		return Event{}, false
	}
	ev := c.events[0]
	c.events[0] = Event{}
	c.events = c.events[1:]
	return ev, true
}

// Confirmation batching (docs/PROTOCOL.md §12.3): a direct message
// Receive returned is confirmed at the latest when confirmBatch of them
// are unconfirmed, confirmEvery after the first of them was returned, or
// on Close. A client killed mid-stream is thus sent again at most
// confirmBatch messages it had already taken (or those of the last
// confirmEvery), and the server's database sees one confirmation per batch
// instead of one per message while a backlog drains.
const (
	confirmBatch = 16
	confirmEvery = 200 * time.Millisecond
)

// confirmState tracks direct messages returned but not yet confirmed.
type confirmState struct {
	mu      sync.Mutex
	taken   int64       // highest direct message id Receive returned
	pending int         // returned since the last confirmation
	timer   *time.Timer // flushes the batch confirmEvery after its first message
	closed  bool        // Close has sent the last confirmation
}

// taken notes that Receive returns ev and confirms the batch when it is
// full; otherwise a timer confirms it within confirmEvery.
func (c *Conn) taken(ev Event) error {
	if ev.Kind != EventMessage || ev.Room != "" {
		return nil
	}
	c.conf.mu.Lock()
	c.conf.taken = ev.ID
	c.conf.pending++
	full := c.conf.pending >= confirmBatch
	if !full && c.conf.pending == 1 {
		// The timer only paces batches: a late flush costs a duplicate
		// after a crash, never a loss.
		c.conf.timer = time.AfterFunc(confirmEvery, func() { _ = c.flushConfirm() })
	}
	c.conf.mu.Unlock()
	if !full {
		return nil
	}
	return c.flushConfirm()
}

// flushConfirm sends delivered for every direct message returned so far.
// Direct messages arrive in id order, so one confirmation covers every
// earlier one.
func (c *Conn) flushConfirm() error {
	c.conf.mu.Lock()
	defer c.conf.mu.Unlock()
	if c.conf.pending == 0 || c.conf.closed {
		return nil
	}
	if c.conf.timer != nil {
		c.conf.timer.Stop()
		c.conf.timer = nil
	}
	select {
	case <-c.dead:
		return nil // the server keeps them queued; a new session gets them again
	default:
	}
	id := c.conf.taken
	c.conf.pending = 0
	if err := channel.WriteRecord(c.sess, typeDelivered, append(strconv.AppendInt([]byte(`{"id":`), id, 10), '}')); err != nil {
		return c.fail(fmt.Errorf("confirm delivery: %w", err))
	}
	return nil
}

// SendTo sends text to the user with certificate CN to. A nil error means
// the server committed it to to's durable queue (and handed it to to's live
// sessions, StatusDelivered). A refusal wraps ErrMessageRejected.
func (c *Conn) SendTo(ctx context.Context, to, text string) (SendResult, error) {
	return c.sendApp(ctx, sendReq{To: to, Text: text})
}

// SendRoom sends text to every current member of room, which we must have
// joined. A nil error means every member's session took it.
func (c *Conn) SendRoom(ctx context.Context, room, text string) (SendResult, error) {
	return c.sendApp(ctx, sendReq{Room: room, Text: text})
}

func (c *Conn) sendApp(ctx context.Context, req sendReq) (SendResult, error) {
	var id [12]byte
	if _, err := io.ReadFull(c.rand, id[:]); err != nil {
		return SendResult{}, fmt.Errorf("client_msg_id: %w", err)
	}
	// A random client_msg_id lets the server recognise a retried send.
	req.ClientMsgID = hex.EncodeToString(id[:])
	var res sentBody
	if err := c.request(ctx, typeSend, marshal(req), typeSent, &res); err != nil {
		return SendResult{}, err
	}
	if res.ClientMsgID != req.ClientMsgID {
		return SendResult{}, c.fail(fmt.Errorf("%w: sent for another message", ErrProtocol))
	}
	switch res.Status {
	case StatusDelivered, StatusQueued, StatusDuplicate:
		return SendResult{ID: res.ID, Time: msTime(res.TS), Status: res.Status}, nil
	case StatusRejected:
		return SendResult{}, fmt.Errorf("%w: %s", ErrMessageRejected, truncate(res.Reason, maxTextErr))
	}
	return SendResult{}, c.fail(fmt.Errorf("%w: unknown send status %q", ErrProtocol, truncate(res.Status, 32)))
}

// Join enters room and returns its members (including us). Members of the
// room are told (EventJoin) and we receive its messages until Leave.
func (c *Conn) Join(ctx context.Context, room string) ([]string, error) {
	r, err := c.roomCall(ctx, typeJoin, room)
	return r.Members, err
}

// Leave leaves room.
func (c *Conn) Leave(ctx context.Context, room string) error {
	_, err := c.roomCall(ctx, typeLeave, room)
	return err
}

// Who lists room's members, or with room "" everyone online.
func (c *Conn) Who(ctx context.Context, room string) ([]string, error) {
	r, err := c.roomCall(ctx, typeWho, room)
	return r.Members, err
}

// Rooms lists the rooms that have members.
func (c *Conn) Rooms(ctx context.Context) ([]string, error) {
	var r replyBody
	if err := c.request(ctx, typeRooms, []byte(`{}`), typeReply, &r); err != nil {
		return nil, err
	}
	return r.Rooms, c.replyError(r, typeRooms)
}

func (c *Conn) roomCall(ctx context.Context, typ, room string) (replyBody, error) {
	var r replyBody
	if err := c.request(ctx, typ, marshal(roomReq{Room: room}), typeReply, &r); err != nil {
		return r, err
	}
	return r, c.replyError(r, typ)
}

func (c *Conn) replyError(r replyBody, typ string) error {
	switch {
	case r.For != typ:
		return c.fail(fmt.Errorf("%w: reply for %q to a %s", ErrProtocol, truncate(r.For, 32), typ))
	case r.Error != "":
		return fmt.Errorf("%w: %s", ErrMessageRejected, truncate(r.Error, maxTextErr))
	}
	return nil
}

// request makes one request and decodes its response of type want into v.
func (c *Conn) request(ctx context.Context, typ string, pt []byte, want string, v wireObject) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.usable(); err != nil {
		return err
	}
	r, err := c.roundTrip(ctx, typ, pt)
	if err != nil {
		return err
	}
	if r.typ != want {
		return c.fail(fmt.Errorf("%w: server answered %s with %s", ErrProtocol, typ, r.typ))
	}
	if err := decodePlain(r.typ, r.pt, v); err != nil {
		return c.fail(err)
	}
	return nil
}
