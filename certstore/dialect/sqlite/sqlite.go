// Package sqlite links an SQLite driver into a program and registers it
// with the inventory (package certstore): import it for its side effect to
// use sqlite:PATH inventories.
//
// Which driver depends on the build. With cgo (the default wherever a C
// compiler is installed) it is github.com/mattn/go-sqlite3, SQLite's own C
// code. Without cgo (CGO_ENABLED=0, or no C compiler) it is
// modernc.org/sqlite, the same C code translated to Go, so a pure-Go static
// binary still has an embedded inventory. Both read and write the same
// files with the same settings; sqlite_cgo.go and sqlite_nocgo.go hold what
// differs (the DSN syntax and the error types).
//
// What it buys, measured on a whole `scca issue client` process (median of
// 40 interleaved runs, 2-core VM): linked statically (.ci/build.sh: cgo,
// netgo and osusergo, -extldflags -static) the C driver takes 15.1 ms of
// CPU, 769 page faults and 16.8 ms of wall time, against 16.5 ms, 1,072
// faults and 19.8 ms for the static pure-Go build. A plain cgo `go build`
// gains nothing over a plain pure-Go one (22.5 against 22.2 ms of CPU):
// loading the C library dynamically costs what the C driver saves.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/securechat/scca/certstore/sqldriver"
)

func init() {
	sqldriver.Register(&sqliteDriver)
}

// Settings applied on every new connection (the DSN syntax is the
// driver's: pragmas in sqlite_cgo.go and sqlite_nocgo.go).
//
// busy_timeout makes a writer wait for another process's transaction
// instead of failing with SQLITE_BUSY; WAL lets readers run beside the one
// writer; the transaction lock "immediate" makes every transaction BEGIN
// IMMEDIATE, so the write lock is taken up front and read-then-write
// transactions cannot deadlock.
//
// synchronous=FULL: a commit returns only after its WAL frames are synced,
// so a committed issuance or revocation survives a power cut, and it is
// durable before the key and certificate files that it vouches for are
// linked and before the audit anchor names it (with NORMAL a commit was
// durable only at the next checkpoint, after those files). It costs one
// sync per commit, the one the README's fsync table lists for the
// inventory.
const defaultBusy = 10 * time.Second

var sqliteDriver = sqldriver.Driver{
	Name:         sqldriver.SQLite,
	Parse:        parseURL,
	Open:         open,
	OpenReadOnly: openReadOnly,
	// openShortLived is nil where the driver cannot leave the WAL
	// (sqlite_nocgo.go).
	OpenShortLived: openShortLived,
	NoDirSync:      noDirSync,
	Unreachable:    unreachable,
	Duplicate:      duplicate,
	Retryable:      retryable,
	Fault:          fault,
	Bound:          bound,
}

// bound makes a writer wait at most d for another process's lock (SQLite's
// busy timeout) instead of the default.
func bound(loc sqldriver.Location, d time.Duration) (sqldriver.Location, error) {
	loc.DSN = loc.Path + "?" + pragmas(d)
	return loc, nil
}

func parseURL(raw string) (sqldriver.Location, bool, error) {
	path, ok := strings.CutPrefix(raw, "sqlite:")
	if !ok {
		return sqldriver.Location{}, false, nil
	}
	if p, ok := strings.CutPrefix(path, "//"); ok {
		path = p // sqlite:///abs/path → /abs/path
	}
	if path == "" {
		return sqldriver.Location{}, true, errors.New("sqlite URL has no file path (want sqlite:PATH)")
	}
	// Both drivers split their DSN at the first '?', so a path holding one
	// cannot be expressed; '#' would end a URI filename.
	if strings.ContainsAny(path, "?#") {
		return sqldriver.Location{}, true, fmt.Errorf("sqlite path %q must not contain '?' or '#'", path)
	}
	return sqldriver.Location{
		Driver:   sqldriver.SQLite,
		DSN:      path + "?" + pragmas(defaultBusy),
		Redacted: "sqlite:" + path,
		Path:     path,
	}, true, nil
}

func unreachable(loc sqldriver.Location, err error) error {
	return fmt.Errorf("%w: cannot open SQLite inventory %s: %w", sqldriver.ErrUnreachable, loc.Redacted, err)
}

func open(loc sqldriver.Location) (*sql.DB, error) { return openAs(driverName, loc) }

// openAs opens loc with the registered database/sql driver name, creating
// a missing file private first.
func openAs(name string, loc sqldriver.Location) (*sql.DB, error) {
	if err := createPrivate(loc.Path); err != nil {
		return nil, err
	}
	return sql.Open(name, loc.DSN)
}

// noDirSync asks the library whether it was compiled without directory
// syncs (.ci/build.sh compiles the cgo driver's SQLite so, and the store
// then syncs the WAL's directory itself: certstore/walname.go).
func noDirSync(ctx context.Context, db *sql.DB) (bool, error) {
	var on bool
	err := db.QueryRowContext(ctx, "SELECT sqlite_compileoption_used('DISABLE_DIRSYNC')").Scan(&on)
	return on, err
}

// openReadOnly opens loc's existing file for reading only, as a URI
// filename with mode=ro (and immutable=1 when asked: no locks, no WAL).
func openReadOnly(loc sqldriver.Location, immutable bool) (*sql.DB, error) {
	dsn := "file:" + uriPath(loc.Path) + "?mode=ro&" + readOnlyPragmas(defaultBusy)
	if immutable {
		dsn += "&immutable=1"
	}
	return sql.Open(driverName, dsn)
}

// uriPath escapes a file path for an SQLite URI filename, where '%' starts
// an escape ('?' and '#' are refused by parseURL already).
func uriPath(p string) string {
	return strings.ReplaceAll(filepath.ToSlash(p), "%", "%25")
}

// createPrivate creates a new SQLite inventory file readable by its owner
// only, before SQLite does with its default 0644: the inventory holds every
// certificate and the audit log. SQLite gives the -wal and -shm files it
// creates later the database file's mode, so they are 0600 too. An existing
// file is left as it is; a missing directory is left for SQLite to report.
func createPrivate(path string) error {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		return f.Close()
	case errors.Is(err, fs.ErrExist), errors.Is(err, fs.ErrNotExist):
		return nil
	default:
		return fmt.Errorf("create SQLite inventory %s: %w", path, err)
	}
}
