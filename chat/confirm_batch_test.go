package chat

import (
	"fmt"
	"testing"

	"github.com/securechat/scca/internal/waitfor"
)

// TestReceiverCrashReplaysAtMostABatch queues 200 direct messages for bob
// on MariaDB and on PostgreSQL, lets bob take some of them and cuts his connection without a
// close (as a kill -9 does: unread records make the kernel reset it), then
// checks his next session gets every message, and of those he had already
// taken at most a confirmation batch (§12.3) again. Before batching, the
// per-message confirmations still queued at the server were lost with the
// reset: 173 of 200 came again (issue 10).
func TestReceiverCrashReplaysAtMostABatch(t *testing.T) {
	for _, be := range serverBackends("scca_chat_replay") {
		t.Run(be.name, func(t *testing.T) { testReceiverCrashReplays(t, be) })
	}
}

func testReceiverCrashReplays(t *testing.T, be storeBackend) {
	st, admin := be.open(t)
	sw := newStoreWorld(t, st, admin, "alice", "bob")
	addr, _, _ := startServer(t, sw.serverConfig())
	alice := sw.dial(t, addr, "alice")
	const total = 200
	var last int64
	for i := range total {
		res := sendRaw(t, alice, sendReq{To: "bob", Text: fmt.Sprint("m", i), ClientMsgID: fmt.Sprint("c", i)})
		if res.Status != StatusQueued {
			t.Fatalf("dm %d to offline bob: %+v", i, res)
		}
		last = res.ID
	}
	for _, take := range []int{5, 100, total - 3} {
		t.Run(fmt.Sprint("take ", take), func(t *testing.T) {
			taken := make(map[int64]bool)
			bob := sw.dial(t, addr, "bob")
			for len(taken) < take {
				taken[receiveMessage(t, bob).ID] = true
			}
			if taken[last] {
				t.Fatal("bob took every message")
			}
			// Wait until the server applied the last full batch: a batch
			// still unread by the server when the reset arrives is lost
			// with it (not fixed yet, see the report of issue 10).
			waitPendingAtMost(t, sw, "bob", int64(total-take/confirmBatch*confirmBatch))
			bob.sess.NetConn().Close() // crash: no close, no last confirmation

			again, got := 0, make(map[int64]bool)
			bob2 := sw.dial(t, addr, "bob")
			for !got[last] { // replay is in id order: last arrives last
				ev := receiveMessage(t, bob2)
				if got[ev.ID] {
					t.Fatalf("message %d delivered twice in one session", ev.ID)
				}
				got[ev.ID] = true
				if taken[ev.ID] {
					again++
				}
			}
			t.Logf("took %d of %d, crashed; %d of them delivered again", take, total, again)
			if again > confirmBatch {
				t.Errorf("%d messages delivered again after a crash, want at most %d (one batch)", again, confirmBatch)
			}
			// bob2 confirms everything on close: the queue ends empty.
			bob2.Close()
			sw.waitPending(t, "bob", 0)
			// refill for the next case
			for i := range total {
				res := sendRaw(t, alice, sendReq{To: "bob", Text: fmt.Sprint("m", i), ClientMsgID: fmt.Sprint("r", take, "-", i)})
				last = res.ID
			}
		})
	}
}

func waitPendingAtMost(t *testing.T, sw *storeWorld, cn string, n int64) {
	t.Helper()
	waitfor.Condition(t, fmt.Sprintf("%s to have at most %d queued", cn, n), waitfor.HangBound,
		func() bool { return sw.pendingCount(t, cn) <= n })
}
