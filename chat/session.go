package chat

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
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
	in         *halfConn

	wmu          sync.Mutex // guards out and writes
	out          *halfConn
	writeTimeout time.Duration
}

// newSession derives the application traffic secrets from the handshake
// secret and the full transcript hash (§5.5): one secret per direction, so
// each side encrypts under a key the other side only decrypts with.
func newSession(conn net.Conn, br *bufio.Reader, hs, thCF []byte, isClient bool, id identity, peerMax int) (*session, error) {
	c2s := newTrafficKeys(expandLabel(hs, "c ap traffic", thCF, 32))
	s2c := newTrafficKeys(expandLabel(hs, "s ap traffic", thCF, 32))
	in, out := c2s, s2c
	inDir, outDir := byte(dirClientToServer), byte(dirServerToClient)
	if isClient {
		in, out = s2c, c2s
		inDir, outDir = outDir, inDir
	}
	s := &session{conn: conn, br: br, maxRecv: id.max, maxSend: peerMax, rekeyAfter: id.rekey, writeTimeout: DefaultWriteTimeout}
	var err error
	if s.in, err = newHalfConn(inDir, in); err != nil {
		return nil, err
	}
	if s.out, err = newHalfConn(outDir, out); err != nil {
		return nil, err
	}
	return s, nil
}

// recordOverhead is the largest framing around a ciphertext: JSON keys, the
// longest type and a 20-digit sequence number.
const recordOverhead = len(recPrefix) + len(typeKeyUpdate) + len(recSeq) + 20 + len(recCT) + len(recSuffix)

// maxPlaintext is the longest plaintext that fits in a frame of max bytes.
func maxPlaintext(max int) int {
	return (max-recordOverhead)/4*3 - 16
}

// writeRecord seals and sends one record, preceded by a key_update when the
// current key has sealed rekeyAfter records (§6.4).
func (s *session) writeRecord(typ string, pt []byte) error {
	if len(pt) > maxPlaintext(s.maxSend) {
		return fmt.Errorf("%w: %d bytes, peer accepts at most %d", ErrMessageTooLarge, len(pt), maxPlaintext(s.maxSend))
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var buf []byte
	if s.out.seq >= s.rekeyAfter {
		buf = s.out.seal(typeKeyUpdate, nil)
		if err := s.out.update(); err != nil {
			return err
		}
	}
	buf = append(buf, s.out.seal(typ, pt)...)
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil {
		return err
	}
	_, err := s.conn.Write(buf)
	return err
}

// readRecord returns the next record's type and plaintext, applying key
// updates on the way. An error frame from the peer is a *RemoteError.
func (s *session) readRecord() (string, []byte, error) {
	for {
		body, err := readFrame(s.br, &s.hdr, s.maxRecv)
		if err != nil {
			return "", nil, err
		}
		r, err := parseRecord(body)
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

func parseAck(pt []byte) (uint64, error) {
	var a ackBody
	if err := json.Unmarshal(pt, &a); err != nil || a.ID == 0 {
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
