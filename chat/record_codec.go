package chat

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
)

// record is a decoded record frame: {"type":T,"seq":N,"ciphertext":B64}.
type record struct {
	Type       string
	Seq        uint64
	Ciphertext []byte
}

func isRecordType(t string) bool {
	switch t {
	case typeMessage, typeAck, typeKeyUpdate, typeClose:
		return true
	}
	return false
}

// Canonical record encoding pieces. Senders always emit exactly this form;
// receivers accept any JSON with the same meaning (§6.1).
const (
	recPrefix = `{"type":"`
	recSeq    = `","seq":`
	recCT     = `,"ciphertext":"`
	recSuffix = `"}`
)

// appendRecordFrame appends the wire frame of a record to dst, encoding the
// ciphertext straight into the frame buffer (no intermediate copies: this is
// the bulk-data path).
func appendRecordFrame(dst []byte, typ string, seq uint64, ct []byte) []byte {
	var seqBuf [20]byte
	seqStr := strconv.AppendUint(seqBuf[:0], seq, 10)
	bodyLen := len(recPrefix) + len(typ) + len(recSeq) + len(seqStr) + len(recCT) + b64.EncodedLen(len(ct)) + len(recSuffix)
	dst = binary.BigEndian.AppendUint32(dst, uint32(bodyLen))
	dst = append(dst, recPrefix...)
	dst = append(dst, typ...)
	dst = append(dst, recSeq...)
	dst = append(dst, seqStr...)
	dst = append(dst, recCT...)
	dst = b64.AppendEncode(dst, ct)
	return append(dst, recSuffix...)
}

// parseRecord decodes a record frame body. The canonical form is parsed
// directly; anything else goes through the general JSON path, which accepts
// the same meaning in any valid JSON spelling. FuzzParseRecord checks that
// the two paths agree.
func parseRecord(body []byte) (record, error) {
	if r, ok := parseRecordCanonical(body); ok {
		return r, nil
	}
	return parseRecordJSON(body)
}

func parseRecordJSON(body []byte) (record, error) {
	typ, err := frameType(body)
	if err != nil {
		return record{}, err
	}
	if typ == typeError {
		return record{}, decodeRemoteError(body)
	}
	if !isRecordType(typ) {
		return record{}, fmt.Errorf("%w: unexpected message type %q", ErrProtocol, truncate(typ, 32))
	}
	var rf recordFrame
	if err := json.Unmarshal(body, &rf); err != nil {
		return record{}, fmt.Errorf("%w: %s: %w", ErrProtocol, typ, err)
	}
	ct, err := decodeB64("ciphertext", rf.Ciphertext, -1)
	if err != nil {
		return record{}, err
	}
	return record{Type: rf.Type, Seq: rf.Seq, Ciphertext: ct}, nil
}

// parseRecordCanonical recognises exactly the form appendRecordFrame
// writes; ok is false for anything else (not necessarily invalid).
func parseRecordCanonical(b []byte) (r record, ok bool) {
	if !bytes.HasPrefix(b, []byte(recPrefix)) {
		return r, false
	}
	b = b[len(recPrefix):]
	i := bytes.IndexByte(b, '"')
	if i < 0 {
		return r, false
	}
	r.Type = string(b[:i])
	if !isRecordType(r.Type) {
		return r, false
	}
	b = b[i:]
	if !bytes.HasPrefix(b, []byte(recSeq)) {
		return r, false
	}
	b = b[len(recSeq):]
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	if n == 0 || (n > 1 && b[0] == '0') {
		return r, false // JSON forbids leading zeros
	}
	seq, err := strconv.ParseUint(string(b[:n]), 10, 64)
	if err != nil {
		return r, false
	}
	r.Seq = seq
	b = b[n:]
	if len(b) < len(recCT)+len(recSuffix) || !bytes.HasPrefix(b, []byte(recCT)) || !bytes.HasSuffix(b, []byte(recSuffix)) {
		return r, false
	}
	enc := b[len(recCT) : len(b)-len(recSuffix)]
	if bytes.ContainsAny(enc, "\"\\") {
		return r, false
	}
	ct := make([]byte, b64.DecodedLen(len(enc)))
	m, err := b64.Decode(ct, enc)
	if err != nil {
		return r, false
	}
	r.Ciphertext = ct[:m]
	return r, true
}
