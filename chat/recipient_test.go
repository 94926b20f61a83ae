package chat

import (
	"strings"
	"testing"
)

// Direct messages are kept only for CNs with an active client certificate:
// never issued, revoked, or differing only in case is unknown_recipient,
// and nothing is stored for them (issue 9). On SQLite, MariaDB and PostgreSQL.
func TestDirectMessagesOnlyForActiveClients(t *testing.T) {
	for _, be := range storeBackends {
		t.Run(be.name, func(t *testing.T) {
			st, admin := be.open(t)
			sw := newStoreWorld(t, st, admin, "alice", "bob", "carol")
			sw.revoke(t, "carol")
			addr, _, _ := startServer(t, sw.serverConfig())
			alice := sw.dial(t, addr, "alice")
			for _, to := range []string{"nobody", "carol", "BOB"} {
				res := sendRaw(t, alice, sendReq{To: to, Text: "hello"})
				if res.Status != StatusRejected || !strings.HasPrefix(res.Reason, ReasonUnknownRecipient+": ") || res.ID != 0 {
					t.Errorf("DM to %q: %+v, want rejected %s", to, res, ReasonUnknownRecipient)
				}
				if n := sw.pendingCount(t, to); n != 0 {
					t.Errorf("%d messages stored for %q", n, to)
				}
			}
			if res := sendRaw(t, alice, sendReq{To: "bob", Text: "hello"}); res.Status != StatusQueued {
				t.Errorf("DM to offline bob: %+v, want queued", res)
			}
		})
	}
}
