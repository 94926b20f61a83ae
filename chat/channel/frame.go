package channel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Framing (docs/PROTOCOL.md §2): every frame is a 4-byte big-endian length
// followed by that many bytes of one UTF-8 JSON object. The length comes
// first so a receiver can refuse an oversized frame before reading or
// allocating it.
const (
	FrameHeaderLen = 4
	// MaxHandshakeFrame bounds every frame before the handshake completes,
	// so an unauthenticated peer can pin at most this much memory.
	MaxHandshakeFrame = 32 << 10
	// DefaultMaxFrame is the default limit on a frame body after the
	// handshake; a 64 KiB text fits with room to spare.
	DefaultMaxFrame = 256 << 10
	// minMaxFrame is the smallest limit a peer may announce: below it not
	// even a short message and its ack would fit.
	MinMaxFrame = 1 << 10
)

var errFrameTooLarge = fmt.Errorf("%w: frame exceeds size limit", ErrProtocol)

// ReadFrame reads one frame body of at most max bytes. A short read is a
// truncated frame: io.ErrUnexpectedEOF wrapped in ErrProtocol. A clean EOF
// before the header is returned as io.EOF.
func ReadFrame(r io.Reader, hdr *[FrameHeaderLen]byte, max int) ([]byte, error) {
	return ReadFrameInto(r, hdr, max, nil)
}

// ReadFrameInto is readFrame reading the body into buf's storage when it is
// large enough (the record layer reuses one buffer per session).
func ReadFrameInto(r io.Reader, hdr *[FrameHeaderLen]byte, max int, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated frame header", ErrProtocol)
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(max) && httpStart(hdr) {
		return nil, fmt.Errorf("%w (%d > %d bytes): the peer speaks HTTP (%q…), not SecureChat's framing: a web or WebSocket port where the TCP one was expected (for WebSocket use a ws:// address)", errFrameTooLarge, n, max, hdr[:])
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrProtocol)
	}
	if uint64(n) > uint64(max) {
		return nil, fmt.Errorf("%w (%d > %d bytes)", errFrameTooLarge, n, max)
	}
	body := GrowTo(buf, int(n))
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: truncated frame (%w)", ErrProtocol, io.ErrUnexpectedEOF)
		}
		return nil, err
	}
	return body, nil
}

// AppendFrame appends the wire form of body (header and body) to dst.
func AppendFrame(dst, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...)
}

// WriteFrame writes body as one frame with a single Write call.
func WriteFrame(w io.Writer, body []byte) error {
	_, err := w.Write(AppendFrame(make([]byte, 0, FrameHeaderLen+len(body)), body))
	return err
}

// GrowTo returns a slice of length n, reusing b's storage when it is large
// enough.
func GrowTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]byte, n)
}

// httpStart reports whether a frame header is the start of an HTTP
// request or response, which as a length is always far over any limit:
// the likeliest mistake is a client pointed at the WebSocket port, or a
// browser at the TCP one, and the error should say so.
func httpStart(hdr *[FrameHeaderLen]byte) bool {
	switch string(hdr[:]) {
	case "HTTP", "GET ", "POST", "HEAD", "PUT ", "OPTI":
		return true
	}
	return false
}
