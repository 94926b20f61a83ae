package channel

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Session tickets, server side (docs/PROTOCOL.md §13.2). A ticket is the
// server's own state, sealed so only this server process can read it: the
// client stores it and gives it back unchanged.

// Defaults for TicketConfig.
const (
	DefaultTicketLifetime = time.Hour
	DefaultTicketRotation = time.Hour
	DefaultMaxUsedTickets = 1 << 18
)

// TicketConfig configures session resumption on a Server. The zero value
// enables it with the defaults. Ticket keys are random per Server and never
// leave memory, so tickets do not survive a restart (clients then fall back
// to a full handshake).
type TicketConfig struct {
	Disabled bool // never issue or accept tickets
	// Lifetime bounds a ticket; it is capped at Rotation so a ticket's key
	// is still current or previous until the ticket expires, and at the
	// expiry of the ticket it was resumed from.
	Lifetime time.Duration
	Rotation time.Duration // how often a new ticket key replaces the current one
	// MaxUsed bounds the set of used, unexpired ticket ids kept to refuse a
	// second use. When it is full, resumption is refused (clients fall back
	// to a full handshake) rather than forgetting an id early.
	MaxUsed int

	// Secret, if set, is shared by every server of a cluster so that a
	// ticket from one resumes on another: ticket keys are then derived
	// from it per rotation period (ticket_keys.go) instead of drawn at
	// random, and never stored or sent anywhere. At least 32 random bytes.
	Secret []byte
	// Spent, if set, records used ticket ids for the whole cluster (a
	// shared compare-and-set), after this server's own used-ticket set.
	Spent TicketSpender
}

// TicketSpender is a cluster-wide single-use record of ticket ids.
type TicketSpender interface {
	// Spend records id as used until expires. first is false if it was
	// recorded before; an error means it cannot tell (the ticket is then
	// refused: a full handshake follows).
	Spend(ctx context.Context, id []byte, expires time.Time) (first bool, err error)
}

// Reasons a ticket is refused; each ends in a full handshake instead.
var (
	errTicketsOff      = errors.New("tickets disabled")
	errTicketMalformed = errors.New("malformed ticket")
	errTicketKey       = errors.New("ticket key unknown (rotated out or from another server)")
	errTicketAuth      = errors.New("ticket failed authentication")
	errTicketExpired   = errors.New("ticket expired")
	errTicketUsed      = errors.New("ticket already used")
	errTicketsFull     = errors.New("used-ticket set is full")
	errBinder          = errors.New("binder does not verify")
	errTicketCert      = errors.New("certificate differs from the ticket's")
	errTicketSuite     = errors.New("ticket was issued under another cipher suite")
)

const (
	ticketIDLen = 16 // random: unique among all tickets alive at once
	ticketKeyID = 8
	// ticketPlainLen: suite code, id, resumption secret, issued_at,
	// expires_at, SHA-256 of the client certificate.
	ticketPlainLen = 1 + ticketIDLen + BinderLen + 8 + 8 + sha256.Size
	// Tickets are sealed with AES-256-GCM whatever the session's suite
	// (only this server reads them): GCM's standard 96-bit nonce, random
	// per ticket (see seal), and its 16-byte tag.
	ticketNonceLen = 12
	ticketTagLen   = 16
	ticketLen      = ticketKeyID + ticketNonceLen + ticketPlainLen + ticketTagLen
	// maxSealsPerKey keeps random 96-bit nonces far inside NIST SP 800-38D
	// §8.3's 2^32 invocations per key; the key rotates early if reached.
	maxSealsPerKey = 1 << 30
)

// ticketState is what a ticket carries.
type ticketState struct {
	suite    *Suite // the session's cipher suite: resumption only under it
	id       [ticketIDLen]byte
	secret   []byte // resumption secret
	issued   time.Time
	expires  time.Time
	certHash [sha256.Size]byte // SHA-256 of the client certificate (DER)
}

func (t *ticketState) marshal() []byte {
	b := make([]byte, 0, ticketPlainLen)
	b = append(b, t.suite.TicketCode)
	b = append(b, t.id[:]...)
	b = append(b, t.secret...)
	b = binary.BigEndian.AppendUint64(b, uint64(t.issued.Unix()))
	b = binary.BigEndian.AppendUint64(b, uint64(t.expires.Unix()))
	return append(b, t.certHash[:]...)
}

func parseTicketState(b []byte) (*ticketState, error) {
	if len(b) != ticketPlainLen || SuiteByTicketCode(b[0]) == nil {
		return nil, errTicketMalformed
	}
	t := &ticketState{suite: SuiteByTicketCode(b[0])}
	b = b[1:]
	copy(t.id[:], b)
	b = b[ticketIDLen:]
	t.secret = append([]byte(nil), b[:BinderLen]...)
	b = b[BinderLen:]
	t.issued = time.Unix(int64(binary.BigEndian.Uint64(b)), 0)
	t.expires = time.Unix(int64(binary.BigEndian.Uint64(b[8:])), 0)
	copy(t.certHash[:], b[16:])
	return t, nil
}

// ticketKey is one AES-256-GCM ticket key.
type ticketKey struct {
	id      [ticketKeyID]byte
	aead    cipher.AEAD
	created time.Time
	seals   uint64
}

// ticketer seals and opens tickets and remembers used ones.
type ticketer struct {
	cfg  TicketConfig
	rand io.Reader

	mu        sync.Mutex
	current   *ticketKey
	previous  *ticketKey
	used      map[[ticketIDLen]byte]time.Time
	lastSweep time.Time
	derived   *derivedKeys // keys from TicketConfig.Secret; nil: random keys
}

func newTicketer(cfg TicketConfig, rnd io.Reader) *ticketer {
	cfg.Rotation = orDefault(cfg.Rotation, DefaultTicketRotation)
	cfg.Lifetime = min(orDefault(cfg.Lifetime, DefaultTicketLifetime), cfg.Rotation)
	if cfg.MaxUsed <= 0 {
		cfg.MaxUsed = DefaultMaxUsedTickets
	}
	t := &ticketer{cfg: cfg, rand: rnd, used: make(map[[ticketIDLen]byte]time.Time)}
	if len(cfg.Secret) > 0 {
		t.derived = newDerivedKeys(cfg.Secret, cfg.Rotation, rnd)
	}
	return t
}

// newTicketKey draws a key and its id from rand. Keys are random per
// process: nothing on disk can leak them, at the price of tickets not
// surviving a restart.
func newTicketKey(rnd io.Reader, now time.Time) (*ticketKey, error) {
	var raw [32 + ticketKeyID]byte
	if _, err := io.ReadFull(rnd, raw[:]); err != nil {
		return nil, fmt.Errorf("ticket key: %w", err)
	}
	block, err := aes.NewCipher(raw[:32])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &ticketKey{aead: aead, created: now}
	copy(k.id[:], raw[32:])
	clear(raw[:32])
	return k, nil
}

// rotateLocked moves current to previous when it is older than Rotation
// (or has sealed maxSealsPerKey tickets) and drops a previous key older
// than two periods: every ticket it sealed has expired by then, because
// Lifetime <= Rotation.
func (t *ticketer) rotateLocked(now time.Time, force bool) error {
	if t.previous != nil && now.Sub(t.previous.created) >= 2*t.cfg.Rotation {
		t.previous = nil
	}
	if t.current != nil && !force && now.Sub(t.current.created) < t.cfg.Rotation && t.current.seals < maxSealsPerKey {
		return nil
	}
	k, err := newTicketKey(t.rand, now)
	if err != nil {
		return err
	}
	if t.current != nil && now.Sub(t.current.created) < 2*t.cfg.Rotation {
		t.previous = t.current
	}
	t.current = k
	return nil
}

// seal makes a ticket: key id ‖ nonce ‖ AES-256-GCM(plaintext), with the
// key id and a label as additional data. The nonce is 96 random bits per
// ticket: with at most maxSealsPerKey tickets per key the chance of a
// repeat stays below 2^-33, and a counter would need state that survives
// key rotation for no gain.
func (t *ticketer) seal(st *ticketState, now time.Time) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k, err := t.sealKeyLocked(now)
	if err != nil {
		return nil, err
	}
	k.seals++
	out := make([]byte, ticketKeyID+ticketNonceLen, ticketLen)
	copy(out, k.id[:])
	if _, err := io.ReadFull(t.rand, out[ticketKeyID:]); err != nil {
		return nil, fmt.Errorf("ticket nonce: %w", err)
	}
	return k.aead.Seal(out, out[ticketKeyID:], st.marshal(), ticketAD(k.id[:])), nil
}

// ticketAD binds the key id (and the protocol) to the sealed state.
func ticketAD(keyID []byte) []byte {
	return append([]byte(ProtocolVersion+" ticket\x00"), keyID...)
}

// open authenticates a ticket and checks its expiry. It does not mark it
// used: that happens only after the binder proved the client holds the
// secret, so a copied ticket cannot burn the owner's single use.
func (t *ticketer) open(ticket []byte, now time.Time) (*ticketState, error) {
	if len(ticket) != ticketLen {
		return nil, errTicketMalformed
	}
	k, err := t.openKey(ticket[:ticketKeyID], now)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, errTicketKey
	}
	nonce := ticket[ticketKeyID : ticketKeyID+ticketNonceLen]
	pt, err := k.aead.Open(nil, nonce, ticket[ticketKeyID+ticketNonceLen:], ticketAD(k.id[:]))
	if err != nil {
		return nil, errTicketAuth
	}
	st, err := parseTicketState(pt)
	clear(pt)
	if err != nil {
		return nil, err
	}
	if !now.Before(st.expires) {
		return nil, errTicketExpired
	}
	return st, nil
}

// markUsed records a ticket id until the ticket expires; false means it
// was used before (or the set is full, errTicketsFull).
func (t *ticketer) markUsed(st *ticketState, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if exp, ok := t.used[st.id]; ok && now.Before(exp) {
		return errTicketUsed
	}
	if len(t.used) >= t.cfg.MaxUsed && now.Sub(t.lastSweep) >= time.Second {
		// Amortised sweep: at most once a second, only when full.
		t.lastSweep = now
		for id, exp := range t.used {
			if !now.Before(exp) {
				delete(t.used, id)
			}
		}
	}
	if len(t.used) >= t.cfg.MaxUsed {
		return errTicketsFull
	}
	t.used[st.id] = st.expires
	return nil
}

// newServerTicketer is the Server's ticketer, or nil when disabled.
func newServerTicketer(cfg TicketConfig, rnd io.Reader) *ticketer {
	if cfg.Disabled {
		return nil
	}
	return newTicketer(cfg, rnd)
}

// sealKeyLocked is the key new tickets are sealed with.
func (t *ticketer) sealKeyLocked(now time.Time) (*ticketKey, error) {
	if t.derived != nil {
		return t.derived.current(now)
	}
	if err := t.rotateLocked(now, false); err != nil {
		return nil, err
	}
	return t.current, nil
}

// openKey finds the key a ticket names: current or previous, or with a
// shared secret the derived key of a recent period; nil if none.
func (t *ticketer) openKey(id []byte, now time.Time) (*ticketKey, error) {
	if t.derived != nil {
		return t.derived.lookup(id, now), nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.rotateLocked(now, false); err != nil {
		return nil, err
	}
	for _, c := range []*ticketKey{t.current, t.previous} {
		if c != nil && string(c.id[:]) == string(id) {
			return c, nil
		}
	}
	return nil, nil
}
