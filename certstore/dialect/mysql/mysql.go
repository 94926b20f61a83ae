// Package mysql links the MySQL / MariaDB driver (go-sql-driver/mysql) into
// a program and registers it with the inventory (package certstore): import
// it for its side effect to use mysql:// URLs and go-sql-driver DSNs.
package mysql

import (
	"cmp"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/securechat/scca/certstore/sqldriver"
)

func init() { sqldriver.Register(&driver) }

// errBadURL and its kin never quote the input or the parser's message: a
// password holding '/', '?' or '#' moves the parser's idea of where the
// password ends, so any fragment it echoes may be part of it.
var (
	errBadURL = errors.New("invalid mysql URL (not shown: it may contain a password); " +
		"percent-encode '/', '?', '#', '@', ':' and '%' in the user name and password, e.g. '/' as %2F")
	errBadParams = errors.New("invalid mysql URL parameters (not shown: the URL may contain a password)")
	errBadDSN    = errors.New("invalid mysql DSN (not shown: it may contain a password); want USER[:PASS]@tcp(HOST:PORT)/DB")
)

// MySQL server error numbers translated at the boundary.
const (
	errDupEntry = 1062 // ER_DUP_ENTRY
	errLockWait = 1205 // ER_LOCK_WAIT_TIMEOUT
	errDeadlock = 1213 // ER_LOCK_DEADLOCK
)

var driver = sqldriver.Driver{
	Name:        sqldriver.MySQL,
	Parse:       parse,
	Open:        open,
	Unreachable: unreachable,
	Duplicate: func(err error) bool {
		me, ok := sqldriver.ErrorAs[*gomysql.MySQLError](err)
		return ok && me.Number == errDupEntry
	},
	Retryable: func(err error) bool {
		me, ok := sqldriver.ErrorAs[*gomysql.MySQLError](err)
		return ok && (me.Number == errDeadlock || me.Number == errLockWait)
	},
	Fault: fault,
	Bound: bound,
}

// MySQL server errors about the login and the database.
const (
	errAccessDenied   = 1045 // ER_ACCESS_DENIED_ERROR
	errDBAccessDenied = 1044 // ER_DBACCESS_DENIED_ERROR
	errBadDB          = 1049 // ER_BAD_DB_ERROR
)

// fault names the login and database refusals, and a connection the
// driver gave up on because it stopped answering (it reports a read
// timeout as an invalid connection).
func fault(err error) error {
	if me, ok := sqldriver.ErrorAs[*gomysql.MySQLError](err); ok {
		switch me.Number {
		case errAccessDenied:
			return sqldriver.ErrAccessDenied
		case errDBAccessDenied, errBadDB:
			return sqldriver.ErrNoDatabase
		}
		return nil
	}
	if errors.Is(err, gomysql.ErrInvalidConn) {
		return sqldriver.ErrTimeout
	}
	return nil
}

// bound sets the dial, read and write timeouts, so a statement whose answer
// stops coming fails after d instead of hanging.
func bound(loc sqldriver.Location, d time.Duration) (sqldriver.Location, error) {
	cfg, err := gomysql.ParseDSN(loc.DSN)
	if err != nil {
		return loc, errors.New("invalid mysql DSN") // never echo it
	}
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = d, d, d
	loc.DSN = cfg.FormatDSN()
	return loc, nil
}

// parse recognises mysql:// URLs and go-sql-driver DSNs.
func parse(raw string) (sqldriver.Location, bool, error) {
	switch {
	case strings.HasPrefix(raw, "mysql://"):
		loc, err := parseURL(raw)
		return loc, true, err
	case strings.Contains(raw, "@tcp(") || strings.Contains(raw, "@unix(") || strings.Contains(raw, "@/"):
		loc, err := parseDSN(raw)
		return loc, true, err
	}
	return sqldriver.Location{}, false, nil
}

func open(loc sqldriver.Location) (*sql.DB, error) {
	cfg, err := gomysql.ParseDSN(loc.DSN)
	if err != nil {
		return nil, errors.New("invalid mysql DSN") // ParseURL built it; never echo it
	}
	// The driver logs some network errors itself; a library must not print.
	cfg.Logger = log.New(io.Discard, "", 0)
	conn, err := gomysql.NewConnector(cfg)
	if err != nil {
		return nil, errors.New("invalid mysql configuration")
	}
	db := sql.OpenDB(conn)
	// Servers and proxies drop idle connections; recycle before they do.
	db.SetConnMaxLifetime(3 * time.Minute)
	db.SetMaxIdleConns(8)
	return db, nil
}

// unreachable flattens the driver's error to text so that nothing
// reachable by errors.Unwrap can carry the password.
func unreachable(loc sqldriver.Location, err error) error {
	host, secret := "?", ""
	if cfg, perr := gomysql.ParseDSN(loc.DSN); perr == nil {
		host, secret = cfg.Addr, cfg.Passwd
	}
	if f := fault(err); f == sqldriver.ErrAccessDenied || f == sqldriver.ErrNoDatabase {
		// The server answered: not "cannot reach".
		return fmt.Errorf("%w: the server at %s answered for %s: %s", f, host, loc.Redacted, sqldriver.Redact(err.Error(), secret))
	}
	return fmt.Errorf("%w: cannot reach MySQL inventory at %s (%s): %s", sqldriver.ErrUnreachable, host, loc.Redacted, sqldriver.Redact(err.Error(), secret))
}

// Connection settings forced on every MySQL session, whatever the user's
// DSN says: the inventory relies on UTC DATETIMEs and on the server refusing
// bad data (strict mode) instead of silently truncating it.
const (
	mysqlSQLMode        = "'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'"
	mysqlTimeZone       = "'+00:00'"
	mysqlConnectTimeout = 5 * time.Second
	mysqlIOTimeout      = 2 * time.Minute
	mysqlDefaultPort    = "3306"
)

func parseURL(raw string) (sqldriver.Location, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return sqldriver.Location{}, errBadURL
	}
	if u.User == nil || u.User.Username() == "" {
		return sqldriver.Location{}, errors.New("mysql URL has no user (want mysql://USER[:PASS]@HOST:PORT/DB)")
	}
	if u.Hostname() == "" {
		return sqldriver.Location{}, errors.New("mysql URL has no host (want mysql://USER[:PASS]@HOST:PORT/DB)")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return sqldriver.Location{}, errors.New("mysql URL needs exactly one database name (want mysql://USER[:PASS]@HOST:PORT/DB)")
	}
	cfg := gomysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(u.Hostname(), cmp.Or(u.Port(), mysqlDefaultPort))
	cfg.DBName = db
	if u.RawQuery != "" {
		// Let the driver parse and validate the extra parameters by
		// round-tripping them through its own DSN syntax.
		parsed, err := gomysql.ParseDSN("/?" + u.RawQuery)
		if err != nil {
			return sqldriver.Location{}, errBadParams
		}
		parsed.User, parsed.Passwd, parsed.Net, parsed.Addr, parsed.DBName = cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName
		cfg = parsed
	}
	return location(cfg, true), nil
}

func parseDSN(raw string) (sqldriver.Location, error) {
	cfg, err := gomysql.ParseDSN(raw)
	if err != nil {
		return sqldriver.Location{}, errBadDSN
	}
	if cfg.DBName == "" {
		return sqldriver.Location{}, errors.New("mysql DSN has no database name (want USER@tcp(HOST:PORT)/DB)")
	}
	return location(cfg, false), nil
}

// mysqlLocation forces the session settings the store depends on.
func location(cfg *gomysql.Config, urlForm bool) sqldriver.Location {
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	// Placeholders are interpolated client-side (safe with utf8mb4), saving
	// a prepare/close round trip per statement.
	cfg.InterpolateParams = true
	if cfg.Timeout == 0 || cfg.Timeout > mysqlConnectTimeout {
		cfg.Timeout = mysqlConnectTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = mysqlIOTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = mysqlIOTimeout
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = mysqlTimeZone
	cfg.Params["sql_mode"] = mysqlSQLMode

	user := cfg.User
	if cfg.Passwd != "" {
		user += ":" + sqldriver.RedactedPassword
	}
	red := user + "@" + cfg.Net + "(" + cfg.Addr + ")/" + cfg.DBName
	if urlForm {
		red = "mysql://" + user + "@" + cfg.Addr + "/" + cfg.DBName
	}
	return sqldriver.Location{Driver: sqldriver.MySQL, DSN: cfg.FormatDSN(), Redacted: red}
}
