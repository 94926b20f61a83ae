package channel

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"slices"
)

// Record layer (docs/PROTOCOL.md §6).
const (
	// DefaultKeyUpdateAfter is how many records a side seals under one key
	// before it sends key_update and moves to the next key. AES-GCM's
	// confidentiality bound for TLS 1.3 is 2^24.5 full records per key
	// (RFC 8446 §5.5); 2^20 keeps us far below it (and below every suite's
	// maxRecords) and far below the 2^32 where a 32-bit counter would wrap.
	DefaultKeyUpdateAfter = 1 << 20
)

// Direction bytes in the additional data: a record sealed for one direction
// never authenticates in the other, so reflection fails even if the two
// directions' keys were equal (they are not).
const (
	dirClientToServer = 'C'
	dirServerToClient = 'S'
)

// halfConn is one direction of the record layer: its key, IV and sequence
// number, under the session's suite, in the session's record body format.
type halfConn struct {
	dir    byte
	keys   TrafficKeys
	aead   cipher.AEAD
	seq    uint64
	binary bool // record bodies are binary (§6.7) rather than JSON (§6.1)
	// nonceBuf and adBuf are scratch for the record being sealed or
	// opened (one at a time per direction), allocated once per direction
	// with their longest sizes: on the stack they would escape through the
	// AEAD interface and cost two allocations per record.
	nonceBuf []byte
	adBuf    []byte
}

func newHalfConn(dir byte, keys TrafficKeys) (*halfConn, error) {
	h := &halfConn{dir: dir, nonceBuf: make([]byte, MaxSuiteNonceLen()), adBuf: make([]byte, 0, maxADLen)}
	return h, h.setKeys(keys)
}

func (h *halfConn) setKeys(keys TrafficKeys) error {
	aead, err := keys.Suite.NewAEAD(keys.Key)
	if err != nil {
		return fmt.Errorf("%s: %w", keys.Suite.Name, err)
	}
	h.keys, h.aead, h.seq = keys, aead, 0
	return nil
}

// nonce is the per-direction IV XOR the 64-bit sequence number, right
// aligned (RFC 8446 §5.3), for every suite (both take 96-bit nonces). Each
// direction has its own key and the sequence number strictly increases and
// resets only with a new key, so a (key, nonce) pair is never used twice.
func (h *halfConn) nonce(seq uint64) []byte {
	n := h.nonceBuf[:len(h.keys.IV)]
	copy(n, h.keys.IV)
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	for i := range s {
		n[len(n)-8+i] ^= s[i]
	}
	return n
}

// additionalData binds the protocol version, direction, record type and
// sequence number to the ciphertext: "securechat/1" 0x00 dir len(type) type
// seq(uint64 big-endian). It is built in dst (the halfConn's scratch,
// maxADLen long), so the record path does not allocate for it. The AD is
// the same for both record body formats and both suites.
func additionalData(dst []byte, dir byte, typ string, seq uint64) []byte {
	ad := append(dst[:0], ProtocolVersion...)
	ad = append(ad, 0, dir)
	return appendTypeSeq(ad, typ, seq)
}

// appendTypeSeq appends len(type) ‖ type ‖ uint64_be(seq): the tail of the
// additional data and, identically, the header of a binary record body.
func appendTypeSeq(dst []byte, typ string, seq uint64) []byte {
	dst = append(dst, byte(len(typ)))
	dst = append(dst, typ...)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// seal encrypts plaintext as the next record of type typ and returns the
// whole wire frame (length header included) in a new slice.
func (h *halfConn) seal(typ string, plaintext []byte) []byte {
	var scratch []byte
	return appendSeal(h, nil, &scratch, typ, plaintext)
}

// appendSeal encrypts pt as the next record of type typ and appends its
// wire frame to dst. A binary body (§6.7) is sealed in place inside dst. For
// a JSON body the plaintext is copied into *scratch and sealed in place
// there (both AEADs allow exact overlap), and the ciphertext is base64
// encoded straight into dst, so with reused buffers a record costs no
// allocation.
func appendSeal[T ~string | ~[]byte](h *halfConn, dst []byte, scratch *[]byte, typ string, pt T) []byte {
	seq := h.seq
	h.seq++
	nonce := h.nonce(seq)
	ad := additionalData(h.adBuf, h.dir, typ, seq)
	if h.binary {
		// Frame header, body header, then the plaintext copied into place
		// and sealed there (exact overlap): no base64, no second buffer.
		n := binaryHeaderLen(typ) + len(pt) + h.aead.Overhead()
		dst = slices.Grow(dst, FrameHeaderLen+n)
		dst = binary.BigEndian.AppendUint32(dst, uint32(n))
		dst = appendTypeSeq(dst, typ, seq)
		off := len(dst)
		dst = append(dst, pt...)
		return h.aead.Seal(dst[:off], nonce, dst[off:], ad)
	}
	buf := append((*scratch)[:0], pt...)
	ct := h.aead.Seal(buf[:0], nonce, buf, ad)
	*scratch = ct
	return appendRecordFrame(dst, typ, seq, ct)
}

// open authenticates and decrypts a record frame in place (the plaintext
// aliases rf.Ciphertext). It refuses any sequence number but the next
// expected one, so replayed, reordered and dropped records all fail here;
// a tampered or reflected one fails the AEAD.
func (h *halfConn) open(rf record) ([]byte, error) {
	if rf.Seq != h.seq {
		return nil, fmt.Errorf("%w: %s record has sequence %d, expected %d", ErrRecord, rf.Type, rf.Seq, h.seq)
	}
	if h.seq >= h.keys.Suite.MaxRecords {
		return nil, fmt.Errorf("%w: peer exceeded %d records without a key update", ErrProtocol, h.keys.Suite.MaxRecords)
	}
	nonce := h.nonce(rf.Seq)
	pt, err := h.aead.Open(rf.Ciphertext[:0], nonce, rf.Ciphertext, additionalData(h.adBuf, h.dir, rf.Type, rf.Seq))
	if err != nil {
		return nil, fmt.Errorf("%w: %s record %d", ErrRecord, rf.Type, rf.Seq)
	}
	h.seq++
	return pt, nil
}

// update moves to the next traffic key after a key_update (§6.4).
func (h *halfConn) update() error { return h.setKeys(h.keys.Next()) }
