package chat

import (
	"errors"

	"github.com/securechat/scca/chat/channel"
)

// The secure channel lives in package channel. These names keep the
// package's exported API (errors, codes, protocol constants, tickets) and
// give the relay the short names of the channel pieces it uses.

// Sentinel errors of the channel; errors.Is matches either spelling.
var (
	ErrRejectedByServer = channel.ErrRejectedByServer
	ErrPeerCertificate  = channel.ErrPeerCertificate
	ErrHandshake        = channel.ErrHandshake
	ErrReplay           = channel.ErrReplay
	ErrProtocol         = channel.ErrProtocol
	ErrRecord           = channel.ErrRecord
	ErrBusy             = channel.ErrBusy
	ErrClosed           = channel.ErrClosed
	ErrMessageTooLarge  = channel.ErrMessageTooLarge
	ErrNoServerName     = channel.ErrNoServerName
	// ErrMessageRejected: the server answered a send or request with a
	// refusal (rejected status or reply error); the text carries its reason.
	ErrMessageRejected = errors.New("rejected by server")
)

// RemoteError is the error a peer reported (channel.RemoteError).
type RemoteError = channel.RemoteError

// Error codes of error frames (docs/PROTOCOL.md §8), see package channel.
const (
	CodeCertificateRejected = channel.CodeCertificateRejected
	CodeHandshakeFailed     = channel.CodeHandshakeFailed
	CodeReplay              = channel.CodeReplay
	CodeUnsupportedVersion  = channel.CodeUnsupportedVersion
	CodeNoCommonSuite       = channel.CodeNoCommonSuite
	CodeProtocol            = channel.CodeProtocol
	CodeDecryptError        = channel.CodeDecryptError
	CodeBusy                = channel.CodeBusy
	CodeTimeout             = channel.CodeTimeout
	CodeInternal            = channel.CodeInternal
	CodeStoreUnavailable    = channel.CodeStoreUnavailable
	// Close reasons of a live session (§12.5): a close record's plaintext
	// starts with one of these codes, then ": " and the detail.
	CodeCertificateRevoked = "certificate_revoked"
	CodeSlowConsumer       = "slow_consumer"
)

// Protocol constants (docs/PROTOCOL.md §1), see package channel.
const (
	ProtocolVersion                   = channel.ProtocolVersion
	SuiteX25519AES256GCMSHA256        = channel.SuiteX25519AES256GCMSHA256
	SuiteX25519ChaCha20Poly1305SHA256 = channel.SuiteX25519ChaCha20Poly1305SHA256
	DefaultMaxFrame                   = channel.DefaultMaxFrame
	MaxHandshakeFrame                 = channel.MaxHandshakeFrame
)

// Session resumption (docs/PROTOCOL.md §13), see package channel.
type (
	TicketConfig      = channel.TicketConfig
	TicketSpender     = channel.TicketSpender
	TicketCache       = channel.TicketCache
	SessionTicket     = channel.SessionTicket
	MemoryTicketCache = channel.MemoryTicketCache
)

// The strict JSON object codec (channel/jsonobj.go).
type (
	field       = channel.Field
	wireObject  = channel.WireObject
	emptyObject = channel.EmptyObject
)

func codeOf(err error) string { return channel.CodeOf(err) }

func decodePlain(typ string, pt []byte, v wireObject) error { return channel.DecodePlain(typ, pt, v) }

// PeerChecker and PeerChainChecker are the peer-certificate verification
// hook of the channel (channel/peercheck.go).
type (
	PeerChecker      = channel.PeerChecker
	PeerChainChecker = channel.PeerChainChecker
)

// Core record types (§6.3, §6.5).
const (
	typeMessage = channel.TypeMessage
	typeAck     = channel.TypeAck
	typeClose   = channel.TypeClose
	maxTextErr  = channel.MaxReasonLen
)

func truncate(s string, n int) string { return channel.Truncate(s, n) }

func marshal(v any) []byte { return channel.Marshal(v) }

func publicReason(code string) string { return channel.PublicReason(code) }
