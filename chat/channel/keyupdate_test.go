package channel

import (
	"context"
	"testing"
)

// TestKeyUpdate forces a key update every 3 records in both directions and
// checks the session keeps working across many updates.
func TestKeyUpdate(t *testing.T) {
	w := newWorld(t)
	cfg := w.serverConfig()
	cfg.KeyUpdateAfter = 3
	addr, _, rec := startServer(t, cfg)
	ccfg := w.clientConfig()
	ccfg.KeyUpdateAfter = 2
	c, err := dialConn(context.Background(), addr, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 20 {
		if err := c.Send(context.Background(), "m"); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if c.sess.out.seq > 2 || c.sess.in.seq > 3 {
		t.Fatalf("sequence numbers %d/%d: keys were not updated", c.sess.out.seq, c.sess.in.seq)
	}
	if n := len(rec.Messages()); n != 20 {
		t.Fatalf("server got %d messages", n)
	}
}
