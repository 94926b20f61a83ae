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

// receive prints deliveries and presence until the session ends.
func (s *chatSession) receive(ctx context.Context) {
	defer close(s.recvDone)
	for {
		ev, err := s.conn.Receive(ctx)
		if err != nil {
			s.recvErr = err
			if s.onEnd != nil {
				s.onEnd(err)
			}
			return
		}
		switch {
		case ev.Kind == chat.EventMessage && ev.Room == "":
			s.printf("[dm] %s: %s\n", chat.EscapeLine(ev.From), chat.EscapeMessage(ev.Text))
		case ev.Kind == chat.EventMessage:
			s.printf("[%s] %s: %s\n", chat.EscapeLine(ev.Room), chat.EscapeLine(ev.From), chat.EscapeMessage(ev.Text))
		default:
			s.printf("* %s %s %s\n", chat.EscapeLine(ev.From), map[string]string{chat.EventJoin: "joined", chat.EventLeave: "left"}[ev.Kind], chat.EscapeLine(ev.Room))
		}
	}
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
	go s.receive(rctx)
	to, room := e.v.GetString("to"), e.v.GetString("room")
	if room != "" {
		if _, err := conn.Join(ctx, room); err != nil {
			return fmt.Errorf("join %s: %w", room, err)
		}
		s.room = room
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
