package channel

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// The hand-written ack encoder must write exactly what encoding/json
// writes, and the fast parser must agree with encoding/json.
func TestAckCodec(t *testing.T) {
	for _, id := range []uint64{1, 9, 10, 12345, 1<<64 - 1} {
		if got, want := string(AppendAck(nil, id)), string(marshal(ackBody{ID: id})); got != want {
			t.Errorf("AppendAck(%d) = %s, want %s", id, got, want)
		}
		if got, err := ParseAck(AppendAck(nil, id)); err != nil || got != id {
			t.Errorf("ParseAck(AppendAck(%d)) = %d, %v", id, got, err)
		}
	}
	good := map[string]uint64{`{ "id" : 7 }`: 7, `{"id":7.0}`: 0, `{"id":7,"x":1}`: 7}
	for in, want := range good {
		got, err := ParseAck([]byte(in))
		if want == 0 {
			if err == nil {
				t.Errorf("ParseAck(%s) accepted a non-integer", in)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseAck(%s) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{`{"id":0}`, `{"id":01}`, `{"id":-1}`, `{"id":}`, `{"id":18446744073709551616}`, `{"id":1`, ``} {
		if _, err := ParseAck([]byte(in)); !errors.Is(err, ErrProtocol) {
			t.Errorf("ParseAck(%q) = %v, want ErrProtocol", in, err)
		}
	}
}

// Record buffers are pooled and reused; messages of changing sizes on one
// Session, and on two interleaved sessions, must still arrive intact.
func TestPooledBuffersKeepMessagesIntact(t *testing.T) {
	w := newWorld(t)
	addr, _, rec := startServer(t, w.serverConfig())
	ctx := context.Background()
	a, err := dialConn(ctx, addr, w.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := dialConn(ctx, addr, w.clientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var want []string
	for i, n := range []int{10, 64 << 10, 3, 150 << 10, 1, 4096} {
		for j, c := range []*testConn{a, b} {
			text := strings.Repeat(string(rune('a'+i)), n) + string(rune('0'+j))
			if err := c.Send(ctx, text); err != nil {
				t.Fatalf("send %d bytes: %v", n, err)
			}
			want = append(want, "client123: "+text)
		}
	}
	got := rec.Messages()
	if len(got) != len(want) {
		t.Fatalf("server got %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d differs (len %d, want %d)", i, len(got[i]), len(want[i]))
		}
	}
}
