package channel

import (
	"encoding/binary"
	"fmt"
)

// Binary record bodies (docs/PROTOCOL.md §6.7). When both hellos carried
// "binary_records":true, every record frame body after the handshake is
//
//	uint8 len(T) ‖ T ‖ uint64_be(seq) ‖ ciphertext
//
// the very bytes that end the record's additional data, followed by the raw
// AEAD output. Nothing is base64-encoded, so a 64 KiB message costs one
// AEAD pass and no text encoding, and the receiver opens the ciphertext in
// place in its frame buffer. Error frames (§8) stay JSON: a body that starts
// with '{' is one (no binary body can, since type lengths are far below
// 0x7b).

// binaryHeaderLen is the length of a binary body's header for type typ.
func binaryHeaderLen(typ string) int { return 1 + len(typ) + 8 }

// parseBinaryRecord decodes a binary record body (the ciphertext aliases
// body) and refuses anything but a type of the registry. An error frame is
// returned as a *RemoteError. The record's type may still be one its
// reader does not accept at this point (new_ticket): callers check.
func parseBinaryRecord(body []byte) (record, error) {
	if len(body) > 0 && body[0] == '{' {
		typ, err := frameType(body)
		if err != nil {
			return record{}, err
		}
		if typ != typeError {
			return record{}, fmt.Errorf("%w: JSON %q frame in a session with binary records", ErrProtocol, truncate(typ, 32))
		}
		return record{}, decodeRemoteError(body)
	}
	if len(body) == 0 {
		return record{}, fmt.Errorf("%w: empty frame", ErrProtocol)
	}
	n := int(body[0])
	if n == 0 || n > maxRecordTypeLen || len(body) < 1+n+8 {
		return record{}, fmt.Errorf("%w: malformed binary record header", ErrProtocol)
	}
	typ, ok := anyRecordTypeOf(body[1 : 1+n])
	if !ok {
		return record{}, fmt.Errorf("%w: unexpected record type %q", ErrProtocol, truncate(string(body[1:1+n]), 32))
	}
	return record{Type: typ, Seq: binary.BigEndian.Uint64(body[1+n:]), Ciphertext: body[1+n+8:]}, nil
}

// anyRecordTypeOf is recordTypeOf over the whole registry (new_ticket
// included).
func anyRecordTypeOf(b []byte) (string, bool) {
	if string(b) == typeNewTicket {
		return typeNewTicket, true
	}
	return recordTypeOf(b)
}

// parseSessionRecord decodes a record frame body in the session's format
// into a record a session may read (not new_ticket).
func parseSessionRecord(body []byte, isBinary bool, ctBuf *[]byte) (record, error) {
	if !isBinary {
		return parseRecordInto(body, ctBuf)
	}
	r, err := parseBinaryRecord(body)
	if err == nil && r.Type == typeNewTicket {
		return record{}, fmt.Errorf("%w: unexpected record type %q", ErrProtocol, r.Type)
	}
	return r, err
}
