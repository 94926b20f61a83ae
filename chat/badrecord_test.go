package chat

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
	w := newWorld(t)
	addr, _, rec := startServer(t, w.serverConfig())

	// seal makes the client's next record without sending it.
	seal := func(c *Conn, typ, text string) []byte { return c.sess.out.seal(typ, []byte(text)) }
	cases := []struct {
		name string
		// attack writes the crafted bytes; sent are the frames already
		// acknowledged before it.
		attack func(t *testing.T, c *Conn) []byte
		want   string
	}{
		{"replayed message", func(t *testing.T, c *Conn) []byte {
			f := seal(c, typeMessage, "pay 10")
			return append(append([]byte{}, f...), f...)
		}, CodeDecryptError},
		{"reordered messages", func(t *testing.T, c *Conn) []byte {
			a, b := seal(c, typeMessage, "first"), seal(c, typeMessage, "second")
			return append(b, a...)
		}, CodeDecryptError},
		{"dropped message", func(t *testing.T, c *Conn) []byte {
			seal(c, typeMessage, "lost")
			return seal(c, typeMessage, "next")
		}, CodeDecryptError},
		{"bit-flipped ciphertext", func(t *testing.T, c *Conn) []byte {
			return flipCiphertext(t, seal(c, typeMessage, "hello"))
		}, CodeDecryptError},
		{"type changed", func(t *testing.T, c *Conn) []byte {
			r := mustParse(t, seal(c, typeMessage, "hello"))
			return appendRecordFrame(nil, typeClose, r.Seq, r.Ciphertext)
		}, CodeDecryptError},
		{"sequence changed", func(t *testing.T, c *Conn) []byte {
			r := mustParse(t, seal(c, typeMessage, "hello"))
			return appendRecordFrame(nil, typeMessage, r.Seq+1, r.Ciphertext)
		}, CodeDecryptError},
		{"reflected server record", func(t *testing.T, c *Conn) []byte {
			// Seal with the server-to-client keys, as if reflecting the
			// server's own record back at it.
			h := &halfConn{dir: dirServerToClient}
			if err := h.setKeys(c.sess.in.keys); err != nil {
				t.Fatal(err)
			}
			h.seq = c.sess.out.seq
			return h.seal(typeMessage, []byte("echo"))
		}, CodeDecryptError},
		{"ack from client", func(t *testing.T, c *Conn) []byte { return seal(c, typeAck, `{"id":1}`) }, CodeProtocol},
		{"invalid UTF-8 text", func(t *testing.T, c *Conn) []byte { return seal(c, typeMessage, "\xff\xfe") }, CodeProtocol},
		{"unknown message type", func(t *testing.T, c *Conn) []byte {
			return frameBytes([]byte(`{"type":"shout","seq":0,"ciphertext":""}`))
		}, CodeProtocol},
		{"malformed JSON", func(t *testing.T, c *Conn) []byte { return frameBytes([]byte(`{"type":"message","seq":`)) }, CodeProtocol},
		{"wrong field type", func(t *testing.T, c *Conn) []byte {
			return frameBytes([]byte(`{"type":"message","seq":"0","ciphertext":"AAAA"}`))
		}, CodeProtocol},
		{"oversized frame", func(t *testing.T, c *Conn) []byte { return binary.BigEndian.AppendUint32(nil, DefaultMaxFrame+1) }, CodeProtocol},
		{"truncated frame", func(t *testing.T, c *Conn) []byte {
			f := seal(c, typeMessage, "cut short")
			return f[:len(f)-5]
		}, CodeProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Dial(context.Background(), addr, w.clientConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Send(context.Background(), "before"); err != nil {
				t.Fatal(err)
			}
			before := len(rec.messages())
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
			if n := len(rec.messages()) - before; n > 1 {
				t.Fatalf("server delivered %d messages from a tampered stream", n)
			}
			assertGoodClient(t, w, addr, rec)
		})
	}
}

func mustParse(t *testing.T, frame []byte) record {
	t.Helper()
	r, err := parseRecord(frame[frameHeaderLen:])
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func flipCiphertext(t *testing.T, frame []byte) []byte {
	r := mustParse(t, frame)
	r.Ciphertext[0] ^= 0x01
	return appendRecordFrame(nil, r.Type, r.Seq, r.Ciphertext)
}
