package channel

import (
	"bufio"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Session is an established secure channel over one connection: the
// record layer keyed by the handshake, and who the peer is. A server hands
// it to its Handler; a client gets it from Dial or Handshake. One
// goroutine may read records while others write them (WriteRecord is
// serialised).
type Session struct {
	conn       net.Conn
	br         *bufio.Reader
	hdr        [FrameHeaderLen]byte
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

	// peer is the peer's certificate chain (leaf first) as verified by
	// the handshake, or the one remembered with the ticket; resumed is
	// set when the handshake resumed with a ticket (§13); suite is the
	// negotiated cipher suite.
	peer    []*x509.Certificate
	resumed bool
	suite   *Suite
	log     *slog.Logger
	// sc is the server's accounting of the connection; nil on a client.
	sc *serverConn
}

// sessionParams is what the handshake negotiated for the record layer.
type sessionParams struct {
	suite   *Suite
	binary  bool // binary record bodies (§6.7)
	peerMax int  // the max_frame the peer announced
}

// newSession derives the application traffic secrets from the handshake
// secret and the full transcript hash (§5.2): one secret per direction, so
// each side encrypts under a key the other side only decrypts with; key
// and IV lengths are the negotiated suite's.
func newSession(conn net.Conn, br *bufio.Reader, hs, thCF []byte, isClient bool, id identity, p sessionParams) (*Session, error) {
	c2s := NewTrafficKeys(p.suite, ExpandLabel(hs, "c ap traffic", thCF, 32))
	s2c := NewTrafficKeys(p.suite, ExpandLabel(hs, "s ap traffic", thCF, 32))
	in, out := c2s, s2c
	inDir, outDir := byte(dirClientToServer), byte(dirServerToClient)
	if isClient {
		in, out = s2c, c2s
		inDir, outDir = outDir, inDir
	}
	registryFrozen.Store(true)
	s := &Session{conn: conn, br: br, maxRecv: id.max, maxSend: p.peerMax, rekeyAfter: id.rekey,
		writeTimeout: id.writeTimeout, suite: p.suite, log: id.logger}
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

// maxPlaintext is the longest plaintext that fits, sealed with an AEAD
// adding tagLen bytes, in a frame body of max bytes, whatever the record
// type and sequence number.
func maxPlaintext(max int, isBinary bool, tagLen int) int {
	if isBinary {
		return max - binaryRecordOverhead - tagLen
	}
	return (max-jsonRecordOverhead)/4*3 - tagLen
}

// MaxPlaintext is the longest plaintext the peer accepts in one record.
func (s *Session) MaxPlaintext() int {
	return maxPlaintext(s.maxSend, s.binary, s.tagLen)
}

// WriteRecord seals and sends one record of type typ (a registered record
// type, RegisterRecordTypes), preceded by a key_update when the current key
// has sealed rekeyAfter records (§6.4), with one Write call bounded by the
// write timeout. A string plaintext is sealed without a copy to []byte.
func WriteRecord[T ~string | ~[]byte](s *Session, typ string, pt T) error {
	if len(pt) > s.MaxPlaintext() {
		return fmt.Errorf("%w: %d bytes, peer accepts at most %d", ErrMessageTooLarge, len(pt), s.MaxPlaintext())
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

// ReadRecord returns the next record's type and plaintext, applying key
// updates on the way. An error frame from the peer is a *RemoteError. The
// plaintext is valid until the next ReadRecord or ReleaseRead.
func (s *Session) ReadRecord() (string, []byte, error) {
	if s.rbody == nil {
		s.rbody, s.rct = getBuf(), getBuf()
	}
	for {
		body, err := ReadFrameInto(s.br, &s.hdr, s.maxRecv, *s.rbody)
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

// ReleaseRead gives the read buffers back to the pool once the last
// plaintext has been consumed. The plaintext buffer is wiped first so no
// message text lingers in memory another session may reuse.
func (s *Session) ReleaseRead() {
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
	_ = WriteFrame(conn, marshal(wireError{Type: typeError, Code: code, Reason: truncate(reason, maxTextErr)}))
}

// ackBody is the plaintext of an ack record (§6.3).
type ackBody struct {
	ID uint64 `json:"id"`
}

func (a *ackBody) Fields() []Field { return []Field{{Name: "id", Dst: &a.ID, Req: true}} }

// AppendAck appends the ack plaintext {"id":n}, byte for byte what
// encoding/json writes for ackBody.
func AppendAck(dst []byte, id uint64) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, id, 10)
	return append(dst, '}')
}

// ParseAck reads an ack plaintext (§6.3). The canonical form is parsed directly;
// any other valid JSON spelling goes through decodePlain.
func ParseAck(pt []byte) (uint64, error) {
	if len(pt) > len(`{"id":}`) && string(pt[:6]) == `{"id":` && pt[len(pt)-1] == '}' {
		digits := pt[6 : len(pt)-1]
		if d, ok := CanonicalDigits(digits); ok && d != 0 {
			return d, nil
		}
	}
	var a ackBody
	if err := DecodePlain(typeAck, pt, &a); err != nil || a.ID == 0 {
		return 0, fmt.Errorf("%w: malformed ack", ErrProtocol)
	}
	return a.ID, nil
}

// CheckText refuses a message text that is not UTF-8 (§6.3).
func CheckText(pt []byte) error {
	if !utf8.Valid(pt) {
		return fmt.Errorf("%w: message text is not UTF-8", ErrProtocol)
	}
	return nil
}
