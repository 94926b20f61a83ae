package channel

import (
	"bytes"
	"encoding/binary"
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
	_, ok := recordTypeOf([]byte(t))
	return ok
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
	var ct []byte
	return parseRecordInto(body, &ct)
}

// parseRecordInto is parseRecord decoding the canonical form's ciphertext
// into *ctBuf (grown as needed and kept for the next record).
func parseRecordInto(body []byte, ctBuf *[]byte) (record, error) {
	if r, ok := parseRecordCanonicalInto(body, ctBuf); ok {
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
	if err := DecodeObject(body, rf.Fields()); err != nil {
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
func parseRecordCanonical(b []byte) (record, bool) {
	var ct []byte
	return parseRecordCanonicalInto(b, &ct)
}

// recordTypeOf maps a record type's bytes to its constant without
// allocating a string.
func recordTypeOf(b []byte) (string, bool) {
	for _, t := range recordTypes {
		if string(b) == t {
			return t, true
		}
	}
	return "", false
}

func parseRecordCanonicalInto(b []byte, ctBuf *[]byte) (r record, ok bool) {
	if !bytes.HasPrefix(b, []byte(recPrefix)) {
		return r, false
	}
	b = b[len(recPrefix):]
	i := bytes.IndexByte(b, '"')
	if i < 0 {
		return r, false
	}
	if r.Type, ok = recordTypeOf(b[:i]); !ok {
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
	// JSON forbids leading zeros; canonicalDigits refuses them.
	seq, ok := CanonicalDigits(b[:n])
	if !ok {
		return r, false
	}
	r.Seq = seq
	b = b[n:]
	if len(b) < len(recCT)+len(recSuffix) || !bytes.HasPrefix(b, []byte(recCT)) || !bytes.HasSuffix(b, []byte(recSuffix)) {
		return r, false
	}
	// A quote or backslash inside needs the JSON path; neither is in the
	// base64 alphabet, so the strict decoder below refuses them and we fall
	// back to it.
	enc := b[len(recCT) : len(b)-len(recSuffix)]
	ct := GrowTo(*ctBuf, b64.DecodedLen(len(enc)))
	*ctBuf = ct
	m, err := b64.Decode(ct, enc)
	// The decoder skips CR and LF; a canonical value has none, so its
	// length is exactly that of the encoding of what it decodes to.
	if err != nil || len(enc) != b64.EncodedLen(m) {
		return r, false
	}
	r.Ciphertext = ct[:m]
	return r, true
}
