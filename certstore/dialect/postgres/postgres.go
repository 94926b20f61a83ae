// Package postgres links the PostgreSQL driver (jackc/pgx) into a program
// and registers it with the inventory (package certstore): import it for
// its side effect to use postgres:// URLs.
package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/securechat/scca/certstore/sqldriver"
)

func init() { sqldriver.Register(&driver) }

// errBadURL never quotes the input or the parser's message: a password
// holding '/', '?' or '#' moves the parser's idea of where the password
// ends, so any fragment it echoes may be part of it.
var errBadURL = errors.New("invalid postgres URL (not shown: it may contain a password); " +
	"percent-encode '/', '?', '#', '@', ':' and '%' in the user name and password, e.g. '/' as %2F")

// PostgreSQL SQLSTATE codes translated at the boundary (Appendix A of the
// PostgreSQL manual).
const (
	uniqueViolation      = "23505"
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
	lockNotAvailable     = "55P03"
	invalidAuthSpec      = "28000" // e.g. no such role
	invalidPassword      = "28P01"
	invalidCatalogName   = "3D000" // no such database
)

// Connection settings forced on every PostgreSQL session: times are
// TIMESTAMP(6) WITHOUT TIME ZONE in UTC, and goose's version table defaults
// its timestamps to now(), which follows the session time zone.
const (
	timeZone       = "UTC"
	connectTimeout = 5 * time.Second
	defaultPort    = "5432"
)

var driver = sqldriver.Driver{
	Name:        sqldriver.Postgres,
	Parse:       parseURL,
	Open:        open,
	Unreachable: unreachable,
	Bound:       bound,
	Fault:       fault,
	Duplicate: func(err error) bool {
		pe, ok := sqldriver.ErrorAs[*pgconn.PgError](err)
		return ok && pe.Code == uniqueViolation
	},
	Retryable: func(err error) bool {
		pe, ok := sqldriver.ErrorAs[*pgconn.PgError](err)
		return ok && (pe.Code == serializationFailure || pe.Code == deadlockDetected || pe.Code == lockNotAvailable)
	},
}

// parseURL recognises postgres:// and postgresql:// URLs. sqldriver.Location.DSN
// is the URL as given; openPostgres forces the session settings.
func parseURL(raw string) (sqldriver.Location, bool, error) {
	if !strings.HasPrefix(raw, "postgres://") && !strings.HasPrefix(raw, "postgresql://") {
		return sqldriver.Location{}, false, nil
	}
	const want = " (want postgres://USER[:PASS]@HOST:PORT/DB)"
	u, err := url.Parse(raw)
	if err != nil {
		return sqldriver.Location{}, true, errBadURL
	}
	switch db := strings.TrimPrefix(u.Path, "/"); {
	case u.User == nil || u.User.Username() == "":
		return sqldriver.Location{}, true, errors.New("postgres URL has no user" + want)
	case u.Hostname() == "":
		return sqldriver.Location{}, true, errors.New("postgres URL has no host" + want)
	case db == "" || strings.Contains(db, "/"):
		return sqldriver.Location{}, true, errors.New("postgres URL needs exactly one database name" + want)
	}
	if _, err := pgx.ParseConfig(raw); err != nil {
		return sqldriver.Location{}, true, errBadURL
	}
	user := u.User.Username()
	if _, ok := u.User.Password(); ok {
		user += ":" + sqldriver.RedactedPassword
	}
	addr := net.JoinHostPort(u.Hostname(), cmp.Or(u.Port(), defaultPort))
	return sqldriver.Location{
		Driver:   sqldriver.Postgres,
		DSN:      raw,
		Redacted: "postgres://" + user + "@" + addr + u.Path,
	}, true, nil
}

func open(loc sqldriver.Location) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(loc.DSN)
	if err != nil {
		return nil, errors.New("invalid postgres URL") // ParseURL checked it; never echo it
	}
	cfg.RuntimeParams["timezone"] = timeZone
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > connectTimeout {
		cfg.ConnectTimeout = connectTimeout
	}
	if d := loc.IOTimeout; d > 0 {
		cfg.ConnectTimeout = min(cfg.ConnectTimeout, d)
		dial := cfg.DialFunc
		cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &boundedConn{Conn: c, d: d}, nil
		}
	}
	// The store writes '?' placeholders; the connector rewrites them to $n.
	db := sql.OpenDB(sqldriver.RebindConnector{Connector: stdlib.GetConnector(*cfg)})
	db.SetConnMaxLifetime(3 * time.Minute)
	db.SetMaxIdleConns(8)
	return db, nil
}

// fault names the login and database refusals.
func fault(err error) error {
	pe, ok := sqldriver.ErrorAs[*pgconn.PgError](err)
	if !ok {
		return nil
	}
	switch pe.Code {
	case invalidAuthSpec, invalidPassword:
		return sqldriver.ErrAccessDenied
	case invalidCatalogName:
		return sqldriver.ErrNoDatabase
	}
	return nil
}

// bound makes every read and write on a connection fail after d without
// progress, so a statement whose answer stops coming (a hung server, a
// black-holed path) fails instead of hanging: pgx itself only gives up
// when the caller's context ends.
func bound(loc sqldriver.Location, d time.Duration) (sqldriver.Location, error) {
	loc.IOTimeout = d
	return loc, nil
}

// boundedConn puts a deadline of now+d on each Read and Write, or the
// deadline pgx set (to cancel on a context's end), whichever is earlier.
type boundedConn struct {
	net.Conn
	d time.Duration

	mu            sync.Mutex
	read, written time.Time // pgx's own deadlines; zero: none
}

func (c *boundedConn) Read(b []byte) (int, error) {
	if err := c.arm(&c.read, c.Conn.SetReadDeadline); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *boundedConn) Write(b []byte) (int, error) {
	if err := c.arm(&c.written, c.Conn.SetWriteDeadline); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// arm sets the deadline of one direction before an I/O call.
func (c *boundedConn) arm(own *time.Time, set func(time.Time) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return set(earlier(*own, time.Now().Add(c.d)))
}

// SetDeadline, SetReadDeadline and SetWriteDeadline record pgx's own
// deadlines, so arm keeps them.
func (c *boundedConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read, c.written = t, t
	return c.Conn.SetDeadline(t)
}

func (c *boundedConn) SetReadDeadline(t time.Time) error {
	return c.record(&c.read, t, c.Conn.SetReadDeadline)
}

func (c *boundedConn) SetWriteDeadline(t time.Time) error {
	return c.record(&c.written, t, c.Conn.SetWriteDeadline)
}

func (c *boundedConn) record(own *time.Time, t time.Time, set func(time.Time) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	*own = t
	return set(t)
}

// earlier is the earlier of a (zero: none) and b.
func earlier(a, b time.Time) time.Time {
	if !a.IsZero() && a.Before(b) {
		return a
	}
	return b
}

// unreachable flattens the driver's error to text so that nothing
// reachable by errors.Unwrap can carry the password.
func unreachable(loc sqldriver.Location, err error) error {
	host, secret := "?", sqldriver.URLPassword(loc.DSN)
	if u, perr := url.Parse(loc.DSN); perr == nil {
		host = net.JoinHostPort(u.Hostname(), cmp.Or(u.Port(), defaultPort))
	}
	if f := fault(err); f != nil {
		// The server answered: not "cannot reach".
		return fmt.Errorf("%w: the server at %s answered for %s: %s", f, host, loc.Redacted, sqldriver.Redact(err.Error(), secret))
	}
	return fmt.Errorf("%w: cannot reach PostgreSQL inventory at %s (%s): %s", sqldriver.ErrUnreachable, host, loc.Redacted, sqldriver.Redact(err.Error(), secret))
}
