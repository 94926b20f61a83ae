package channel

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on. Errors returned by Dial, Client, Send
// and the server callbacks wrap one of these with the detail.
var (
	// ErrRejectedByServer: the server refused the handshake or ended the
	// session with an error frame; the error text carries its reason.
	ErrRejectedByServer = errors.New("rejected by server")
	// ErrPeerCertificate: the peer's certificate failed validation (chain,
	// EKU, name, inventory or revocation; see the wrapped cause).
	ErrPeerCertificate = errors.New("peer certificate rejected")
	// ErrHandshake: the peer failed to prove possession of its key, or its
	// Finished MAC, version, suite or key share was wrong.
	ErrHandshake = errors.New("handshake failed")
	// ErrReplay: a handshake was stale (timestamp outside the window) or its
	// client_random was seen before.
	ErrReplay = errors.New("replayed or stale handshake")
	// ErrProtocol: a malformed, oversized, unexpected or out-of-order frame.
	ErrProtocol = errors.New("protocol violation")
	// ErrRecord: an encrypted record failed authentication (tampered,
	// replayed, reordered, dropped or reflected).
	ErrRecord = errors.New("record authentication failed")
	// ErrBusy: the server is at its connection limit.
	ErrBusy = errors.New("server busy")
	// ErrClosed: the session was closed (locally, or by the peer's close).
	ErrClosed = errors.New("session closed")
	// ErrMessageTooLarge: the text does not fit in the peer's maximum frame.
	ErrMessageTooLarge = errors.New("message too large for peer's frame limit")
	// ErrNoServerName: Dial and DialWebSocket need ClientConfig.ServerName,
	// the name the server certificate must match.
	ErrNoServerName = errors.New("chat: ServerName is required")
)

// Error codes carried in error frames and rejected server_hellos
// (docs/PROTOCOL.md §8). They are hints: the frame is not authenticated.
const (
	CodeCertificateRejected = "certificate_rejected"
	CodeHandshakeFailed     = "handshake_failed"
	CodeReplay              = "replay_detected"
	CodeUnsupportedVersion  = "unsupported_version"
	CodeNoCommonSuite       = "no_common_suite"
	CodeProtocol            = "protocol_error"
	CodeDecryptError        = "decrypt_error"
	CodeBusy                = "server_busy"
	CodeTimeout             = "timeout"
	CodeInternal            = "internal_error"
	CodeStoreUnavailable    = "store_unavailable"
)

// codedError pairs an error with the code sent to the peer, so the
// handshake can report precisely which check failed.
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func WithCode(code string, err error) error { return &codedError{code: code, err: err} }

// CodeOf returns the wire error code for err.
func CodeOf(err error) string {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	switch {
	case errors.Is(err, ErrPeerCertificate):
		return CodeCertificateRejected
	case errors.Is(err, ErrReplay):
		return CodeReplay
	case errors.Is(err, ErrRecord):
		return CodeDecryptError
	case errors.Is(err, ErrHandshake):
		return CodeHandshakeFailed
	case errors.Is(err, ErrProtocol):
		return CodeProtocol
	}
	return CodeInternal
}

// RemoteError is the error a peer reported in an error frame or a rejected
// server_hello. It wraps ErrRejectedByServer on the client side.
type RemoteError struct {
	Code   string
	Reason string
}

func (e *RemoteError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("peer reported %s", e.Code)
	}
	return fmt.Sprintf("peer reported %s: %s", e.Code, e.Reason)
}

// Unwrap lets errors.Is(err, ErrRejectedByServer) and ErrBusy match.
func (e *RemoteError) Unwrap() []error {
	if e.Code == CodeBusy {
		return []error{ErrRejectedByServer, ErrBusy}
	}
	return []error{ErrRejectedByServer}
}

// publicReasons are the only reasons a handshake rejection carries
// (docs/PROTOCOL.md §8.1). The peer has proved nothing yet, so it learns
// which class of check failed and nothing else: not whether a serial is in
// the inventory, when or why it was revoked, nor any library's error text.
// The detail goes to the log and to OnReject.
var publicReasons = map[string]string{
	CodeCertificateRejected: "certificate not accepted",
	CodeHandshakeFailed:     "handshake failed",
	CodeReplay:              "stale or repeated hello",
	CodeUnsupportedVersion:  "unsupported version; this implementation speaks " + ProtocolVersion,
	CodeNoCommonSuite:       "no common cipher suite; this implementation offers " + SuiteX25519AES256GCMSHA256 + " and " + SuiteX25519ChaCha20Poly1305SHA256,
	CodeProtocol:            "malformed or unexpected handshake message",
	CodeDecryptError:        "record failed authentication",
	CodeBusy:                "server busy, try again later",
	CodeTimeout:             "handshake deadline expired",
	CodeInternal:            "internal error",
	CodeStoreUnavailable:    "certificate status could not be checked; try again later",
}

// PublicReason is the reason sent with code before the peer authenticated.
func PublicReason(code string) string {
	if r, ok := publicReasons[code]; ok {
		return r
	}
	return publicReasons[CodeInternal]
}
