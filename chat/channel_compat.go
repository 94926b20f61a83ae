package chat

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"io"

	"github.com/securechat/scca/chat/channel"
)

// The secure channel lives in package channel. These names keep the
// package's exported API (errors, codes, protocol constants) and give the
// parts of the channel still in this package (handshake, records, tickets)
// their short names.

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

const (
	randomLen              = channel.RandomLen
	frameHeaderLen         = channel.FrameHeaderLen
	minMaxFrame            = channel.MinMaxFrame
	binderLen              = channel.BinderLen
	clientSignatureContext = channel.ClientSignatureContext
	serverSignatureContext = channel.ServerSignatureContext
)

type (
	suite       = channel.Suite
	trafficKeys = channel.TrafficKeys
	transcript  = channel.Transcript
	replayCache = channel.ReplayCache
)

var (
	suiteAES256GCM        = channel.SuiteAES256GCM
	suiteChaCha20Poly1305 = channel.SuiteChaCha20Poly1305
	suites                = channel.Suites()
)

func withCode(code string, err error) error { return channel.WithCode(code, err) }
func codeOf(err error) string               { return channel.CodeOf(err) }
func publicReason(code string) string       { return channel.PublicReason(code) }

func readFrame(r io.Reader, hdr *[frameHeaderLen]byte, max int) ([]byte, error) {
	return channel.ReadFrame(r, hdr, max)
}

func readFrameInto(r io.Reader, hdr *[frameHeaderLen]byte, max int, buf []byte) ([]byte, error) {
	return channel.ReadFrameInto(r, hdr, max, buf)
}

func appendFrame(dst, body []byte) []byte       { return channel.AppendFrame(dst, body) }
func writeFrame(w io.Writer, body []byte) error { return channel.WriteFrame(w, body) }
func growTo(b []byte, n int) []byte             { return channel.GrowTo(b, n) }

func newTranscript() *transcript { return channel.NewTranscript() }

func expandLabel(secret []byte, label string, context []byte, length int) []byte {
	return channel.ExpandLabel(secret, label, context, length)
}

func handshakeSecret(shared []byte) []byte { return channel.HandshakeSecret(shared) }

func finishedMAC(hs []byte, label string, th []byte) []byte {
	return channel.FinishedMAC(hs, label, th)
}

func newTrafficKeys(s *suite, secret []byte) trafficKeys { return channel.NewTrafficKeys(s, secret) }

func sign(rand io.Reader, key crypto.Signer, context string, th []byte) ([]byte, error) {
	return channel.Sign(rand, key, context, th)
}

func verify(pub crypto.PublicKey, context string, th, sig []byte) bool {
	return channel.Verify(pub, context, th, sig)
}

func resumptionSecret(hs, thCF []byte) []byte { return channel.ResumptionSecret(hs, thCF) }
func resumedHandshakeSecret(rs, shared []byte) []byte {
	return channel.ResumedHandshakeSecret(rs, shared)
}
func binder(rs, truncatedHello []byte) []byte { return channel.Binder(rs, truncatedHello) }
func newReplayCache(max int) *replayCache     { return channel.NewReplayCache(max) }
func suiteByName(name string) *suite          { return channel.SuiteByName(name) }
func suiteByTicketCode(c byte) *suite         { return channel.SuiteByTicketCode(c) }
func chooseSuite(offered []string) *suite     { return channel.ChooseSuite(offered) }
func minSuiteRecords() uint64                 { return channel.MinSuiteRecords() }
func maxSuiteNonceLen() int                   { return channel.MaxSuiteNonceLen() }

func signedContent(context string, th []byte) []byte { return channel.SignedContent(context, th) }

// The strict JSON object codec (channel/jsonobj.go).
type (
	field       = channel.Field
	wireObject  = channel.WireObject
	typeOnly    = channel.TypeOnly
	emptyObject = channel.EmptyObject
)

var errJSONMissing = channel.ErrJSONMissing

func decodeObject(b []byte, fs []field) error { return channel.DecodeObject(b, fs) }
func canonicalDigits(b []byte) (uint64, bool) { return channel.CanonicalDigits(b) }

// PeerChecker and PeerChainChecker are the peer-certificate verification
// hook of the channel (channel/peercheck.go).
type (
	PeerChecker      = channel.PeerChecker
	PeerChainChecker = channel.PeerChainChecker
)

func checkPeerChain(ctx context.Context, checker PeerChecker, verified []*x509.Certificate) error {
	return channel.CheckPeerChain(ctx, checker, verified)
}
