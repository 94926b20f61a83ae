package channel

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Ticket keys shared by a cluster (docs/CLUSTER.md "Resumption"). With
// TicketConfig.Secret every server derives the same key for a key id, so a
// ticket sealed by one server opens on any other, and no ticket key is
// ever stored, sent or handed between servers:
//
//	key_id = epoch (uint32, Unix seconds / Rotation) ‖ salt (4 random bytes)
//	key    = HKDF-SHA256(IKM = Secret, salt = "", info = "securechat/1 ticket key" ‖ key_id, 32 bytes)
//
// Rotation: a new epoch starts a new key; keys of the previous epoch still
// open (a ticket lives at most one Rotation, so it expires before its key
// is two epochs old) and one epoch ahead is accepted for servers whose
// clocks run a little behind. The salt is drawn by each server process
// per epoch, so each key seals the tickets of one process only and
// maxSealsPerKey (NIST SP 800-38D §8.3's bound for random nonces) holds
// per key as it does for random keys: reaching it draws a new salt. HKDF
// (RFC 5869) with the key id as info makes the keys independent: knowing
// some of them tells nothing of the others or of the secret. The secret
// itself is as sensitive as the server's private key: it lets whoever has
// it forge tickets.
type derivedKeys struct {
	secret   []byte
	rotation int64 // seconds
	rand     io.Reader

	mu    sync.Mutex
	cur   *ticketKey
	cache map[[ticketKeyID]byte]*ticketKey // recently derived keys, for opening
}

// maxDerivedCache bounds the keys kept for opening; beyond it the cache is
// emptied (keys are cheap to derive again).
const maxDerivedCache = 64

var errShortSecret = errors.New("ticket secret must be at least 32 bytes")

func newDerivedKeys(secret []byte, rotation time.Duration, rnd io.Reader) *derivedKeys {
	return &derivedKeys{secret: secret, rotation: max(int64(rotation/time.Second), 1), rand: rnd,
		cache: map[[ticketKeyID]byte]*ticketKey{}}
}

func (d *derivedKeys) epoch(now time.Time) uint32 { return uint32(now.Unix() / d.rotation) }

// current is the key to seal with at now; called under ticketer.mu.
func (d *derivedKeys) current(now time.Time) (*ticketKey, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.epoch(now)
	if d.cur != nil && binary.BigEndian.Uint32(d.cur.id[:4]) == e && d.cur.seals < maxSealsPerKey {
		return d.cur, nil
	}
	var id [ticketKeyID]byte
	binary.BigEndian.PutUint32(id[:4], e)
	if _, err := io.ReadFull(d.rand, id[4:]); err != nil {
		return nil, fmt.Errorf("ticket key salt: %w", err)
	}
	k, err := d.deriveLocked(id, now)
	if err != nil {
		return nil, err
	}
	d.cur = k
	return k, nil
}

// lookup is the key named id if its epoch is recent (previous, current or
// next), else nil.
func (d *derivedKeys) lookup(id []byte, now time.Time) *ticketKey {
	var kid [ticketKeyID]byte
	copy(kid[:], id)
	e, cur := int64(binary.BigEndian.Uint32(kid[:4])), int64(d.epoch(now))
	if e < cur-1 || e > cur+1 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	k, err := d.deriveLocked(kid, now)
	if err != nil {
		return nil
	}
	return k
}

func (d *derivedKeys) deriveLocked(id [ticketKeyID]byte, now time.Time) (*ticketKey, error) {
	if k, ok := d.cache[id]; ok {
		return k, nil
	}
	if len(d.secret) < 32 {
		return nil, errShortSecret
	}
	raw, err := hkdf.Key(sha256.New, d.secret, nil, "securechat/1 ticket key"+string(id[:]), 32)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(d.cache) >= maxDerivedCache {
		clear(d.cache)
	}
	k := &ticketKey{id: id, aead: aead, created: now}
	d.cache[id] = k
	return k, nil
}

// spendTimeout bounds the cluster-wide single-use check of a ticket.
const spendTimeout = 2 * time.Second

// errTicketSpendUnknown: the cluster-wide used-ticket record cannot be
// reached, so the ticket is refused (fail closed; a full handshake follows).
var errTicketSpendUnknown = errors.New("cluster used-ticket record unavailable")

// spend records st's id as used across the cluster, if a TicketSpender is
// configured; it runs after the local used-ticket set accepted the id.
func (t *ticketer) spend(ctx context.Context, st *ticketState) error {
	if t.cfg.Spent == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, spendTimeout)
	defer cancel()
	first, err := t.cfg.Spent.Spend(ctx, st.id[:], st.expires)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", errTicketSpendUnknown, err)
	case !first:
		return errTicketUsed
	}
	return nil
}
