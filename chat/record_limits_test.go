package chat

import (
	"testing"

	"github.com/securechat/scca/chat/channel"
)

// TestRecordLimitsUnchangedByRelayTypes guards the record-type registry
// seam: with the relay's record types registered (app.go's init), the
// limits the channel derives are byte for byte those of the protocol
// before the registry existed: the longest type is key_update/new_ticket
// (10 bytes), so the additional data is at most 33 bytes and the JSON and
// binary record framings add at most 64 and 19 bytes.
func TestRecordLimitsUnchangedByRelayTypes(t *testing.T) {
	want := channel.RecordLimits{MaxTypeLen: 10, MaxADLen: 33, JSONOverhead: 64, BinaryOverhead: 19}
	if got := channel.Limits(); got != want {
		t.Fatalf("derived record limits %+v, want %+v", got, want)
	}
}
