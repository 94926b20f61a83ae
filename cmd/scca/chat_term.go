package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/chzyer/readline"
	"golang.org/x/term"

	"github.com/securechat/scca/chat"
)

// chatCommands is what the interactive client understands.
const chatCommands = "/msg CN text, /join ROOM, /leave, /who, /rooms, /quit (start a line with // to send one that begins with /)"

// lineEditor is the interactive client's terminal: line editing and history
// (github.com/chzyer/readline), incoming lines printed above the prompt with
// the half-typed line redrawn below them.
type lineEditor struct {
	rl *readline.Instance
	in *readline.CancelableStdin

	mu    sync.Mutex
	draft string // what is typed at the prompt, not yet sent

	ended   atomic.Bool // the receiver closed the editor: the session is over
	restore func() error
}

func (s *chatSession) newLineEditor(tty *os.File) (*lineEditor, error) {
	ed := &lineEditor{in: readline.NewCancelableStdin(tty)}
	rl, err := readline.NewEx(&readline.Config{
		Prompt:          "Enter message: ",
		HistoryLimit:    500, // in memory only: chat lines are not written to disk
		Stdin:           ed.in,
		Stdout:          s.e.stdout,
		Stderr:          s.e.stderr,
		InterruptPrompt: "^C",
		EOFPrompt:       "/quit",
		FuncIsTerminal:  func() bool { return true },
		FuncGetWidth: func() int {
			w, _, err := term.GetSize(int(tty.Fd()))
			if err != nil || w <= 0 {
				return 80
			}
			return w
		},
		FuncMakeRaw: func() error {
			st, err := term.MakeRaw(int(tty.Fd()))
			if err == nil {
				ed.mu.Lock()
				ed.restore = func() error { return term.Restore(int(tty.Fd()), st) }
				ed.mu.Unlock()
			}
			return err
		},
		FuncExitRaw: func() error {
			ed.mu.Lock()
			restore := ed.restore
			ed.mu.Unlock()
			if restore == nil {
				return nil
			}
			return restore()
		},
		Listener: readline.FuncListener(func(line []rune, _ int, _ rune) ([]rune, int, bool) {
			ed.mu.Lock()
			ed.draft = string(line)
			ed.mu.Unlock()
			return nil, 0, false
		}),
	})
	if err != nil {
		ed.in.Close()
		return nil, fmt.Errorf("terminal: %w", err)
	}
	ed.rl = rl
	s.out = rl.Stdout()
	// The server ending the session is shown at once, with what was typed
	// and is now not sent, and the prompt is released.
	s.onEnd = func() {
		s.sayEnded()
		if d := ed.currentDraft(); d != "" {
			s.printf("[Client] Not sent: %s\n", chat.EscapeLine(d))
		}
		ed.ended.Store(true)
		ed.close()
	}
	return ed, nil
}

func (ed *lineEditor) currentDraft() string {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	return ed.draft
}

// close releases the terminal. readline's Close does not close the stdin
// reader it wraps, and waits for it: close that first.
func (ed *lineEditor) close() {
	ed.in.Close()
	ed.rl.Close()
}

// interactive reads commands and text from the terminal until /quit,
// Ctrl-D, Ctrl-C or the end of the session.
func (s *chatSession) interactive(ctx context.Context, ed *lineEditor) error {
	s.printf("Commands: %s; other text goes to the current room, or to the server.\n", chatCommands)
	for {
		line, err := ed.rl.Readline()
		ed.mu.Lock()
		ed.draft = ""
		ed.mu.Unlock()
		switch {
		case errors.Is(err, readline.ErrInterrupt): // Ctrl-C: leave at once
			return nil
		case errors.Is(err, io.EOF): // Ctrl-D, or the receiver closed the editor
			if ed.ended.Load() {
				<-s.recvDone
			}
			return s.endedByServer()
		case err != nil:
			return fmt.Errorf("terminal: %w", err)
		}
		line = strings.TrimSpace(line)
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
			if ctx.Err() != nil { // interrupted while waiting for the server
				return nil
			}
			return s.requestFailed(err)
		}
	}
}

// command runs one line: a /command, or text for the room or the server.
// Unknown /commands are refused here, never sent.
func (s *chatSession) command(ctx context.Context, line string) error {
	verb, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch verb {
	case "/msg":
		to, text, ok := strings.Cut(rest, " ")
		if !ok || strings.TrimSpace(text) == "" {
			s.printf("usage: /msg CN text\n")
			return nil
		}
		res, err := s.conn.SendTo(ctx, to, text)
		if err == nil {
			s.printf("(%s #%d)\n", res.Status, res.ID)
		}
		return err
	case "/join":
		if rest == "" {
			s.printf("usage: /join ROOM\n")
			return nil
		}
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
	if strings.HasPrefix(line, "//") {
		line = line[1:]
	} else if strings.HasPrefix(line, "/") {
		s.printf("unknown command %s (not sent); commands: %s\n", chat.EscapeLine(verb), chatCommands)
		return nil
	}
	if s.room != "" {
		res, err := s.conn.SendRoom(ctx, s.room, line)
		if err == nil {
			s.printf("(%s #%d)\n", res.Status, res.ID)
		}
		return err
	}
	return s.conn.Send(ctx, line)
}
