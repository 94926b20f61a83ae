// Package testchat is the test world the chat and chat/channel tests
// share: a CA with one server and one client identity (World), the fake
// inventory each side checks its peer against (Inventory), a collector of
// what a server's OnMessage and OnReject saw (Received), and the helpers
// that serve a server until the end of a test and check a good client
// still gets through.
package testchat

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Inventory is the tests' peer checker: serial -> fingerprint and status,
// as the real inventory would answer.
type Inventory struct {
	mu          sync.Mutex
	entries     map[string]invEntry
	unavailable bool
	calls       atomic.Int64
}

type invEntry struct {
	fingerprint string
	revoked     bool
}

// NewInventory is an empty inventory.
func NewInventory() *Inventory { return &Inventory{entries: make(map[string]invEntry)} }

func fingerprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

// Add records c as good.
func (f *Inventory) Add(c *x509.Certificate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries[c.SerialNumber.Text(16)] = invEntry{fingerprint: fingerprint(c)}
}

// Revoke marks c's serial revoked.
func (f *Inventory) Revoke(c *x509.Certificate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.entries[c.SerialNumber.Text(16)]
	e.revoked = true
	f.entries[c.SerialNumber.Text(16)] = e
}

// SetUnavailable makes Check fail with ErrUnavailable (v) or answer again.
func (f *Inventory) SetUnavailable(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unavailable = v
}

// Calls is how often Check has been called.
func (f *Inventory) Calls() int64 { return f.calls.Load() }

// Check answers as the inventory would: nil for a known, unrevoked
// certificate with the recorded fingerprint.
func (f *Inventory) Check(_ context.Context, c *x509.Certificate) error {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unavailable {
		return ErrUnavailable
	}
	e, ok := f.entries[c.SerialNumber.Text(16)]
	switch {
	case !ok:
		return fmt.Errorf("serial %s: %w", c.SerialNumber.Text(16), ErrUnknownCert)
	case e.fingerprint != fingerprint(c):
		return ErrFingerprint
	case e.revoked:
		return ErrRevoked
	}
	return nil
}

// The errors Inventory.Check returns.
var (
	ErrUnknownCert = errors.New("serial not in inventory")
	ErrFingerprint = errors.New("fingerprint differs from inventory")
	ErrRevoked     = errors.New("certificate revoked")
	ErrUnavailable = errors.New("revocation source unavailable")
)
