package chat

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzAppPlaintexts feeds one plaintext to every messaging decoder
// (docs/PROTOCOL.md §12): each must refuse with ErrProtocol or return
// values within the documented limits.
func FuzzAppPlaintexts(f *testing.F) {
	f.Add([]byte(`{"to":"bob","text":"hi","client_msg_id":"1"}`))
	f.Add([]byte(`{"room":"lobby","text":"hi"}`))
	f.Add([]byte(`{"id":7,"from":"alice","room":"lobby","ts":1767225600000,"text":"hi"}`))
	f.Add([]byte(`{"kind":"join","room":"lobby","cn":"alice"}`))
	f.Add([]byte(`{"id":1,"id":2}`))
	f.Fuzz(func(t *testing.T, pt []byte) {
		check := func(err error) {
			if err != nil && !errors.Is(err, ErrProtocol) {
				t.Fatalf("error outside ErrProtocol: %v", err)
			}
		}
		if r, err := parseSend(pt); err == nil {
			if (r.To == "") == (r.Room == "") || len(r.To) > maxNameLen || len(r.Room) > maxNameLen || len(r.ClientMsgID) > maxClientMsgID {
				t.Fatalf("accepted bad send %+v", r)
			}
		} else {
			check(err)
		}
		for _, typ := range []string{typeJoin, typeLeave, typeWho} {
			if r, err := parseRoomReq(typ, pt); err == nil && len(r.Room) > maxNameLen {
				t.Fatalf("accepted long room %q", r.Room)
			} else {
				check(err)
			}
		}
		if id, err := parseDelivered(pt); err == nil && id <= 0 {
			t.Fatalf("accepted delivered id %d", id)
		} else {
			check(err)
		}
		for _, typ := range []string{typeDeliver, typeEvent} {
			if ev, err := parsePush(typ, pt); err == nil && ev.From == "" {
				t.Fatalf("accepted push without sender: %+v", ev)
			} else {
				check(err)
			}
		}
		if err := decodePlain("x", pt, emptyObject{}); err == nil && !json.Valid(pt) {
			t.Fatalf("accepted invalid JSON %q", pt)
		}
	})
}
