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
	"sync/atomic"

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

	// leaving is set before we close the session: an end the receiver
	// sees from then on is ours, unless the server gave a reason.
	leaving  atomic.Bool
	recvDone chan struct{}
	recvErr  error // why the session ended, set before recvDone closes
	byServer bool  // the end was the server's doing, set with recvErr
	// onEnd, when set, is called by the receiver once the server ended the
	// session (the interactive client shows it at once); notified says the
	// end was shown.
	onEnd    func()
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
			s.recvErr, s.byServer = err, s.serverEnded(err)
			if s.byServer && s.onEnd != nil {
				s.onEnd()
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

// serverEnded reports whether err, the end of the session the receiver
// saw, is the server's doing: an end the server gave a reason for (also
// one racing with our close: certificate_revoked), and any other end
// before we began to leave (a shutdown, a dropped connection) unless it
// was our interrupt cancelling a request.
func (s *chatSession) serverEnded(err error) bool {
	var re *chat.RemoteError
	if errors.As(err, &re) {
		return true
	}
	return !s.leaving.Load() && !errors.Is(err, context.Canceled)
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
// the session; a session the server ends is reported as soon as it ends,
// whatever the client was waiting for.
func (e *env) runChatSession(ctx context.Context, conn *chat.Conn) error {
	// The receiver outlives an interrupt: leave below still confirms what
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
	var err error
	if room != "" {
		err = s.join(ctx, room, !interactive)
	}
	switch {
	case err != nil:
	case interactive:
		err = s.interactive(ctx, ed)
	default:
		var sent int
		if sent, err = s.sendAll(ctx, to, room); err == nil {
			// With --receive the count is said on the way out: said
			// when the input ends, it would fall among the messages
			// arriving meanwhile (a backlog replayed on connect, say).
			report := func() { s.printf("[Client] %d message(s) sent and acknowledged\n", sent) }
			if e.v.GetBool("receive") {
				defer report()
			} else {
				report()
			}
		}
	}
	if err == nil && e.v.GetBool("receive") {
		select {
		case <-ctx.Done():
		case <-s.recvDone:
		}
	}
	// Close before cancelling the receiver, so the server gets close and
	// answers it (read by the receiver) rather than a cut connection.
	s.leave()
	cancel()
	<-s.recvDone
	if err == nil {
		err = s.endedByServer()
	}
	return err
}

// join enters the room of --room; a scripted client says it did, a line
// to wait for: room messages sent from then on reach it.
func (s *chatSession) join(ctx context.Context, room string, say bool) error {
	if _, err := s.conn.Join(ctx, room); err != nil {
		return s.requestFailed(fmt.Errorf("join %s: %w", room, err))
	}
	s.room = room
	if say {
		s.printf("[Client] Joined %s\n", chat.EscapeLine(room))
	}
	return nil
}

// leave closes the session from our side: close, answered by the server.
// An end the receiver sees from now on is ours.
func (s *chatSession) leave() {
	s.leaving.Store(true)
	s.conn.Close()
}

// endedByServer reports a session the server ended (a revocation, a
// shutdown, a dropped connection) as an error, saying why on the output
// unless that was done already; nil while the session lasts or when the
// end was ours.
func (s *chatSession) endedByServer() error {
	select {
	case <-s.recvDone:
	default:
		return nil
	}
	if !s.byServer {
		return nil
	}
	s.sayEnded()
	var re *chat.RemoteError
	if errors.As(s.recvErr, &re) {
		return fmt.Errorf("session ended by server: %s: %s", chat.EscapeLine(re.Code), chat.EscapeLine(re.Reason))
	}
	return fmt.Errorf("session ended: %w", s.recvErr)
}

// sayEnded shows, once, why the server ended the session. Called by the
// receiver, or after recvDone closed.
func (s *chatSession) sayEnded() {
	if s.notified {
		return
	}
	s.notified = true
	var re *chat.RemoteError
	if errors.As(s.recvErr, &re) {
		s.printf("[Client] Session ended by server: %s\n", chat.EscapeLine(re.Code))
		return
	}
	s.printf("[Client] Session ended: %s\n", chat.EscapeLine(s.recvErr.Error()))
}

// requestFailed is the error to exit with after a request failed: when
// the failure ended the session, how it ended — the server's reason (a
// revocation the request ran into) or the lost connection, said once as
// the receiver sees it; else err (a refused message, an interrupt).
func (s *chatSession) requestFailed(err error) error {
	select {
	case <-s.conn.Done():
		// The receiver ends on the same error: wait for it, so the answer
		// does not depend on which of the two saw the end first.
		<-s.recvDone
		if e := s.endedByServer(); e != nil {
			return e
		}
	default:
	}
	return err
}

// inputLine is one line of standard input, or with err set the end of
// the input (io.EOF) or why reading it failed.
type inputLine struct {
	text string
	err  error
}

// readLines reads r line by line in a goroutine of its own and hands each
// line over, the last inputLine holding the end. A read from standard input
// cannot be interrupted portably (a pipe whose writer stays open blocks it
// for good), so it runs apart and the session waits for "next line",
// "session over" and the interrupt at once. stop lets the reader go at its
// next line; one still blocked in a read ends with the process.
func readLines(r io.Reader) (lines <-chan inputLine, stop func()) {
	out := make(chan inputLine) // unbuffered: at most one line read ahead
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case out <- inputLine{text: sc.Text()}:
			case <-done:
				return
			}
		}
		end := sc.Err()
		if end == nil {
			end = io.EOF
		}
		select {
		case out <- inputLine{err: end}:
		case <-done:
		}
	}()
	return out, func() { close(done) }
}

// sendAll sends each line of stdin to one destination; each send returns
// once the server acknowledged (or refused) it. Between lines it also
// watches the session: one the server ends is reported at once, not at
// the next line, and an interrupt ends the input.
func (s *chatSession) sendAll(ctx context.Context, to, room string) (sent int, err error) {
	lines, stop := readLines(s.e.stdin)
	defer stop()
	for {
		var in inputLine
		select {
		case in = <-lines:
		case <-s.recvDone:
			if err := s.endedByServer(); err != nil {
				return sent, err
			}
			return sent, fmt.Errorf("session ended: %w", s.recvErr)
		case <-ctx.Done():
			// Interrupted: every line read so far was acknowledged.
			in.err = io.EOF
		}
		if in.err != nil {
			if !errors.Is(in.err, io.EOF) {
				return sent, fmt.Errorf("read input: %w", in.err)
			}
			return sent, nil
		}
		text := strings.TrimRight(in.text, "\r")
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
			return sent, s.requestFailed(fmt.Errorf("message %d not delivered: %w", sent+1, err))
		}
		sent++
	}
}

// escapeList shows names from the server, each made inert.
func escapeList(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = chat.EscapeLine(n)
	}
	return strings.Join(out, ", ")
}
