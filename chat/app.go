package chat

import (
	"fmt"

	"github.com/securechat/scca/chat/channel"
)

// Messaging record types (docs/PROTOCOL.md §12). Each is an encrypted record
// like message and ack (§6): its type is in the additional data and it takes
// the next sequence number of its direction. Plaintexts are JSON objects.
const (
	// client -> server requests; each but delivered gets exactly one response.
	typeSend      = "send"      // -> sent
	typeJoin      = "join"      // -> reply
	typeLeave     = "leave"     // -> reply
	typeWho       = "who"       // -> reply
	typeRooms     = "rooms"     // -> reply
	typeDelivered = "delivered" // no response
	// server -> client
	typeSent    = "sent"    // response to send
	typeReply   = "reply"   // response to join, leave, who, rooms
	typeDeliver = "deliver" // a message pushed to the recipient
	typeEvent   = "event"   // presence
)

// The relay registers its record types with the channel, so sessions read
// them; the channel's derived limits (additional data, record overheads)
// take them into account (channel/record_types.go).
func init() {
	channel.RegisterRecordTypes(typeSend, typeJoin, typeLeave, typeWho, typeRooms, typeDelivered,
		typeSent, typeReply, typeDeliver, typeEvent)
}

// Send statuses (sent.status).
const (
	StatusDelivered = "delivered" // handed to every live session of the recipient(s)
	StatusQueued    = "queued"    // committed to the recipient's durable queue
	StatusDuplicate = "duplicate" // this client_msg_id was accepted before; not stored again
	StatusRejected  = "rejected"  // not accepted; reason says why
)

// Event kinds (event.kind, and Event.Kind on the client).
const (
	EventMessage = "message" // a deliver record
	EventJoin    = "join"
	EventLeave   = "leave"
)

// Limits on messaging fields (docs/PROTOCOL.md §12.6).
const (
	maxNameLen     = 64   // room names, CNs used as recipients, client_msg_id: VARCHAR(64) in the store
	maxListLen     = 2000 // names in a reply: 2000 × (64+3) bytes fits the default frame
	maxClientMsgID = 64
)

// sendReq is the send plaintext: exactly one of To (a CN) and Room.
type sendReq struct {
	To          string `json:"to,omitempty"`
	Room        string `json:"room,omitempty"`
	Text        string `json:"text"`
	ClientMsgID string `json:"client_msg_id,omitempty"`
}

// roomReq is the plaintext of join, leave and who (room optional for who).
type roomReq struct {
	Room string `json:"room,omitempty"`
}

// deliveredReq confirms every direct message up to and including ID.
type deliveredReq struct {
	ID int64 `json:"id"`
}

// sentBody answers a send.
type sentBody struct {
	ClientMsgID string `json:"client_msg_id,omitempty"`
	ID          int64  `json:"id,omitempty"`
	TS          int64  `json:"ts"`
	Status      string `json:"status"`
	Reason      string `json:"reason,omitempty"`
}

// deliverBody is a message pushed to a recipient. Room is empty for a
// direct message, which the recipient must confirm with delivered.
type deliverBody struct {
	ID   int64  `json:"id"`
	From string `json:"from"`
	Room string `json:"room,omitempty"`
	TS   int64  `json:"ts"`
	Text string `json:"text"`
}

// eventBody is a presence event.
type eventBody struct {
	Kind string `json:"kind"`
	Room string `json:"room"`
	CN   string `json:"cn"`
}

// replyBody answers join, leave, who and rooms.
type replyBody struct {
	For     string   `json:"for"`
	Room    string   `json:"room,omitempty"`
	Members []string `json:"members,omitempty"`
	Rooms   []string `json:"rooms,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// Member tables of the plaintexts (§12.1).

func (m *sendReq) Fields() []field {
	return []field{{Name: "to", Dst: &m.To}, {Name: "room", Dst: &m.Room},
		{Name: "text", Dst: &m.Text, Req: true}, {Name: "client_msg_id", Dst: &m.ClientMsgID}}
}

func (m *roomReq) Fields() []field { return []field{{Name: "room", Dst: &m.Room}} }

func (m *deliveredReq) Fields() []field { return []field{{Name: "id", Dst: &m.ID, Req: true}} }

func (m *sentBody) Fields() []field {
	return []field{{Name: "client_msg_id", Dst: &m.ClientMsgID}, {Name: "id", Dst: &m.ID},
		{Name: "ts", Dst: &m.TS, Req: true}, {Name: "status", Dst: &m.Status, Req: true},
		{Name: "reason", Dst: &m.Reason}}
}

func (m *deliverBody) Fields() []field {
	return []field{{Name: "id", Dst: &m.ID, Req: true}, {Name: "from", Dst: &m.From, Req: true},
		{Name: "room", Dst: &m.Room}, {Name: "ts", Dst: &m.TS, Req: true}, {Name: "text", Dst: &m.Text, Req: true}}
}

func (m *eventBody) Fields() []field {
	return []field{{Name: "kind", Dst: &m.Kind, Req: true}, {Name: "room", Dst: &m.Room},
		{Name: "cn", Dst: &m.CN, Req: true}}
}

func (m *replyBody) Fields() []field {
	return []field{{Name: "for", Dst: &m.For, Req: true}, {Name: "room", Dst: &m.Room},
		{Name: "members", Dst: &m.Members}, {Name: "rooms", Dst: &m.Rooms}, {Name: "error", Dst: &m.Error}}
}

// parseSend decodes and checks a send plaintext.
func parseSend(pt []byte) (sendReq, error) {
	var r sendReq
	if err := decodePlain(typeSend, pt, &r); err != nil {
		return r, err
	}
	switch {
	case (r.To == "") == (r.Room == ""):
		return r, fmt.Errorf("%w: send needs exactly one of to and room", ErrProtocol)
	case r.To != "" && validName("to", r.To) != nil:
		return r, fmt.Errorf("%w: send: %w", ErrProtocol, validName("to", r.To))
	case r.Room != "" && validName("room", r.Room) != nil:
		return r, fmt.Errorf("%w: send: %w", ErrProtocol, validName("room", r.Room))
	case len(r.ClientMsgID) > maxClientMsgID:
		return r, fmt.Errorf("%w: client_msg_id longer than %d bytes", ErrProtocol, maxClientMsgID)
	}
	return r, nil
}

// parseRoomReq decodes join, leave (room required) and who (room optional).
func parseRoomReq(typ string, pt []byte) (roomReq, error) {
	var r roomReq
	if err := decodePlain(typ, pt, &r); err != nil {
		return r, err
	}
	if r.Room == "" && typ == typeWho {
		return r, nil
	}
	if err := validName("room", r.Room); err != nil {
		return r, fmt.Errorf("%w: %s: %w", ErrProtocol, typ, err)
	}
	return r, nil
}

// parseDelivered decodes a delivered confirmation.
func parseDelivered(pt []byte) (int64, error) {
	var r deliveredReq
	if err := decodePlain(typeDelivered, pt, &r); err != nil {
		return 0, err
	}
	if r.ID <= 0 {
		return 0, fmt.Errorf("%w: delivered id must be positive", ErrProtocol)
	}
	return r.ID, nil
}

// parsePush decodes a server push (deliver or event) into an Event.
func parsePush(typ string, pt []byte) (Event, error) {
	switch typ {
	case typeDeliver:
		var d deliverBody
		if err := decodePlain(typ, pt, &d); err != nil {
			return Event{}, err
		}
		if d.ID <= 0 || d.From == "" {
			return Event{}, fmt.Errorf("%w: deliver without id or sender", ErrProtocol)
		}
		if err := validPushNames(d.From, d.Room); err != nil {
			return Event{}, fmt.Errorf("%w: deliver: %w", ErrProtocol, err)
		}
		return Event{Kind: EventMessage, ID: d.ID, From: d.From, Room: d.Room, Time: msTime(d.TS), Text: d.Text}, nil
	case typeEvent:
		var e eventBody
		if err := decodePlain(typ, pt, &e); err != nil {
			return Event{}, err
		}
		if e.Kind == "" || e.CN == "" {
			return Event{}, fmt.Errorf("%w: event without kind or cn", ErrProtocol)
		}
		if err := validPushNames(e.CN, e.Room); err != nil {
			return Event{}, fmt.Errorf("%w: event: %w", ErrProtocol, err)
		}
		return Event{Kind: e.Kind, Room: e.Room, From: e.CN}, nil
	}
	return Event{}, fmt.Errorf("%w: %s is not a push", ErrProtocol, typ)
}

// validPushNames applies the server's name rule to the names in a push, so
// a client refuses a sender or room name no honest server relays.
// A CN is up to 64 characters (the CA's rule), so up to 256 bytes.
func validPushNames(cn, room string) error {
	if len(cn) > 4*maxNameLen {
		return fmt.Errorf("cn is longer than %d bytes", 4*maxNameLen)
	}
	if err := printableName("cn", cn); err != nil {
		return err
	}
	if room != "" {
		return validName("room", room)
	}
	return nil
}
