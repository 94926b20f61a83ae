package channel

import (
	"fmt"
	"slices"
	"sync/atomic"
)

// The record-type registry (docs/PROTOCOL.md §6.1). The channel defines its
// core record types; an application built on it registers its own with
// RegisterRecordTypes, from an init function, before any session exists.
// A session reads only registered types, and the additional-data scratch
// and the record overhead bounds are derived from the longest name.

// coreRecordTypes are the record types of the channel itself: messages
// and their acks (§6.3), key updates (§6.4) and close (§6.5).
var coreRecordTypes = []string{typeMessage, typeAck, typeKeyUpdate, typeClose}

// maxRecordTypeName bounds a registered name: far below 0x7b ('{'), so a
// binary record body never starts like a JSON error frame (§6.7), and
// short enough for the one-byte length of the additional data.
const maxRecordTypeName = 32

var (
	// recordTypes are the types a session reads: the core ones, then the
	// registered ones, in registration order.
	recordTypes = slices.Clone(coreRecordTypes)
	// maxRecordTypeLen is the longest name of every type ever sealed,
	// new_ticket (which only the handshake reads) included.
	maxRecordTypeLen int
	// maxADLen is the longest additional data: version, 0x00, dir, length
	// byte, the longest record type, 64-bit sequence number.
	maxADLen int
	// jsonRecordOverhead is the largest framing around a JSON record's
	// base64 ciphertext: keys, the longest type and a 20-digit sequence
	// number. binaryRecordOverhead is the same for a binary body.
	jsonRecordOverhead, binaryRecordOverhead int
	// registryFrozen is set by the first session: from then on the
	// derived limits are in use and must not change.
	registryFrozen atomic.Bool
)

func init() { deriveRecordLimits() }

// deriveRecordLimits recomputes the limits from the registry.
func deriveRecordLimits() {
	maxRecordTypeLen = len(typeNewTicket)
	for _, t := range recordTypes {
		maxRecordTypeLen = max(maxRecordTypeLen, len(t))
	}
	maxADLen = len(ProtocolVersion) + 3 + maxRecordTypeLen + 8
	jsonRecordOverhead = len(recPrefix) + maxRecordTypeLen + len(recSeq) + 20 + len(recCT) + len(recSuffix)
	binaryRecordOverhead = 1 + maxRecordTypeLen + 8
}

// RegisterRecordTypes adds an application's record types to the registry,
// so sessions read them (§6.1, §12.1). Call it from an init function: it
// panics once a session exists, or for a name that is empty, longer than
// 32 bytes, not of lower-case letters and '_', or already registered.
func RegisterRecordTypes(types ...string) {
	if registryFrozen.Load() {
		panic("channel: RegisterRecordTypes after the first session")
	}
	for i, t := range types {
		if !validRecordTypeName(t) {
			panic(fmt.Sprintf("channel: invalid record type name %q", t))
		}
		if slices.Contains(recordTypes, t) || slices.Contains(types[:i], t) || t == typeNewTicket || t == typeError {
			panic(fmt.Sprintf("channel: record type %q registered twice", t))
		}
	}
	recordTypes = append(recordTypes, types...)
	deriveRecordLimits()
}

func validRecordTypeName(t string) bool {
	if t == "" || len(t) > maxRecordTypeName {
		return false
	}
	for i := range len(t) {
		if c := t[i]; (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// RecordLimits are the bounds derived from the registry.
type RecordLimits struct {
	MaxTypeLen int // longest record type name, new_ticket included
	MaxADLen   int // longest additional data (§6.2)
	// JSONOverhead and BinaryOverhead are the largest frame bytes around a
	// record's ciphertext (base64 for JSON) in each body format.
	JSONOverhead, BinaryOverhead int
}

// Limits returns the bounds derived from the current registry.
func Limits() RecordLimits {
	return RecordLimits{MaxTypeLen: maxRecordTypeLen, MaxADLen: maxADLen,
		JSONOverhead: jsonRecordOverhead, BinaryOverhead: binaryRecordOverhead}
}

// The core record types, for applications: a message and its ack (§6.3),
// and close (§6.5). key_update is the channel's own.
const (
	TypeMessage = typeMessage
	TypeAck     = typeAck
	TypeClose   = typeClose
)
