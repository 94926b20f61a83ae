package chat

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// session is an established record layer over one connection: used by the
// server's per-connection loop and by the client Conn.
type session struct {
	conn       net.Conn
	br         *bufio.Reader
	hdr        [frameHeaderLen]byte
	maxRecv    int // our frame limit
	maxSend    int // the limit the peer announced
	rekeyAfter uint64
	// binary and tagLen are fixed by the handshake: record body format
	// and the suite's AEAD overhead.
	binary bool
	tagLen int
	in     *halfConn
	// rbody and rct hold the frame being read and its decoded ciphertext
	// (then plaintext); taken from bufPool on demand and given back by
	// releaseRead, so an idle session holds no record buffers.
	rbody, rct *[]byte

	wmu          sync.Mutex // guards out and writes
	out          *halfConn
	writeTimeout time.Duration
}

// sessionParams is what the handshake negotiated for the record layer.
type sessionParams struct {
	suite   *suite
	binary  bool // binary record bodies (§6.7)
	peerMax int  // the max_frame the peer announced
}

// newSession derives the application traffic secrets from the handshake
// secret and the full transcript hash (§5.2): one secret per direction, so
// each side encrypts under a key the other side only decrypts with; key
// and IV lengths are the negotiated suite's.
func newSession(conn net.Conn, br *bufio.Reader, hs, thCF []byte, isClient bool, id identity, p sessionParams) (*session, error) {
	c2s := newTrafficKeys(p.suite, expandLabel(hs, "c ap traffic", thCF, 32))
	s2c := newTrafficKeys(p.suite, expandLabel(hs, "s ap traffic", thCF, 32))
	in, out := c2s, s2c
	inDir, outDir := byte(dirClientToServer), byte(dirServerToClient)
	if isClient {
		in, out = s2c, c2s
		inDir, outDir = outDir, inDir
	}
	s := &session{conn: conn, br: br, maxRecv: id.max, maxSend: p.peerMax, rekeyAfter: id.rekey, writeTimeout: DefaultWriteTimeout}
	var err error
	if s.in, err = newHalfConn(inDir, in); err != nil {
		return nil, err
	}
	if s.out, err = newHalfConn(outDir, out); err != nil {
		return nil, err
	}
	s.in.binary, s.out.binary = p.binary, p.binary
	s.binary, s.tagLen = p.binary, s.out.aead.Overhead()
	return s, nil
}

// jsonRecordOverhead is the largest framing around a JSON record's base64
// ciphertext: keys, the longest type of the registry and a 20-digit
// sequence number. binaryRecordOverhead is the same for a binary body.
var (
	jsonRecordOverhead   = len(recPrefix) + maxRecordTypeLen + len(recSeq) + 20 + len(recCT) + len(recSuffix)
	binaryRecordOverhead = 1 + maxRecordTypeLen + 8
)

// maxPlaintext is the longest plaintext that fits, sealed with an AEAD
// adding tagLen bytes, in a frame body of max bytes, whatever the record
// type and sequence number.
func maxPlaintext(max int, isBinary bool, tagLen int) int {
	if isBinary {
		return max - binaryRecordOverhead - tagLen
	}
	return (max-jsonRecordOverhead)/4*3 - tagLen
}

// maxPlaintext is the longest plaintext the peer accepts in one record.
func (s *session) maxPlaintext() int {
	return maxPlaintext(s.maxSend, s.binary, s.tagLen)
}

// writeRecord seals and sends one record, preceded by a key_update when the
// current key has sealed rekeyAfter records (§6.4), with one Write call.
func writeRecord[T ~string | ~[]byte](s *session, typ string, pt T) error {
	if len(pt) > s.maxPlaintext() {
		return fmt.Errorf("%w: %d bytes, peer accepts at most %d", ErrMessageTooLarge, len(pt), s.maxPlaintext())
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	wbuf, scratch := getBuf(), getBuf()
	defer putBuf(wbuf)
	defer putBuf(scratch)
	buf := (*wbuf)[:0]
	if s.out.seq >= s.rekeyAfter {
		buf = appendSeal(s.out, buf, scratch, typeKeyUpdate, "")
		if err := s.out.update(); err != nil {
			return err
		}
	}
	buf = appendSeal(s.out, buf, scratch, typ, pt)
	*wbuf = buf
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil {
		return err
	}
	_, err := s.conn.Write(buf)
	return err
}

// readRecord returns the next record's type and plaintext, applying key
// updates on the way. An error frame from the peer is a *RemoteError. The
// plaintext is valid until the next readRecord or releaseRead.
func (s *session) readRecord() (string, []byte, error) {
	if s.rbody == nil {
		s.rbody, s.rct = getBuf(), getBuf()
	}
	for {
		body, err := readFrameInto(s.br, &s.hdr, s.maxRecv, *s.rbody)
		if err != nil {
			return "", nil, err
		}
		*s.rbody = body
		r, err := parseSessionRecord(body, s.in.binary, s.rct)
		if err != nil {
			return "", nil, err
		}
		pt, err := s.in.open(r)
		if err != nil {
			return "", nil, err
		}
		if r.Type != typeKeyUpdate {
			return r.Type, pt, nil
		}
		if len(pt) != 0 {
			return "", nil, fmt.Errorf("%w: key_update carries data", ErrProtocol)
		}
		if err := s.in.update(); err != nil {
			return "", nil, err
		}
	}
}

// releaseRead gives the read buffers back to the pool once the last
// plaintext has been consumed. The plaintext buffer is wiped first so no
// message text lingers in memory another session may reuse.
func (s *session) releaseRead() {
	if s.rbody == nil {
		return
	}
	clear((*s.rct)[:cap(*s.rct)])
	putBuf(s.rbody)
	putBuf(s.rct)
	s.rbody, s.rct = nil, nil
}

// bufPool recycles record buffers between records and sessions, so a busy
// session seals and opens without allocating and an idle one holds none.
// Every user overwrites a buffer before reading it.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuf keeps unusually large buffers (a peer configured with a huge
// MaxFrame) out of the pool.
const maxPooledBuf = 1 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= maxPooledBuf {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// sendError sends a cleartext error frame (§8), best effort, bounded by a
// short write deadline so a peer that does not read cannot hold us.
func sendError(conn net.Conn, code, reason string) {
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = writeFrame(conn, marshal(wireError{Type: typeError, Code: code, Reason: truncate(reason, maxTextErr)}))
}

// ackBody is the plaintext of an ack record (§6.3).
type ackBody struct {
	ID uint64 `json:"id"`
}

func (a *ackBody) Fields() []field { return []field{{Name: "id", Dst: &a.ID, Req: true}} }

// appendAck appends the ack plaintext {"id":n}, byte for byte what
// encoding/json writes for ackBody.
func appendAck(dst []byte, id uint64) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, id, 10)
	return append(dst, '}')
}

// parseAck reads an ack plaintext. The canonical form is parsed directly;
// any other valid JSON spelling goes through decodePlain.
func parseAck(pt []byte) (uint64, error) {
	if len(pt) > len(`{"id":}`) && string(pt[:6]) == `{"id":` && pt[len(pt)-1] == '}' {
		digits := pt[6 : len(pt)-1]
		if d, ok := canonicalDigits(digits); ok && d != 0 {
			return d, nil
		}
	}
	var a ackBody
	if err := decodePlain(typeAck, pt, &a); err != nil || a.ID == 0 {
		return 0, fmt.Errorf("%w: malformed ack", ErrProtocol)
	}
	return a.ID, nil
}

func checkText(pt []byte) error {
	if !utf8.Valid(pt) {
		return fmt.Errorf("%w: message text is not UTF-8", ErrProtocol)
	}
	return nil
}
