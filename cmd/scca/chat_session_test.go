package main

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/securechat/scca/chat"
)

// scriptedEvents replays a fixed list of events, then ends the session.
type scriptedEvents struct {
	evs []chat.Event
	end error
}

func (s *scriptedEvents) Receive(context.Context) (chat.Event, error) {
	if len(s.evs) == 0 {
		return chat.Event{}, s.end
	}
	ev := s.evs[0]
	s.evs = s.evs[1:]
	return ev, nil
}

func dm(id int64, text string) chat.Event {
	return chat.Event{Kind: chat.EventMessage, ID: id, From: "alice", Text: text}
}

// TestReceivePrintsEachDirectMessageOnce: a direct message the server sends
// again (the same server id) is printed once; every line shows its id; a
// room message with the same number as a direct message (room ids are the
// server's own counter) is still printed.
func TestReceivePrintsEachDirectMessageOnce(t *testing.T) {
	src := &scriptedEvents{end: chat.ErrClosed, evs: []chat.Event{
		dm(7, "one"), dm(8, "two"),
		dm(7, "one"), dm(8, "two"), // redelivered
		{Kind: chat.EventMessage, ID: 7, From: "bob", Room: "lobby", Text: "room seven"},
		dm(9, "three"), dm(8, "two"),
	}}
	var out bytes.Buffer
	s := &chatSession{out: &out, recvDone: make(chan struct{})}
	s.receive(context.Background(), src)
	want := "[dm #7] alice: one\n[dm #8] alice: two\n[lobby #7] bob: room seven\n[dm #9] alice: three\n"
	if out.String() != want {
		t.Errorf("printed:\n%s\nwant:\n%s", out.String(), want)
	}
	if !errors.Is(s.recvErr, chat.ErrClosed) {
		t.Errorf("recvErr = %v, want ErrClosed", s.recvErr)
	}
}

// TestSeenIDsBounded: the set keeps exactly the last seenCap ids, so its
// memory is bounded, and an id evicted long ago counts as new again.
func TestSeenIDsBounded(t *testing.T) {
	var s seenIDs
	for id := int64(1); id <= 3*seenCap; id++ {
		if !s.add(id) {
			t.Fatalf("id %d reported seen on first add", id)
		}
	}
	if len(s.set) != seenCap || len(s.ring) != seenCap {
		t.Fatalf("set %d, ring %d entries, want %d", len(s.set), len(s.ring), seenCap)
	}
	if s.add(3 * seenCap) {
		t.Error("the latest id was not remembered")
	}
	if s.add(2*seenCap + 1) {
		t.Error("the oldest kept id was not remembered")
	}
	if !s.add(2 * seenCap) {
		t.Error("an id evicted seenCap adds ago still counts as seen")
	}
	if _, ok := s.set[1]; ok {
		t.Error("id 1 still kept")
	}
}
