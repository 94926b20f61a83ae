package channel

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Resumption fields of the handshake messages (docs/PROTOCOL.md §13.1).
// They extend the securechat/1 messages; every one is omitted when unused,
// so a full handshake's bytes are unchanged.

// typeNewTicket is the record the server sends after the handshake when the
// client asked for a ticket (§13.2).
const typeNewTicket = "new_ticket"

// clientHelloExt is client_hello with the resumption fields. Binder is the
// last field, so the truncated hello the binder covers is a prefix of the
// wire bytes (§13.3).
type clientHelloExt struct {
	clientHello
	// BinaryRecords offers binary record bodies (§6.7).
	BinaryRecords bool   `json:"binary_records,omitempty"`
	TicketRequest bool   `json:"ticket_request,omitempty"`
	Ticket        string `json:"ticket,omitempty"`
	Binder        string `json:"binder,omitempty"`
}

// serverHelloExt is server_hello with the resumption fields.
type serverHelloExt struct {
	serverHello
	// BinaryRecords: records in both directions have binary bodies (§6.7);
	// only if the client offered them.
	BinaryRecords bool `json:"binary_records,omitempty"`
	// Resumed: the server accepted the ticket; server_finish and
	// client_finish carry no signature.
	Resumed bool `json:"resumed,omitempty"`
	// NewTicket: the server's first record will be new_ticket.
	NewTicket bool `json:"new_ticket,omitempty"`
}

func (m *clientHelloExt) Fields() []Field {
	return append(m.clientHello.fieldList(),
		Field{Name: "binary_records", Dst: &m.BinaryRecords},
		Field{Name: "ticket_request", Dst: &m.TicketRequest},
		Field{Name: "ticket", Dst: &m.Ticket},
		Field{Name: "binder", Dst: &m.Binder})
}

func (m *serverHelloExt) Fields() []Field {
	return append(m.serverHello.fieldList(),
		Field{Name: "binary_records", Dst: &m.BinaryRecords},
		Field{Name: "resumed", Dst: &m.Resumed},
		Field{Name: "new_ticket", Dst: &m.NewTicket})
}

func (m *newTicketBody) Fields() []Field {
	return []Field{
		{Name: "ticket", Dst: &m.Ticket, Req: true},
		{Name: "lifetime_s", Dst: &m.LifetimeS, Req: true},
	}
}

// resumedFinish is server_finish and client_finish of a resumed handshake:
// the Finished MAC alone.
type resumedFinish struct {
	Type     string `json:"type"`
	Finished string `json:"finished"`
}

// newTicketBody is the plaintext of a new_ticket record.
type newTicketBody struct {
	Ticket    string `json:"ticket"`
	LifetimeS int64  `json:"lifetime_s"`
}

// binderB64Len is the base64 length of a 32-byte binder.
var binderB64Len = b64.EncodedLen(BinderLen)

// binderTail is what ends a client_hello carrying a binder: the key, the
// value, the closing quote and brace.
const binderKey = `"binder":"`

// truncatedHello returns the prefix of a client_hello body that its binder
// covers: everything up to and including the quote that opens the binder's
// value. The binder must be the last member, written without whitespace; a
// hello that does not end that way has no valid binder.
func truncatedHello(body []byte, binder string) ([]byte, error) {
	n := len(body) - binderB64Len - len(`"}`)
	if len(binder) != binderB64Len || n < len(binderKey) ||
		!bytes.HasSuffix(body[:n], []byte(binderKey)) ||
		string(body[n:n+binderB64Len]) != binder || string(body[n+binderB64Len:]) != `"}` {
		return nil, fmt.Errorf("%w: binder is not the last member of client_hello", errBinder)
	}
	return body[:n], nil
}

// marshalHelloWithBinder marshals ch (whose Binder must be empty) with a
// binder computed over its own truncated bytes: a placeholder of the right
// length is marshalled first, then overwritten in place.
func marshalHelloWithBinder(ch clientHelloExt, rs []byte) []byte {
	ch.Binder = string(bytes.Repeat([]byte{'A'}, binderB64Len))
	body, err := json.Marshal(ch)
	if err != nil {
		panic("chat: marshal client_hello: " + err.Error())
	}
	n := len(body) - binderB64Len - len(`"}`)
	b64.Encode(body[n:n+binderB64Len], Binder(rs, body[:n]))
	return body
}
