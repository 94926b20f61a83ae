package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"

	"github.com/securechat/scca/chat"
)

// chatSession is the client's terminal side: one goroutine prints what the
// server pushes, the caller sends lines (docs/PROTOCOL.md §12).
type chatSession struct {
	e    *env
	conn *chat.Conn
	mu   sync.Mutex // one line at a time on out
	out  io.Writer  // stdout, or the line editor's (which redraws the prompt)
	room string     // current room of the interactive client

	recvDone chan struct{}
	recvErr  error // why the session ended, set before recvDone closes
	// onEnd, when set, is called by the receiver once the session ends
	// (the interactive client shows it at once); notified says it did.
	onEnd    func(error)
	notified bool
}

func (s *chatSession) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, format, args...)
}

// eventSource is what the receiver reads: a *chat.Conn.
type eventSource interface {
	Receive(ctx context.Context) (chat.Event, error)
}

// receive prints deliveries and presence until the session ends. Each
// message shows its server id; a direct message whose id was already
// printed (the server sends again what it had no confirmation for) is not
// printed again.
func (s *chatSession) receive(ctx context.Context, src eventSource) {
	defer close(s.recvDone)
	var seen seenIDs
	for {
		ev, err := src.Receive(ctx)
		if err != nil {
			s.recvErr = err
			if s.onEnd != nil {
				s.onEnd(err)
			}
			return
		}
		switch {
		case ev.Kind == chat.EventMessage && ev.Room == "":
			if seen.add(ev.ID) {
				s.printf("[dm #%d] %s: %s\n", ev.ID, chat.EscapeLine(ev.From), chat.EscapeMessage(ev.Text))
			}
		case ev.Kind == chat.EventMessage:
			s.printf("[%s #%d] %s: %s\n", chat.EscapeLine(ev.Room), ev.ID, chat.EscapeLine(ev.From), chat.EscapeMessage(ev.Text))
		default:
			s.printf("* %s %s %s\n", chat.EscapeLine(ev.From), map[string]string{chat.EventJoin: "joined", chat.EventLeave: "left"}[ev.Kind], chat.EscapeLine(ev.Room))
		}
	}
}

// seenCap bounds the direct message ids the client remembers. The server
// sends again only what it has no confirmation for — at most a batch or
// two (docs/PROTOCOL.md §12.3) — so the last 4096 ids are plenty, and the
// memory stays bounded however long the client runs.
const seenCap = 4096

// seenIDs is the set of the last seenCap direct message ids printed.
// Direct message ids are unique per inventory (room message ids are per
// server, so they are not kept here).
type seenIDs struct {
	set  map[int64]struct{}
	ring []int64 // insertion order; ring[next] is evicted next once full
	next int
}

// add records id and reports whether it was new.
func (s *seenIDs) add(id int64) bool {
	if _, ok := s.set[id]; ok {
		return false
	}
	if s.set == nil {
		s.set = make(map[int64]struct{}, seenCap)
	}
	if len(s.ring) < seenCap {
		s.ring = append(s.ring, id)
	} else {
		delete(s.set, s.ring[s.next])
		s.ring[s.next] = id
		s.next = (s.next + 1) % seenCap
	}
	s.set[id] = struct{}{}
	return true
}

// runChatSession sends stdin (to --to, --room or the server) and, with
// --receive, stays to print incoming messages until interrupted. Exit
// status 0 means every line was acknowledged and the server did not end
// the session with an error.
func (e *env) runChatSession(ctx context.Context, conn *chat.Conn) error {
	// The receiver outlives an interrupt: Close below still confirms what
	// was printed (confirmations go in batches) and says close; only then
	// is the receiver stopped. Cancelled with ctx, an interrupted Receive
	// would end the session first and every printed message would come
	// again next time.
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	s := &chatSession{e: e, conn: conn, out: e.stdout, recvDone: make(chan struct{})}
	tty, interactive := e.stdin.(*os.File)
	interactive = interactive && term.IsTerminal(int(tty.Fd()))
	var ed *lineEditor
	if interactive {
		var err error
		if ed, err = s.newLineEditor(tty); err != nil {
			return err
		}
		defer ed.close()
	}
	go s.receive(rctx, conn)
	to, room := e.v.GetString("to"), e.v.GetString("room")
	if room != "" {
		if _, err := conn.Join(ctx, room); err != nil {
			return fmt.Errorf("join %s: %w", room, err)
		}
		s.room = room
		if !interactive {
			// A line to wait for: room messages sent from now on reach us.
			s.printf("[Client] Joined %s\n", chat.EscapeLine(room))
		}
	}
	var err error
	if interactive {
		err = s.interactive(ctx, ed)
	} else {
		err = s.sendAll(ctx, to, room)
	}
	if err == nil && e.v.GetBool("receive") {
		select {
		case <-ctx.Done():
		case <-s.recvDone:
		}
	}
	if err == nil {
		err = s.endedByServer()
	}
	// Close before cancelling the receiver, so the server gets close and
	// answers it (read by the receiver) rather than a cut connection.
	conn.Close()
	cancel()
	<-s.recvDone
	return err
}

// endedByServer reports a session the server ended with a reason (such as
// certificate_revoked) as an error.
func (s *chatSession) endedByServer() error {
	select {
	case <-s.recvDone:
	default:
		return nil
	}
	var re *chat.RemoteError
	if errors.As(s.recvErr, &re) {
		if !s.notified {
			s.printf("[Client] Session ended by server: %s\n", chat.EscapeLine(re.Code))
		}
		return fmt.Errorf("session ended by server: %s: %s", chat.EscapeLine(re.Code), chat.EscapeLine(re.Reason))
	}
	if errors.Is(s.recvErr, context.Canceled) || errors.Is(s.recvErr, chat.ErrClosed) {
		return nil
	}
	return s.recvErr
}

// sendAll sends each line of stdin to one destination; each send returns
// once the server acknowledged (or refused) it.
func (s *chatSession) sendAll(ctx context.Context, to, room string) error {
	sc := bufio.NewScanner(s.e.stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sent := 0
	for sc.Scan() {
		text := strings.TrimRight(sc.Text(), "\r")
		if text == "" {
			continue
		}
		var err error
		switch {
		case to != "":
			_, err = s.conn.SendTo(ctx, to, text)
		case room != "":
			_, err = s.conn.SendRoom(ctx, room, text)
		default:
			err = s.conn.Send(ctx, text)
		}
		if err != nil {
			if e := s.endedByServer(); e != nil {
				return e
			}
			return fmt.Errorf("message %d not delivered: %w", sent+1, err)
		}
		sent++
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read input: %w", err)
	}
	s.printf("[Client] %d message(s) sent and acknowledged\n", sent)
	return nil
}

// escapeList shows names from the server, each made inert.
func escapeList(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = chat.EscapeLine(n)
	}
	return strings.Join(out, ", ")
}
