package channel

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestWebSocketOversizedMessageRefused(t *testing.T) {
	w := newWorld(t)
	scfg := w.serverConfig()
	scfg.MaxFrame = MinMaxFrame // read limit: one handshake frame and a bit
	_, url, _, rec := startWSServer(t, scfg, WebSocketOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t.Run("message above the read limit", func(t *testing.T) {
		// One WebSocket message: a valid client_hello padded to the largest
		// handshake frame, then a second frame that runs past the limit.
		// Our framing never needs more than one frame at a time, so only
		// the WebSocket read limit can stop this message.
		hello := helloFrame(t, w.clientConfig())[FrameHeaderLen:]
		pad := bytes.Repeat([]byte{' '}, MaxHandshakeFrame-len(hello))
		hello = append(append(bytes.Clone(hello[:len(hello)-1]), pad...), '}')
		msg := AppendFrame(nil, hello)
		msg = append(msg, AppendFrame(nil, make([]byte, 2000))...)
		if int64(len(msg)) <= wsReadLimit(MinMaxFrame) {
			t.Fatalf("test message of %d bytes is within the limit", len(msg))
		}
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
		_, flight, err := c.Read(ctx) // the hello itself was good
		if err != nil || !bytes.Contains(flight, []byte(`"status":"ok"`)) {
			t.Fatalf("server flight %.80q: %v", flight, err)
		}
		_, _, err = c.Read(ctx)
		if got := websocket.CloseStatus(err); got != websocket.StatusMessageTooBig {
			t.Fatalf("after the oversized message: %v (status %d), want %d", err, got, websocket.StatusMessageTooBig)
		}
	})
	t.Run("frame header above the handshake limit", func(t *testing.T) {
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		hdr := AppendFrame(nil, make([]byte, MaxHandshakeFrame+1))[:FrameHeaderLen]
		if err := c.Write(ctx, websocket.MessageBinary, hdr); err != nil {
			t.Fatal(err)
		}
		_, reply, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("no rejection frame: %v", err)
		}
		var sh serverHello
		if err := decodeFrame(reply[FrameHeaderLen:], typeServerHello, &sh); err != nil || !sh.hasError || sh.errBody.Code != CodeProtocol {
			t.Fatalf("reply %q (%v), want a protocol_error rejection", reply, err)
		}
	})
	if len(rec.Rejections()) == 0 {
		t.Fatal("server reported no rejected handshake")
	}
	assertGoodClientWS(t, w, url)
}
