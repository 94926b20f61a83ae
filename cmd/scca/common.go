package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/term"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/chat"
)

// storeMode says how a command uses the inventory.
type storeMode int

const (
	storeLongLived storeMode = iota // read-write, for a server or a long job
	storeReadOnly                   // reads only (openStoreRO)
	storeOneShot                    // a few writes, then the process ends
)

// openStore opens the inventory and checks that its schema is current, so
// every command fails early with a clear message on a wrong database.
func (e *env) openStore(ctx context.Context) (*certstore.Store, error) {
	return e.openStoreWith(ctx, storeLongLived)
}

// openStoreOneShot is openStore for a command that writes a few rows and
// exits (issue, sign, revoke, crl): an SQLite inventory leaves its WAL to
// the next command, or checkpoints it in the background after each commit,
// so closing it at the end costs no device flush
// (certstore.Options.ShortLived).
func (e *env) openStoreOneShot(ctx context.Context) (*certstore.Store, error) {
	return e.openStoreWith(ctx, storeOneShot)
}

// openStoreRO is openStore for commands that only read (list, show, verify,
// audit, crl status, the chat client's revocation checks): an SQLite
// inventory is opened read-only and nothing is created, so they work on a
// read-only certs dir or mount.
func (e *env) openStoreRO(ctx context.Context) (*certstore.Store, error) {
	return e.openStoreWith(ctx, storeReadOnly)
}

// openStoreWith opens the inventory for mode and checks its schema. A store
// opened for writing with the audit key (so by the CA's owner) is also
// checked against the audit anchor at once: a command refuses before it
// loads the CA key, settles interrupted issuances from what the inventory
// says, or prompts for anything. The store checks again with each write;
// a process without the audit key (a chat server run as another user)
// writes no audit entry and is not held up by an anchor it may not read.
func (e *env) openStoreWith(ctx context.Context, mode storeMode) (*certstore.Store, error) {
	loc, err := certstore.ParseURL(e.dbURL())
	if err != nil {
		return nil, err
	}
	if err := e.inventoryExists(loc); err != nil {
		return nil, err
	}
	st, seal, err := e.openWithSeal(ctx, mode)
	if err != nil {
		return nil, err
	}
	err = st.CheckSchema(ctx)
	if err == nil && mode != storeReadOnly && seal != nil && seal.Key != nil {
		err = st.CheckAnchor(ctx)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// inventoryExists refuses a missing SQLite file, which opening would
// create empty: a mistyped --db or a command run before `scca init` leaves
// nothing behind. One in the certs dir beside an audit anchor that records
// entries was lost, and the anchor says so (the hint is then to restore).
func (e *env) inventoryExists(loc certstore.Location) error {
	if !sqliteMissing(loc) {
		return nil
	}
	if e.besideAnchor(loc) {
		if err := e.checkLostInventory(loc); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: %s does not exist", errNoInventory, loc.Path)
}

// sqliteMissing reports whether loc is an SQLite file that does not exist.
func sqliteMissing(loc certstore.Location) bool {
	if loc.Path == "" {
		return false
	}
	_, err := os.Stat(loc.Path)
	return errors.Is(err, fs.ErrNotExist)
}

// besideAnchor reports whether the SQLite file loc is in the certs dir,
// beside the audit anchor. Missing there, it is the inventory the anchor
// was written with, lost; missing elsewhere, more likely a wrong --db.
func (e *env) besideAnchor(loc certstore.Location) bool {
	dir, err1 := filepath.Abs(filepath.Dir(loc.Path))
	certs, err2 := filepath.Abs(e.certsDir())
	return err1 == nil && err2 == nil && dir == certs
}

// checkLostInventory returns the audit anchor's objection to an inventory
// that holds no audit entry, here a missing SQLite file (see
// certstore.AuditSeal.CheckEmptyInventory), or nil. An audit key or anchor
// that cannot be read has its say where it matters, when a store is
// opened or written.
func (e *env) checkLostInventory(loc certstore.Location) error {
	seal, err := certstore.LoadAuditSeal(e.certsDir())
	if err != nil {
		return nil
	}
	if err := seal.CheckEmptyInventory(loc.Redacted); errors.Is(err, certstore.ErrAnchorMismatch) {
		return err
	}
	return nil
}

// errNoInventory: the embedded inventory file is missing.
var errNoInventory = errors.New("no inventory")

// openStoreNoCheck opens the inventory without a schema check (for init and
// db migrate/status). A missing SQLite file, which opening would create, is
// refused when the audit anchor records entries: beside that anchor an
// empty inventory is a lost one, never a new one (and no write would be
// taken into it).
func (e *env) openStoreNoCheck(ctx context.Context) (*certstore.Store, error) {
	loc, err := certstore.ParseURL(e.dbURL())
	if err != nil {
		return nil, err
	}
	if sqliteMissing(loc) {
		if err := e.checkLostInventory(loc); err != nil {
			return nil, err
		}
	}
	if err := e.prepareSQLiteDir(); err != nil {
		return nil, err
	}
	st, _, err := e.openWithSeal(ctx, storeLongLived)
	return st, err
}

// openWithSeal opens the inventory with the audit seal of the certs dir
// (nil when the CA has no audit key yet), and returns that seal too.
func (e *env) openWithSeal(ctx context.Context, mode storeMode) (*certstore.Store, *certstore.AuditSeal, error) {
	seal, err := certstore.LoadAuditSeal(e.certsDir())
	if err != nil {
		return nil, nil, err
	}
	opts := e.storeOptions()
	opts.AuditSeal = seal
	opts.ReadOnly = mode == storeReadOnly
	opts.ShortLived = mode == storeOneShot
	st, err := certstore.Open(ctx, e.dbURL(), opts)
	if err != nil {
		return nil, nil, err
	}
	// The audit key was parsed while the inventory opened; a bad one is
	// reported now, before any work, as it was before that overlap.
	if err := seal.Ready(); err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, seal, nil
}

// ensureAuditKey creates the audit key beside the CA keys unless the certs
// dir already has one; entries from sealedFrom on must be sealed.
func (e *env) ensureAuditKey(sealedFrom int64) (created bool, err error) {
	if err := e.ensureCertsDir(); err != nil {
		return false, err
	}
	if _, err := os.Stat(filepath.Join(e.certsDir(), certstore.AuditPublicKeyFile)); err == nil {
		return false, nil
	}
	return true, certstore.NewAuditKey(e.certsDir(), sealedFrom, nil)
}

// storeOptions carries --db-timeout to the store, and has it say when a
// committed change could not move the audit anchor forward.
func (e *env) storeOptions() certstore.Options {
	return certstore.Options{Timeout: e.dbTimeout(), AnchorFailed: e.warnAnchorFailed}
}

// warnAnchorFailed says, loudly, that a change is recorded but the audit
// anchor was not moved forward: the command goes on and reports the change
// (it happened), but the anchor is not durable as it usually is on success.
// One write, so that lines from a server's goroutines do not interleave.
func (e *env) warnAnchorFailed(err error) {
	msg := fmt.Sprintf("warning: %s\n", chat.EscapeLine(err.Error()))
	if h := hintFor(err); h != "" {
		msg += fmt.Sprintf("hint: %s\n", h)
	}
	e.statusf("%s", msg)
}

// dbTimeout is --db-timeout; a bad value was refused by checkDBTimeout.
func (e *env) dbTimeout() time.Duration {
	d, _ := time.ParseDuration(e.v.GetString("db-timeout"))
	return d
}

// prepareSQLiteDir creates the directory of the SQLite inventory: the certs
// dir for the default one, or the directory of an explicit sqlite: path
// (which may be inside a certs dir that does not exist yet).
func (e *env) prepareSQLiteDir() error {
	if e.v.GetString("db") == "" {
		return e.ensureCertsDir()
	}
	loc, err := certstore.ParseURL(e.dbURL())
	if err != nil || loc.Path == "" {
		return nil // Open reports a bad URL
	}
	if err := os.MkdirAll(filepath.Dir(loc.Path), 0o700); err != nil {
		return fmt.Errorf("create the inventory's directory: %w", err)
	}
	return nil
}

// loadCA loads the CA from the certs dir; an encrypted key's passphrase
// comes from SCCA_CA_PASSPHRASE or, on a terminal, a prompt.
func (e *env) loadCA(st ca.Recorder) (*ca.Authority, error) {
	return ca.Load(ca.LoadOptions{
		Dir:        e.certsDir(),
		Passphrase: e.passphrase,
		Store:      st,
		BaseURL:    e.v.GetString("base-url"),
		Actor:      e.actor(),
	})
}

// openCA opens the inventory and loads the CA that records into it: what
// every command that issues or signs needs. The caller closes the store.
func (e *env) openCA(ctx context.Context) (*certstore.Store, *ca.Authority, error) {
	st, err := e.openStoreOneShot(ctx)
	if err != nil {
		return nil, nil, err
	}
	a, err := e.loadCA(st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	e.recoverOnOpen(ctx, a)
	return st, a, nil
}

// passphrase returns the CA key passphrase. It is never logged or echoed.
func (e *env) passphrase() ([]byte, error) {
	if p, ok := os.LookupEnv("SCCA_CA_PASSPHRASE"); ok {
		return []byte(p), nil
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, errors.New("the CA key is encrypted and no passphrase was given: set SCCA_CA_PASSPHRASE")
	}
	fmt.Fprint(e.stderr, "CA key passphrase: ")
	p, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	return p, nil
}

// newPassphrase asks for a new passphrase twice (or takes SCCA_CA_PASSPHRASE).
func (e *env) newPassphrase() ([]byte, error) {
	if p, ok := os.LookupEnv("SCCA_CA_PASSPHRASE"); ok {
		if len(p) < 8 {
			return nil, errors.New("SCCA_CA_PASSPHRASE is shorter than 8 characters")
		}
		return []byte(p), nil
	}
	p1, err := e.passphrase()
	if err != nil {
		return nil, err
	}
	fmt.Fprint(e.stderr, "again: ")
	p2, err := e.passphrase()
	if err != nil {
		return nil, err
	}
	if string(p1) != string(p2) {
		return nil, errors.New("passphrases do not match")
	}
	if len(p1) < 8 {
		return nil, errors.New("passphrase is shorter than 8 characters")
	}
	return p1, nil
}

// parseValidity parses a validity or period flag (see ca.ParseValidity:
// 90d, 1y, 6mo, 30min; the ambiguous "m" is refused).
func parseValidity(s string) (time.Duration, error) { return ca.ParseValidity(s) }
