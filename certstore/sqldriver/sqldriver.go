// Package sqldriver is the seam between the inventory (package certstore)
// and the SQL drivers: what differs per driver (recognising a database URL,
// opening it with the session settings the store relies on, explaining a
// failed first contact, classifying errors) is a Driver value that a small
// package per database (certstore/dialect/sqlite, .../mysql,
// .../postgres) registers, and certstore looks up by name. So certstore
// links no driver: a program links those it imports, as cmd/scca does.
//
// This package imports no driver and not certstore, so certstore's own
// tests may import the dialect packages without an import cycle.
package sqldriver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Database names: Location.Driver, Driver.Name, certstore's dialects and
// migration directories.
const (
	SQLite   = "sqlite"
	MySQL    = "mysql"
	Postgres = "postgres"
)

// ErrUnreachable is wrapped by a Driver's Unreachable.
var ErrUnreachable = errors.New("inventory database unreachable")

// Location says where the inventory lives. DSN is what the driver needs and
// may contain a password; Redacted is safe to print and log.
type Location struct {
	Driver   string
	DSN      string
	Redacted string
	Path     string // the database file, for SQLite; empty for a server
	// IOTimeout, when set (by a Bounder), bounds each read and write on a
	// server connection, for drivers whose DSN cannot say it.
	IOTimeout time.Duration
}

// Driver is one database's driver-specific behaviour.
type Driver struct {
	// Name is the database's name (SQLite, MySQL, Postgres).
	Name string
	// Parse recognises this database's URLs: ok is false for a URL of
	// another database, err is set for a malformed one of this database.
	// Neither the Location's Redacted field nor err holds the password.
	Parse func(raw string) (loc Location, ok bool, err error)
	// Open returns a handle whose statements use '?' placeholders,
	// whatever the database's own placeholder syntax.
	Open func(loc Location) (*sql.DB, error)
	// OpenShortLived is Open for a process that commits a few times and
	// then exits (a CLI command): closing the handle leaves SQLite's WAL,
	// commits and all, to the next process instead of checkpointing it
	// into the database file (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE). Optional:
	// nil where the driver cannot say so.
	OpenShortLived func(loc Location) (*sql.DB, error)
	// NoDirSync reports whether the SQLite library was compiled with
	// SQLITE_DISABLE_DIRSYNC, so that it does not fsync the directory of a
	// WAL it creates; the store then makes the WAL's name durable itself.
	// Optional: nil means the library syncs it, or there is no such file.
	NoDirSync func(ctx context.Context, db *sql.DB) (bool, error)
	// OpenReadOnly opens an existing database file for reading only,
	// creating nothing; immutable also takes no locks and reads no WAL.
	// Optional: only a file database (SQLite) has it.
	OpenReadOnly func(loc Location, immutable bool) (*sql.DB, error)
	// Unreachable explains a failed first contact, wrapping ErrUnreachable,
	// without the password.
	Unreachable func(loc Location, err error) error
	// Duplicate reports a unique-key violation, and Retryable a
	// transaction the database aborted only to resolve lock contention.
	Duplicate func(error) bool
	Retryable func(error) bool
	// Fault names the database or disk fault behind one of this driver's
	// errors (one of the Err* faults of this package), or returns nil.
	// Optional.
	Fault func(error) error
	// Bound applies a deadline to the driver's settings. Optional: without
	// it only the store's own context deadlines bound a call.
	Bound Bounder
}

var (
	mu      sync.RWMutex
	drivers = map[string]*Driver{}
)

// Register makes d available to certstore under d.Name. It panics when d
// is incomplete or its name is taken, as database/sql.Register does: both
// are programming errors found at init.
func Register(d *Driver) {
	if d == nil || d.Name == "" || d.Parse == nil || d.Open == nil || d.Unreachable == nil || d.Duplicate == nil || d.Retryable == nil {
		panic("sqldriver: Register of an incomplete driver")
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := drivers[d.Name]; dup {
		panic(fmt.Sprintf("sqldriver: Register called twice for %q", d.Name))
	}
	drivers[d.Name] = d
}

// Lookup returns the driver registered under name, or nil.
func Lookup(name string) *Driver {
	mu.RLock()
	defer mu.RUnlock()
	return drivers[name]
}

// RedactedPassword replaces the password in Location.Redacted and in errors.
const RedactedPassword = "xxxxx"

// URLPassword extracts what would be the password of a mysql:// or
// postgres:// URL, even a malformed one, so that error messages can be
// scrubbed of it (with Redact). Both its raw and its decoded spelling are
// returned, NUL-separated.
func URLPassword(raw string) string {
	rest := raw
	if _, after, ok := strings.Cut(raw, "://"); ok {
		rest = after
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 && strings.LastIndex(rest, "@") < i {
		rest = rest[:i]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	_, pass, ok := strings.Cut(rest[:at], ":")
	if !ok {
		return ""
	}
	if dec, err := url.PathUnescape(pass); err == nil && dec != pass {
		return pass + "\x00" + dec // both spellings are secret
	}
	return pass
}

// Redact removes every NUL-separated secret from msg.
func Redact(msg, secrets string) string {
	for _, s := range strings.Split(secrets, "\x00") {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, RedactedPassword)
		}
	}
	return msg
}

// ErrorAs is errors.As for a target type given as a type parameter.
func ErrorAs[T error](err error) (T, bool) {
	var target T
	ok := errors.As(err, &target)
	return target, ok
}
