package channel

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
)

// TestBadRecords drives an established session with crafted record frames.
// Each must end the session with the right error code, deliver nothing
// extra, and leave the server serving good clients.
func TestBadRecords(t *testing.T) {
	for _, jsonRecords := range []bool{true, false} {
		t.Run(map[bool]string{true: "json", false: "binary"}[jsonRecords], func(t *testing.T) {
			testBadRecords(t, jsonRecords)
		})
	}
}

func testBadRecords(t *testing.T, jsonRecords bool) {
	w := newWorld(t)
	addr, _, rec := startServer(t, w.serverConfig())
	mustParse := func(t *testing.T, frame []byte) record { return mustParseRecord(t, frame, !jsonRecords) }
	reencode := func(typ string, seq uint64, ct []byte) []byte { return encodeRecord(typ, seq, ct, !jsonRecords) }

	// seal makes the client's next record without sending it.
	seal := func(c *testConn, typ, text string) []byte { return c.sess.out.seal(typ, []byte(text)) }
	cases := []struct {
		name string
		// attack writes the crafted bytes; sent are the frames already
		// acknowledged before it.
		attack func(t *testing.T, c *testConn) []byte
		want   string
	}{
		{"replayed message", func(t *testing.T, c *testConn) []byte {
			f := seal(c, typeMessage, "pay 10")
			return append(append([]byte{}, f...), f...)
		}, CodeDecryptError},
		{"reordered messages", func(t *testing.T, c *testConn) []byte {
			a, b := seal(c, typeMessage, "first"), seal(c, typeMessage, "second")
			return append(b, a...)
		}, CodeDecryptError},
		{"dropped message", func(t *testing.T, c *testConn) []byte {
			seal(c, typeMessage, "lost")
			return seal(c, typeMessage, "next")
		}, CodeDecryptError},
		{"bit-flipped ciphertext", func(t *testing.T, c *testConn) []byte {
			r := mustParse(t, seal(c, typeMessage, "hello"))
			r.Ciphertext[0] ^= 0x01
			return reencode(r.Type, r.Seq, r.Ciphertext)
		}, CodeDecryptError},
		{"type changed", func(t *testing.T, c *testConn) []byte {
			r := mustParse(t, seal(c, typeMessage, "hello"))
			return reencode(typeClose, r.Seq, r.Ciphertext)
		}, CodeDecryptError},
		{"sequence changed", func(t *testing.T, c *testConn) []byte {
			r := mustParse(t, seal(c, typeMessage, "hello"))
			return reencode(typeMessage, r.Seq+1, r.Ciphertext)
		}, CodeDecryptError},
		{"reflected server record", func(t *testing.T, c *testConn) []byte {
			// Seal with the server-to-client keys, as if reflecting the
			// server's own record back at it.
			h, err := newHalfConn(dirServerToClient, c.sess.in.keys)
			if err != nil {
				t.Fatal(err)
			}
			h.seq, h.binary = c.sess.out.seq, c.sess.out.binary
			return h.seal(typeMessage, []byte("echo"))
		}, CodeDecryptError},
		{"ack from client", func(t *testing.T, c *testConn) []byte { return seal(c, typeAck, `{"id":1}`) }, CodeProtocol},
		{"invalid UTF-8 text", func(t *testing.T, c *testConn) []byte { return seal(c, typeMessage, "\xff\xfe") }, CodeProtocol},
		{"unknown message type", func(t *testing.T, c *testConn) []byte {
			return frameBytes([]byte(`{"type":"shout","seq":0,"ciphertext":""}`))
		}, CodeProtocol},
		{"malformed JSON", func(t *testing.T, c *testConn) []byte { return frameBytes([]byte(`{"type":"message","seq":`)) }, CodeProtocol},
		{"wrong field type", func(t *testing.T, c *testConn) []byte {
			return frameBytes([]byte(`{"type":"message","seq":"0","ciphertext":"AAAA"}`))
		}, CodeProtocol},
		{"binary header: zero type length", func(t *testing.T, c *testConn) []byte {
			return frameBytes(append([]byte{0}, make([]byte, 30)...))
		}, CodeProtocol},
		{"binary header: unknown type", func(t *testing.T, c *testConn) []byte {
			return encodeRecord("shout", 1, make([]byte, 20), true)
		}, CodeProtocol},
		{"binary header: new_ticket from client", func(t *testing.T, c *testConn) []byte {
			return encodeRecord(typeNewTicket, 1, make([]byte, 20), true)
		}, CodeProtocol},
		{"binary header: truncated", func(t *testing.T, c *testConn) []byte { return frameBytes([]byte("\x07message\x00\x00")) }, CodeProtocol},
		{"oversized frame", func(t *testing.T, c *testConn) []byte { return binary.BigEndian.AppendUint32(nil, DefaultMaxFrame+1) }, CodeProtocol},
		{"truncated frame", func(t *testing.T, c *testConn) []byte {
			f := seal(c, typeMessage, "cut short")
			return f[:len(f)-5]
		}, CodeProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := w.clientConfig()
			cfg.JSONRecords = jsonRecords
			c, err := dialConn(context.Background(), addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Send(context.Background(), "before"); err != nil {
				t.Fatal(err)
			}
			if c.sess.binary == jsonRecords {
				t.Fatalf("session binary = %v, want %v", c.sess.binary, !jsonRecords)
			}
			before := len(rec.Messages())
			if _, err := c.sess.conn.Write(tc.attack(t, c)); err != nil {
				t.Fatal(err)
			}
			// A truncated frame is only noticed when the stream ends.
			c.sess.conn.(*net.TCPConn).CloseWrite()
			if got := serverVerdict(t, c.sess.br); got != tc.want {
				t.Fatalf("server verdict %q, want %q", got, tc.want)
			}
			// The replayed/reordered case may deliver the first, genuine
			// frame; never more than one.
			if n := len(rec.Messages()) - before; n > 1 {
				t.Fatalf("server delivered %d messages from a tampered stream", n)
			}
			assertGoodClient(t, w, addr, rec)
		})
	}
}

func mustParse(t *testing.T, frame []byte) record { return mustParseRecord(t, frame, false) }

// mustParseRecord decodes a record frame (header included) of either body
// format.
func mustParseRecord(t *testing.T, frame []byte, isBinary bool) record {
	t.Helper()
	body := append([]byte(nil), frame[FrameHeaderLen:]...)
	var r record
	var err error
	if isBinary {
		r, err = parseBinaryRecord(body)
	} else {
		r, err = parseRecord(body)
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// encodeRecord is a record frame (header included) in either body format.
func encodeRecord(typ string, seq uint64, ct []byte, isBinary bool) []byte {
	if !isBinary {
		return appendRecordFrame(nil, typ, seq, ct)
	}
	return frameBytes(append(appendTypeSeq(nil, typ, seq), ct...))
}
