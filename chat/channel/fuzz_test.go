package channel

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// The seed corpora live in testdata/fuzz/<Target>/ (frames from the test
// vectors and the bad-input tests); CI runs each target briefly.

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		var hdr [FrameHeaderLen]byte
		body, err := ReadFrame(bytes.NewReader(data), &hdr, 1024)
		if err != nil {
			if body != nil {
				t.Fatal("body returned with error")
			}
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, io.EOF) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if len(body) == 0 || len(body) > 1024 || !bytes.Equal(AppendFrame(nil, body), data[:FrameHeaderLen+len(body)]) {
			t.Fatalf("frame round trip mismatch")
		}
	})
}

// FuzzParseRecord checks the canonical fast path against the general JSON
// path: whenever the fast path accepts, the JSON path must accept with the
// same meaning, and re-encoding must give the same bytes.
func FuzzParseRecord(f *testing.F) {
	f.Add(appendRecordFrame(nil, typeMessage, 7, []byte("0123456789abcdef"))[4:])
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := parseRecordCanonical(body)
		slow, err := parseRecordJSON(body)
		if ok {
			if err != nil {
				t.Fatalf("fast path accepted %q, JSON path refused: %v", body, err)
			}
			if fast.Type != slow.Type || fast.Seq != slow.Seq || !bytes.Equal(fast.Ciphertext, slow.Ciphertext) {
				t.Fatalf("paths disagree on %q", body)
			}
			if !bytes.Equal(appendRecordFrame(nil, fast.Type, fast.Seq, fast.Ciphertext)[4:], body) {
				t.Fatalf("canonical form does not round-trip: %q", body)
			}
		}
		if err == nil && !isRecordType(slow.Type) {
			t.Fatalf("accepted record type %q", slow.Type)
		}
	})
}

// FuzzHandshakeMessages feeds one body to every handshake parser.
func FuzzHandshakeMessages(f *testing.F) {
	f.Add([]byte(`{"type":"client_finish","signature":"AA==","finished":"AA=="}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var ch clientHello
		if err := decodeFrame(body, typeClientHello, &ch); err == nil {
			_, _ = parseChain("certificate", ch.Certificate)
			_, _ = decodeB64("client_random", ch.ClientRandom, RandomLen)
		} else if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrRejectedByServer) {
			t.Fatalf("client_hello error outside ErrProtocol: %v", err)
		}
		var sh serverHello
		if err := decodeFrame(body, typeServerHello, &sh); err == nil {
			_, _ = parseChain("server_certificate", sh.ServerCertificate)
		}
		var fin finish
		if err := decodeFrame(body, typeClientFinish, &fin); err == nil {
			_, _ = decodeB64("signature", fin.Signature, -1)
		}
		if typ, err := frameType(body); err == nil && !json.Valid(body) {
			t.Fatalf("frameType accepted invalid JSON with type %q", typ)
		}
	})
}

// FuzzParseBinaryRecord feeds the binary record body decoder (§6.7):
// whatever it accepts has a type of the registry, re-encodes to exactly the
// input, and aliases the input rather than copying it; whatever it refuses
// is a protocol violation or the peer's error frame, and a body of a JSON
// session (starting with '{') is never taken for a record.
func FuzzParseBinaryRecord(f *testing.F) {
	f.Add(append(appendTypeSeq(nil, typeMessage, 0), make([]byte, 20)...))
	f.Add(append(appendTypeSeq(nil, typeNewTicket, 1<<40), 1, 2, 3))
	f.Add(appendRecordFrame(nil, typeMessage, 7, []byte("0123456789abcdef"))[4:])
	f.Add([]byte(`{"type":"error","code":"protocol_error"}`))
	f.Add([]byte{0x7f})
	f.Fuzz(func(t *testing.T, body []byte) {
		in := append([]byte(nil), body...)
		r, err := parseBinaryRecord(in)
		if err != nil {
			var re *RemoteError
			if !errors.Is(err, ErrProtocol) && !errors.As(err, &re) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if _, ok := anyRecordTypeOf([]byte(r.Type)); !ok || (len(body) > 0 && body[0] == '{') {
			t.Fatalf("accepted %q as a %q record", body, r.Type)
		}
		if got := append(appendTypeSeq(nil, r.Type, r.Seq), r.Ciphertext...); !bytes.Equal(got, body) {
			t.Fatalf("binary record does not round-trip: %x -> %x", body, got)
		}
		if len(r.Ciphertext) > 0 && &r.Ciphertext[len(r.Ciphertext)-1] != &in[len(in)-1] {
			t.Fatal("ciphertext was copied")
		}
		if _, err := parseSessionRecord(in, true, nil); (err == nil) == (r.Type == typeNewTicket) {
			t.Fatalf("session accepts %q: %v", r.Type, err)
		}
	})
}
