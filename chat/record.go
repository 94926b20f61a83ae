package chat

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// Record layer (docs/PROTOCOL.md §6).
const (
	// DefaultKeyUpdateAfter is how many records a side seals under one key
	// before it sends key_update and moves to the next key. AES-GCM's
	// confidentiality bound for TLS 1.3 is 2^24.5 full records per key
	// (RFC 8446 §5.5); 2^20 keeps us far below it and far below the 2^32
	// where a 32-bit counter would wrap.
	DefaultKeyUpdateAfter = 1 << 20
	// maxRecordsPerKey is the hard limit a receiver enforces: a peer that
	// never updates its key is cut off well before the AES-GCM limit.
	maxRecordsPerKey = 1 << 24
)

// Direction bytes in the additional data: a record sealed for one direction
// never authenticates in the other, so reflection fails even if the two
// directions' keys were equal (they are not).
const (
	dirClientToServer = 'C'
	dirServerToClient = 'S'
)

// halfConn is one direction of the record layer: its key, IV and sequence
// number.
type halfConn struct {
	dir  byte
	keys trafficKeys
	aead cipher.AEAD
	seq  uint64
}

func newHalfConn(dir byte, keys trafficKeys) (*halfConn, error) {
	h := &halfConn{dir: dir}
	return h, h.setKeys(keys)
}

func (h *halfConn) setKeys(keys trafficKeys) error {
	block, err := aes.NewCipher(keys.key)
	if err != nil {
		return fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("gcm: %w", err)
	}
	h.keys, h.aead, h.seq = keys, aead, 0
	return nil
}

// nonce is the per-direction IV XOR the 64-bit sequence number, right
// aligned (RFC 8446 §5.3). Each direction has its own key and the sequence
// number strictly increases and resets only with a new key, so a
// (key, nonce) pair is never used twice.
func (h *halfConn) nonce(seq uint64) []byte {
	n := make([]byte, len(h.keys.iv))
	copy(n, h.keys.iv)
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	for i := range s {
		n[len(n)-8+i] ^= s[i]
	}
	return n
}

// additionalData binds the protocol version, direction, record type and
// sequence number to the ciphertext: "securechat/1" 0x00 dir len(type) type
// seq(uint64 big-endian).
func additionalData(dir byte, typ string, seq uint64) []byte {
	ad := make([]byte, 0, len(ProtocolVersion)+3+len(typ)+8)
	ad = append(ad, ProtocolVersion...)
	ad = append(ad, 0, dir, byte(len(typ)))
	ad = append(ad, typ...)
	return binary.BigEndian.AppendUint64(ad, seq)
}

// seal encrypts plaintext as the next record of type typ and returns the
// whole wire frame (length header included).
func (h *halfConn) seal(typ string, plaintext []byte) []byte {
	seq := h.seq
	h.seq++
	ct := h.aead.Seal(nil, h.nonce(seq), plaintext, additionalData(h.dir, typ, seq))
	return appendRecordFrame(nil, typ, seq, ct)
}

// open authenticates and decrypts a record frame. It refuses any sequence
// number but the next expected one, so replayed, reordered and dropped
// records all fail here; a tampered or reflected one fails the AEAD.
func (h *halfConn) open(rf record) ([]byte, error) {
	if rf.Seq != h.seq {
		return nil, fmt.Errorf("%w: %s record has sequence %d, expected %d", ErrRecord, rf.Type, rf.Seq, h.seq)
	}
	if h.seq >= maxRecordsPerKey {
		return nil, fmt.Errorf("%w: peer exceeded %d records without a key update", ErrRecord, maxRecordsPerKey)
	}
	pt, err := h.aead.Open(rf.Ciphertext[:0], h.nonce(rf.Seq), rf.Ciphertext, additionalData(h.dir, rf.Type, rf.Seq))
	if err != nil {
		return nil, fmt.Errorf("%w: %s record %d", ErrRecord, rf.Type, rf.Seq)
	}
	h.seq++
	return pt, nil
}

// update moves to the next traffic key after a key_update (§6.4).
func (h *halfConn) update() error { return h.setKeys(h.keys.next()) }
