package channel

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Cipher suites (docs/PROTOCOL.md §1, §4.1, §6.2). Every suite shares the
// X25519 key agreement and the HKDF-SHA256 / SHA-256 key schedule; a suite
// only chooses the record AEAD and how many records one key may carry.

// Protocol constants (docs/PROTOCOL.md §1).
const (
	ProtocolVersion = "securechat/1"
	// SuiteX25519AES256GCMSHA256: X25519 key agreement, AES-256-GCM records,
	// HKDF-SHA256 and SHA-256 transcript; signatures per certificate key.
	SuiteX25519AES256GCMSHA256 = "SC1_X25519_AES256GCM_SHA256"

	// RandomLen is the length of client_random and server_random: 256 bits each.
	RandomLen = 32
)

// SuiteX25519ChaCha20Poly1305SHA256: as SuiteX25519AES256GCMSHA256 with
// ChaCha20-Poly1305 (RFC 8439) records, for clients without AES hardware.
const SuiteX25519ChaCha20Poly1305SHA256 = "SC1_X25519_CHACHA20POLY1305_SHA256"

// Suite is one cipher suite as a value: everything the record layer and the
// tickets need to know about it.
type Suite struct {
	Name string
	// KeyLen and NonceLen are the AEAD's key and nonce sizes; the traffic
	// key and IV derived per direction have exactly these lengths (§5.2),
	// and the per-record nonce is IV XOR the sequence number (§6.2).
	KeyLen, NonceLen int
	NewAEAD          func(key []byte) (cipher.AEAD, error)
	// MaxRecords is how many records a receiver accepts under one key
	// (sequence numbers 0 … MaxRecords−1) before it requires a key update.
	MaxRecords uint64
	// TicketCode is the first byte of a ticket's sealed state (§13.2): a
	// ticket resumes only with the suite it was issued under.
	TicketCode byte
}

// SuiteAES256GCM is the default suite and the one of the seed protocol.
var SuiteAES256GCM = &Suite{
	Name:   SuiteX25519AES256GCMSHA256,
	KeyLen: 32, NonceLen: 12, // AES-256; GCM's standard 96-bit nonce
	NewAEAD: func(key []byte) (cipher.AEAD, error) {
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("aes: %w", err)
		}
		return cipher.NewGCM(block)
	},
	// AES-GCM's confidentiality bound for TLS 1.3 is 2^24.5 full records
	// per key (RFC 8446 §5.5); a receiver cuts a peer off at 2^24.
	MaxRecords: 1 << 24,
	TicketCode: 0x01, // the byte tickets carried before suites were values
}

// SuiteChaCha20Poly1305 is the second suite.
var SuiteChaCha20Poly1305 = &Suite{
	Name: SuiteX25519ChaCha20Poly1305SHA256,
	// 256-bit key and RFC 8439's 96-bit nonce (not XChaCha's 192): the
	// nonce is built from the IV and sequence number exactly as for GCM.
	KeyLen: chacha20poly1305.KeySize, NonceLen: chacha20poly1305.NonceSize,
	NewAEAD: chacha20poly1305.New,
	// ChaCha20-Poly1305 has no practical per-key confidentiality limit
	// (RFC 8446 §5.5: the sequence number would wrap first) and its
	// integrity bound concerns forgery attempts, of which a session allows
	// one (the first failure ends it). 2^32 keeps sequence numbers within
	// what every implementation counts exactly (JavaScript numbers included)
	// while still forcing a peer that never updates its key to do so.
	MaxRecords: 1 << 32,
	TicketCode: 0x02,
}

// suites is the registry: every suite this implementation speaks.
var suites = []*Suite{SuiteAES256GCM, SuiteChaCha20Poly1305}

// Suites returns every suite this implementation speaks, the default first.
func Suites() []*Suite { return append([]*Suite(nil), suites...) }

// SuiteByName returns the known suite called name, or nil.
func SuiteByName(name string) *Suite {
	for _, s := range suites {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// SuiteByTicketCode returns the suite a ticket was issued under, or nil.
func SuiteByTicketCode(c byte) *Suite {
	for _, s := range suites {
		if s.TicketCode == c {
			return s
		}
	}
	return nil
}

// ChooseSuite picks the first suite of the client's list that is known:
// the client orders its list by what it runs fast (a client without AES
// hardware puts ChaCha20-Poly1305 first or alone). Unknown names are
// skipped, so new suites can be offered to old servers.
func ChooseSuite(offered []string) *Suite {
	for _, name := range offered {
		if s := SuiteByName(name); s != nil {
			return s
		}
	}
	return nil
}

// MinSuiteRecords is the smallest per-key record limit of all suites: a
// sender's key update interval must stay well below it whatever is
// negotiated.
func MinSuiteRecords() uint64 {
	m := suites[0].MaxRecords
	for _, s := range suites[1:] {
		m = min(m, s.MaxRecords)
	}
	return m
}

// MaxSuiteNonceLen is the longest nonce of all suites (scratch size).
func MaxSuiteNonceLen() int {
	m := 0
	for _, s := range suites {
		m = max(m, s.NonceLen)
	}
	return m
}
