package channel

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
)

// Signature contexts (docs/PROTOCOL.md §5.3). They differ by role so a
// server signature can never be replayed as a client signature.
const (
	ServerSignatureContext = "SecureChat 1 server signature"
	ClientSignatureContext = "SecureChat 1 client signature"
	labelPrefix            = "sc1 "
	// hkdfSalt domain-separates our handshake secret from any other use of
	// the same X25519 output.
	hkdfSalt = ProtocolVersion
)

// Transcript is the running SHA-256 over the exact wire bytes (length
// header and body) of every handshake frame, in order (§5.1). Nothing is
// re-serialized: what was sent is what is hashed.
type Transcript struct{ h hash.Hash }

func NewTranscript() *Transcript { return &Transcript{h: sha256.New()} }

func (t *Transcript) Add(body []byte) {
	var hdr [FrameHeaderLen]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(body)))
	t.h.Write(hdr[:])
	t.h.Write(body)
}

func (t *Transcript) Sum() []byte { return t.h.Sum(nil) }

// ExpandLabel is HKDF-Expand-Label from RFC 8446 §7.1 with our own prefix
// "sc1 " instead of "tls13 ", so no key here equals a TLS key.
func ExpandLabel(secret []byte, label string, context []byte, length int) []byte {
	full := labelPrefix + label
	info := make([]byte, 0, 4+len(full)+len(context))
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, byte(len(context)))
	info = append(info, context...)
	out, err := hkdf.Expand(sha256.New, secret, string(info), length)
	if err != nil {
		panic("chat: hkdf expand: " + err.Error()) // lengths here are fixed and small
	}
	return out
}

// HandshakeSecret = HKDF-Extract(salt "securechat/1", X25519 shared secret).
func HandshakeSecret(shared []byte) []byte {
	prk, err := hkdf.Extract(sha256.New, shared, []byte(hkdfSalt))
	if err != nil {
		panic("chat: hkdf extract: " + err.Error())
	}
	return prk
}

// FinishedMAC = HMAC-SHA256(ExpandLabel(hs, label, th, 32), th) (§5.4).
func FinishedMAC(hs []byte, label string, th []byte) []byte {
	m := hmac.New(sha256.New, ExpandLabel(hs, label, th, sha256.Size))
	m.Write(th)
	return m.Sum(nil)
}

// TrafficKeys is one direction's AEAD key and IV, derived from its
// traffic secret (§5.2) with the lengths the negotiated suite's AEAD takes.
type TrafficKeys struct {
	Suite  *Suite
	Secret []byte
	Key    []byte // suite.KeyLen bytes (32 for both suites: AES-256, ChaCha20)
	IV     []byte // suite.NonceLen bytes: XORed with the sequence number per record
}

func NewTrafficKeys(s *Suite, secret []byte) TrafficKeys {
	return TrafficKeys{
		Suite:  s,
		Secret: secret,
		Key:    ExpandLabel(secret, "key", nil, s.KeyLen),
		IV:     ExpandLabel(secret, "iv", nil, s.NonceLen),
	}
}

// Next is the key update (§6.4): a one-way step, so a later key reveals
// nothing about earlier records. The suite stays the session's.
func (k TrafficKeys) Next() TrafficKeys {
	return NewTrafficKeys(k.Suite, ExpandLabel(k.Secret, "traffic upd", nil, 32))
}

// SignedContent is what a CertificateVerify-style signature covers
// (RFC 8446 §4.4.3): 64 spaces, the role's context, a zero byte, the
// Transcript hash. The spaces and context keep it from colliding with any
// other signed format.
func SignedContent(context string, th []byte) []byte {
	m := make([]byte, 0, 64+len(context)+1+len(th))
	for range 64 {
		m = append(m, 0x20)
	}
	m = append(m, context...)
	m = append(m, 0)
	return append(m, th...)
}

// Sign signs the content with the certificate's key, using the scheme that
// the key type fixes (§5.3): ECDSA with the curve's hash, Ed25519 pure,
// RSA-PSS with SHA-256 and a 32-byte salt.
func Sign(rand io.Reader, key crypto.Signer, context string, th []byte) ([]byte, error) {
	msg := SignedContent(context, th)
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		h := curveHash(pub.Curve)
		return key.Sign(rand, digest(h, msg), h)
	case ed25519.PublicKey:
		return key.Sign(rand, msg, crypto.Hash(0))
	case *rsa.PublicKey:
		return key.Sign(rand, digest(crypto.SHA256, msg), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	default:
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
}

// Verify checks sig over the content against pub.
func Verify(pub crypto.PublicKey, context string, th, sig []byte) bool {
	msg := SignedContent(context, th)
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(pub, digest(curveHash(pub.Curve), msg), sig)
	case ed25519.PublicKey:
		return ed25519.Verify(pub, msg, sig)
	case *rsa.PublicKey:
		return rsa.VerifyPSS(pub, crypto.SHA256, digest(crypto.SHA256, msg), sig,
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	}
	return false
}

func curveHash(c elliptic.Curve) crypto.Hash {
	switch c.Params().BitSize {
	case 384:
		return crypto.SHA384
	case 521:
		return crypto.SHA512
	}
	return crypto.SHA256
}

func digest(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384(msg)
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512(msg)
		return d[:]
	}
	d := sha256.Sum256(msg)
	return d[:]
}

// Resumption key schedule (docs/PROTOCOL.md §13.3).

// BinderLen is the size of a binder (HMAC-SHA256) and of a resumption
// secret.
const BinderLen = sha256.Size

// ResumptionSecret is what a ticket carries: derived from the session's
// handshake secret and full transcript with its own label, so it is
// independent of both traffic secrets (knowing it reveals no record key of
// the session it came from).
func ResumptionSecret(hs, thCF []byte) []byte {
	return ExpandLabel(hs, "resumption", thCF, BinderLen)
}

// ResumedHandshakeSecret = HKDF-Extract(salt = resumption secret, IKM =
// fresh X25519 shared secret). The fresh ephemeral exchange is what keeps
// forward secrecy: a resumption secret (or the ticket key that seals it)
// learned later does not give the traffic keys without an ephemeral key.
func ResumedHandshakeSecret(rs, shared []byte) []byte {
	prk, err := hkdf.Extract(sha256.New, shared, rs)
	if err != nil {
		panic("chat: hkdf extract: " + err.Error())
	}
	return prk
}

// Binder = HMAC-SHA256(ExpandLabel(RS, "res binder", "", 32), truncated
// client_hello), as RFC 8446 §4.2.11.2 PSK binders: it proves the client
// holds the resumption secret behind the ticket, so a ticket alone (seen
// or stolen) cannot be used, and cannot even burn its single use.
func Binder(rs, truncatedHello []byte) []byte {
	m := hmac.New(sha256.New, ExpandLabel(rs, "res binder", nil, BinderLen))
	m.Write(truncatedHello)
	return m.Sum(nil)
}
