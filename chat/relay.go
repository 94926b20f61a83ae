package chat

import (
	"fmt"

	"github.com/securechat/scca/chat/channel"
)

// handle serves one messaging request (docs/PROTOCOL.md §12.1) and writes
// its response. Requests are served in order; a bad request is a protocol
// error that ends the session, a refused one gets a response saying why.
func (s *Server) handle(sess *channel.Session, m *member, typ string, pt []byte) error {
	switch typ {
	case typeSend:
		req, err := parseSend(pt)
		if err != nil {
			return err
		}
		return channel.WriteRecord(sess, typeSent, marshal(s.send(m, req)))
	case typeJoin, typeLeave, typeWho:
		req, err := parseRoomReq(typ, pt)
		if err != nil {
			return err
		}
		return channel.WriteRecord(sess, typeReply, marshal(s.roomRequest(m, typ, req.Room)))
	case typeRooms:
		if err := decodePlain(typ, pt, emptyObject{}); err != nil {
			return err
		}
		return channel.WriteRecord(sess, typeReply, marshal(replyBody{For: typeRooms, Rooms: s.hub.roomNames()}))
	case typeDelivered:
		id, err := parseDelivered(pt)
		if err != nil {
			return err
		}
		return s.confirm(m, id)
	}
	return fmt.Errorf("%w: client sent %s", ErrProtocol, typ)
}

// send relays a message from m: to a room's current members, or through
// the durable queue to a user (§12.2). The sender is always m's
// authenticated CN.
func (s *Server) send(m *member, req sendReq) sentBody {
	now := s.now()
	if req.To != "" {
		return s.sendDirect(m, req, now)
	}
	res := sentBody{ClientMsgID: req.ClientMsgID, TS: now.UnixMilli(), ID: s.lastMsgID.Add(1)}
	if r, ok := s.cl.relayRoom(m, req, res.ID, res.TS); !ok {
		return r
	}
	rec := outRecord{typ: typeDeliver, pt: marshal(deliverBody{ID: res.ID, From: m.cn, Room: req.Room, TS: res.TS, Text: req.Text})}
	if !s.hub.fanOut(m, req.Room, rec) {
		return rejected(sentBody{ClientMsgID: req.ClientMsgID, TS: res.TS}, ReasonNotInRoom, "join "+req.Room+" before sending to it")
	}
	res.Status = StatusDelivered
	return res
}

// roomRequest serves join, leave and who.
func (s *Server) roomRequest(m *member, typ, room string) replyBody {
	r := replyBody{For: typ, Room: room}
	switch typ {
	case typeJoin:
		members, err := s.hub.join(m, room)
		if err != nil {
			r.Error = err.Error()
		}
		r.Members = members
	case typeLeave:
		if !s.hub.leave(m, room) {
			r.Error = "not in room " + room
		}
	case typeWho:
		r.Members = s.hub.who(room)
	}
	return r
}
