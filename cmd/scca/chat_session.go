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
	mu   sync.Mutex // one line at a time on stdout
	room string     // current room of the interactive client

	recvDone chan struct{}
	recvErr  error // why the session ended, set before recvDone closes
}

func (s *chatSession) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.e.printf(format, args...)
}

// receive prints deliveries and presence until the session ends.
func (s *chatSession) receive(ctx context.Context) {
	defer close(s.recvDone)
	for {
		ev, err := s.conn.Receive(ctx)
		if err != nil {
			s.recvErr = err
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
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &chatSession{e: e, conn: conn, recvDone: make(chan struct{})}
	go s.receive(rctx)
	to, room := e.v.GetString("to"), e.v.GetString("room")
	if room != "" {
		if _, err := conn.Join(ctx, room); err != nil {
			return fmt.Errorf("join %s: %w", room, err)
		}
		s.room = room
	}
	var err error
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		err = s.interactive(ctx)
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
		s.printf("[Client] Session ended by server: %s\n", chat.EscapeLine(re.Code))
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

// interactive reads commands and text from a terminal.
func (s *chatSession) interactive(ctx context.Context) error {
	s.printf("Commands: /msg CN text, /join room, /leave, /who, /rooms, /quit; other text goes to the current room, or to the server.\n")
	sc := bufio.NewScanner(s.e.stdin)
	for {
		s.printf("Enter message: ")
		if !sc.Scan() {
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		if line == "/quit" {
			return nil
		}
		if line == "" {
			continue
		}
		if err := s.command(ctx, line); err != nil {
			if errors.Is(err, chat.ErrMessageRejected) {
				s.printf("! %s\n", chat.EscapeLine(err.Error()))
				continue
			}
			if e := s.endedByServer(); e != nil {
				return e
			}
			return err
		}
	}
}

func (s *chatSession) command(ctx context.Context, line string) error {
	verb, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch verb {
	case "/msg":
		to, text, ok := strings.Cut(rest, " ")
		if !ok {
			s.printf("usage: /msg CN text\n")
			return nil
		}
		res, err := s.conn.SendTo(ctx, to, text)
		if err == nil {
			s.printf("(%s #%d)\n", res.Status, res.ID)
		}
		return err
	case "/join":
		members, err := s.conn.Join(ctx, rest)
		if err == nil {
			s.room = rest
			s.printf("* joined %s: %s\n", chat.EscapeLine(rest), escapeList(members))
		}
		return err
	case "/leave":
		if s.room == "" {
			s.printf("not in a room\n")
			return nil
		}
		err := s.conn.Leave(ctx, s.room)
		s.room = ""
		return err
	case "/who":
		who, err := s.conn.Who(ctx, s.room)
		if err == nil {
			s.printf("* online: %s\n", escapeList(who))
		}
		return err
	case "/rooms":
		rooms, err := s.conn.Rooms(ctx)
		if err == nil {
			s.printf("* rooms: %s\n", escapeList(rooms))
		}
		return err
	}
	if s.room != "" {
		_, err := s.conn.SendRoom(ctx, s.room, line)
		return err
	}
	return s.conn.Send(ctx, line)
}

// escapeList shows names from the server, each made inert.
func escapeList(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = chat.EscapeLine(n)
	}
	return strings.Join(out, ", ")
}
