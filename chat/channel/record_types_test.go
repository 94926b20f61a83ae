package channel

import (
	"testing"
)

// TestCoreRecordLimits: the channel alone (no application registered)
// derives the same limits as with the relay's types, since its own
// key_update and new_ticket are the longest names (chat's
// TestRecordLimitsUnchangedByRelayTypes checks the other side).
func TestCoreRecordLimits(t *testing.T) {
	want := RecordLimits{MaxTypeLen: 10, MaxADLen: 33, JSONOverhead: 64, BinaryOverhead: 19}
	if got := Limits(); got != want {
		t.Fatalf("derived record limits %+v, want %+v", got, want)
	}
}

// TestRegisterRecordTypesRefuses: bad names, duplicates and a registration
// after the first session all panic, and leave the registry unchanged.
func TestRegisterRecordTypesRefuses(t *testing.T) {
	before := len(recordTypes)
	for _, bad := range []string{"", "Send", "with space", "message", "new_ticket", "error",
		"a_name_longer_than_thirty_two_byt"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RegisterRecordTypes(%q) did not panic", bad)
				}
			}()
			RegisterRecordTypes(bad)
		}()
	}
	if len(recordTypes) != before {
		t.Fatalf("registry grew to %d after refused names", len(recordTypes))
	}
	if !registryFrozen.Load() {
		w := newWorld(t)
		addr, _, _ := startServer(t, w.serverConfig())
		c, err := dialConn(t.Context(), addr, w.clientConfig())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	defer func() {
		if recover() == nil {
			t.Error("RegisterRecordTypes after a session did not panic")
		}
	}()
	RegisterRecordTypes("late_type")
}
