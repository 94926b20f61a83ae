package chat

import (
	"strings"
	"testing"
)

// TestDirectMessageQuotas: the per-sender quotas, in messages and in bytes,
// and the total quota of the durable queue refuse a direct message with
// quota_exceeded over TCP and over WebSocket, store nothing for it, and
// free up when the recipient takes its messages (docs/PROTOCOL.md §12.3).
func TestDirectMessageQuotas(t *testing.T) {
	st, admin := sqliteStores(t)
	sw := newStoreWorld(t, st, admin, "alice", "bob", "carol", "dave", "erin")
	cfg := sw.serverConfig()
	cfg.SenderQuota, cfg.SenderQuotaBytes = 2, 30
	cfg.TotalQuota = -1 // none
	addr, url, _ := startWSServer(t, cfg, WebSocketOptions{})
	alice := sw.dial(t, addr, "alice") // TCP
	erin := sw.dialWS(t, url, "erin")  // WebSocket

	send := func(c *Conn, to, id, text, wantStatus, wantReason string) {
		t.Helper()
		res := sendRaw(t, c, sendReq{To: to, Text: text, ClientMsgID: id})
		if res.Status != wantStatus || !strings.HasPrefix(res.Reason, wantReason) {
			t.Fatalf("send %s to %s: status %q reason %q, want %q %q", id, to, res.Status, res.Reason, wantStatus, wantReason)
		}
	}
	// Messages: alice (TCP) may keep two waiting, for any recipients.
	send(alice, "bob", "a1", "hi", StatusQueued, "")
	send(alice, "carol", "a2", "hi", StatusQueued, "")
	send(alice, "dave", "a3", "hi", StatusRejected, "quota_exceeded: you have 2 messages waiting")
	// Bytes: erin (WebSocket) may keep 30 bytes waiting.
	send(erin, "dave", "e1", strings.Repeat("x", 20), StatusQueued, "")
	send(erin, "dave", "e2", strings.Repeat("x", 11), StatusRejected, "quota_exceeded: you have 20 bytes waiting")
	if n := sw.pendingCount(t, "dave"); n != 1 {
		t.Fatalf("dave has %d queued, want erin's one", n)
	}

	// bob takes alice's message: her quota frees up.
	bob := sw.dialWS(t, url, "bob")
	if ev := receiveMessage(t, bob); ev.From != "alice" {
		t.Fatalf("bob got %+v, want alice's message", ev)
	}
	if err := bob.Confirm(); err != nil {
		t.Fatal(err)
	}
	sw.waitPending(t, "bob", 0)
	send(alice, "dave", "a3", "hi", StatusQueued, "")

	// The total: a server whose queue may hold what it holds refuses
	// every sender, and says so without the numbers.
	full := sw.serverConfig()
	full.TotalQuota = int(sw.pendingCount(t, "carol") + sw.pendingCount(t, "dave"))
	addr2, url2, _ := startWSServer(t, full, WebSocketOptions{})
	for _, c := range []*Conn{sw.dial(t, addr2, "bob"), sw.dialWS(t, url2, "bob")} {
		send(c, "alice", "b1", "hi", StatusRejected, "quota_exceeded: the server's queue for offline recipients is full")
	}
	if n := sw.pendingCount(t, "alice"); n != 0 {
		t.Errorf("alice has %d queued, want none", n)
	}
}
