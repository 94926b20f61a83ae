package certstore

import (
	"fmt"
	"strings"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/securechat/scca/certstore/sqldriver"
)

// dialect is the SQL that differs between the databases the inventory runs
// on. Each database is one value of it (sqliteDialect, mysqlDialect,
// postgresDialect, each in its own file); code elsewhere in the package
// uses the fields and never asks which database it is on. What differs in
// the driver (URLs, opening, error codes) is the database's
// sqldriver.Driver, registered by certstore/dialect/<name>, which a program
// imports to link that driver. Adding a database is one more value, one
// more entry in dialects, a migrations directory and a dialect package.
type dialect struct {
	// name is the database's name in Location.Driver, Store.Dialect and the
	// migrations directory.
	name string
	// example is the URL form shown when a URL is not understood.
	example string
	// goose is the migration tool's dialect, and migrationLock, when not
	// nil, serialises concurrent Migrate calls across processes.
	goose         goose.Dialect
	migrationLock func() (lock.SessionLocker, error)
	// tableExists counts the tables named by its one argument.
	tableExists string

	// committers is how many batches of inserts may be in flight at once
	// (see groupcommit.go).
	committers int

	// forUpdate is appended to SELECTs that lock the rows they read. SQLite
	// has no row locks; its BEGIN IMMEDIATE already holds the write lock.
	forUpdate string
	// scanByID is a table hint that makes the planner walk the primary key
	// (newest first) instead of an index matching most of the table; see
	// Store.List.
	scanByID string
	// upsertCRLNumber allocates the next CRL number for an issuer.
	upsertCRLNumber string
	// reserveQueue adds to recipients' queue counts; %s is the VALUES rows.
	reserveQueue string
	// reserveSender adds to senders' usage counts (messages, bytes); %s
	// is the VALUES rows.
	reserveSender string
	// selectRevoked lists an issuer's revoked certificates for a CRL.
	selectRevoked string
	// cnContains matches a common name against a LIKE pattern (with ESCAPE
	// '!') case-insensitively for ASCII.
	cnContains string
}

// dialects are the databases the inventory runs on, tried in order by
// ParseURL.
var dialects = []*dialect{&sqliteDialect, &mysqlDialect, &postgresDialect}

// ParseURL understands these forms:
//
//	sqlite:PATH                                  (sqlite:///abs/path also works)
//	mysql://USER[:PASS]@HOST[:PORT]/DBNAME[?params]
//	USER[:PASS]@tcp(HOST:PORT)/DBNAME[?params]   (a go-sql-driver DSN)
//	postgres://USER[:PASS]@HOST[:PORT]/DBNAME[?params] (or postgresql://)
//
// Each database forces the session settings the store relies on (UTC,
// strict data checks, a 5s connect timeout). Neither the result's Redacted
// field nor any error contains the password.
func ParseURL(raw string) (Location, error) {
	if raw == "" {
		return Location{}, fmt.Errorf("empty database URL (want %s)", urlForms())
	}
	var unlinked []string
	for _, d := range dialects {
		drv := sqldriver.Lookup(d.name)
		if drv == nil {
			unlinked = append(unlinked, d.name)
			continue
		}
		if loc, ok, err := drv.Parse(raw); ok {
			return loc, err
		}
	}
	if len(unlinked) > 0 {
		// A program links the drivers it imports (certstore/dialect/...).
		return Location{}, fmt.Errorf("unrecognised database URL (want %s; this program has no driver for %s)",
			urlForms(), strings.Join(unlinked, ", "))
	}
	return Location{}, fmt.Errorf("unrecognised database URL (want %s)", urlForms())
}

func urlForms() string {
	var forms []string
	for _, d := range dialects {
		forms = append(forms, d.example)
	}
	return strings.Join(forms[:len(forms)-1], ", ") + " or " + forms[len(forms)-1]
}

// dialectNamed returns the dialect of a Location.Driver and its driver.
func dialectNamed(name string) (*dialect, *sqldriver.Driver, error) {
	for _, d := range dialects {
		if d.name != name {
			continue
		}
		if drv := sqldriver.Lookup(name); drv != nil {
			return d, drv, nil
		}
		return nil, nil, fmt.Errorf("no %s driver in this program (import certstore/dialect/%s)", name, name)
	}
	return nil, nil, fmt.Errorf("unsupported driver %q", name)
}

// translate maps driver errors callers branch on to this package's
// sentinels, keeping the driver error in the chain for diagnostics. A
// driver's error type is only ever produced by that driver, so asking every
// dialect is the same as asking the store's own.
func translate(err error) error {
	if err == nil {
		return nil
	}
	for _, d := range dialects {
		if drv := sqldriver.Lookup(d.name); drv != nil && drv.Duplicate(err) {
			return fmt.Errorf("%w: %w", ErrDuplicate, err)
		}
	}
	return explain(err)
}

// retryable reports whether the database aborted a transaction only to
// resolve lock contention, so running it again is correct.
func retryable(err error) bool {
	for _, d := range dialects {
		if drv := sqldriver.Lookup(d.name); drv != nil && drv.Retryable(err) {
			return true
		}
	}
	return false
}
