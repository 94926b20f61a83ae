package certstore

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Driver names accepted in Location.Driver (they are also the database/sql
// driver names registered by modernc.org/sqlite and go-sql-driver/mysql).
const (
	DriverSQLite = "sqlite"
	DriverMySQL  = "mysql"
)

// redactedPassword replaces the password in Location.Redacted and in errors.
const redactedPassword = "xxxxx"

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

// sqlitePragmas are applied by modernc.org/sqlite on every new connection.
// busy_timeout makes a writer wait for another process's transaction instead
// of failing with SQLITE_BUSY; WAL lets readers run beside the one writer;
// _txlock=immediate makes every transaction BEGIN IMMEDIATE, so the write
// lock is taken up front and read-then-write transactions cannot deadlock.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
	"&_pragma=foreign_keys(on)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// Location says where the inventory lives. DSN is what the driver needs and
// may contain a password; Redacted is safe to print and log.
type Location struct {
	Driver   string
	DSN      string
	Redacted string
	Path     string // the database file, for SQLite; empty for MySQL
}

// ParseURL understands three forms:
//
//	sqlite:PATH                                  (sqlite:///abs/path also works)
//	mysql://USER[:PASS]@HOST[:PORT]/DBNAME[?params]
//	USER[:PASS]@tcp(HOST:PORT)/DBNAME[?params]   (a go-sql-driver DSN)
//
// For MySQL it forces parseTime, UTC, a '+00:00' session time zone, strict
// sql_mode and a 5s connect timeout. Neither the result's Redacted field nor
// any error contains the password.
func ParseURL(raw string) (Location, error) {
	switch {
	case strings.HasPrefix(raw, "sqlite:"):
		return parseSQLiteURL(strings.TrimPrefix(raw, "sqlite:"))
	case strings.HasPrefix(raw, "mysql://"):
		return parseMySQLURL(raw)
	case strings.Contains(raw, "@tcp(") || strings.Contains(raw, "@unix(") || strings.Contains(raw, "@/"):
		return parseMySQLDSN(raw)
	case raw == "":
		return Location{}, errors.New("empty database URL (want sqlite:PATH or mysql://USER@HOST:PORT/DB)")
	default:
		return Location{}, errors.New("unrecognised database URL (want sqlite:PATH, mysql://USER@HOST:PORT/DB or USER@tcp(HOST:PORT)/DB)")
	}
}

func parseSQLiteURL(path string) (Location, error) {
	if p, ok := strings.CutPrefix(path, "//"); ok {
		path = p // sqlite:///abs/path → /abs/path
	}
	if path == "" {
		return Location{}, errors.New("sqlite URL has no file path (want sqlite:PATH)")
	}
	// modernc.org/sqlite splits its DSN at the first '?', so a path holding
	// one cannot be expressed.
	if strings.ContainsAny(path, "?#") {
		return Location{}, fmt.Errorf("sqlite path %q must not contain '?' or '#'", path)
	}
	return Location{
		Driver:   DriverSQLite,
		DSN:      path + "?" + sqlitePragmas,
		Redacted: "sqlite:" + path,
		Path:     path,
	}, nil
}

// errBadMySQLURL and errBadMySQLDSN never quote the input or the parser's
// message: a password holding '/', '?' or '#' moves the parser's idea of
// where the password ends, so any fragment it echoes may be part of it.
var (
	errBadMySQLURL = errors.New("invalid mysql URL (not shown: it may contain a password); " +
		"percent-encode '/', '?', '#', '@', ':' and '%' in the user name and password, e.g. '/' as %2F")
	errBadMySQLParams = errors.New("invalid mysql URL parameters (not shown: the URL may contain a password)")
	errBadMySQLDSN    = errors.New("invalid mysql DSN (not shown: it may contain a password); want USER[:PASS]@tcp(HOST:PORT)/DB")
)

func parseMySQLURL(raw string) (Location, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Location{}, errBadMySQLURL
	}
	if u.User == nil || u.User.Username() == "" {
		return Location{}, errors.New("mysql URL has no user (want mysql://USER[:PASS]@HOST:PORT/DB)")
	}
	if u.Hostname() == "" {
		return Location{}, errors.New("mysql URL has no host (want mysql://USER[:PASS]@HOST:PORT/DB)")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return Location{}, errors.New("mysql URL needs exactly one database name (want mysql://USER[:PASS]@HOST:PORT/DB)")
	}
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(u.Hostname(), cmp.Or(u.Port(), mysqlDefaultPort))
	cfg.DBName = db
	if u.RawQuery != "" {
		// Let the driver parse and validate the extra parameters by
		// round-tripping them through its own DSN syntax.
		parsed, err := mysql.ParseDSN("/?" + u.RawQuery)
		if err != nil {
			return Location{}, errBadMySQLParams
		}
		parsed.User, parsed.Passwd, parsed.Net, parsed.Addr, parsed.DBName = cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName
		cfg = parsed
	}
	return mysqlLocation(cfg, true), nil
}

func parseMySQLDSN(raw string) (Location, error) {
	cfg, err := mysql.ParseDSN(raw)
	if err != nil {
		return Location{}, errBadMySQLDSN
	}
	if cfg.DBName == "" {
		return Location{}, errors.New("mysql DSN has no database name (want USER@tcp(HOST:PORT)/DB)")
	}
	return mysqlLocation(cfg, false), nil
}

// mysqlLocation forces the session settings the store depends on.
func mysqlLocation(cfg *mysql.Config, urlForm bool) Location {
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
		user += ":" + redactedPassword
	}
	red := user + "@" + cfg.Net + "(" + cfg.Addr + ")/" + cfg.DBName
	if urlForm {
		red = "mysql://" + user + "@" + cfg.Addr + "/" + cfg.DBName
	}
	return Location{Driver: DriverMySQL, DSN: cfg.FormatDSN(), Redacted: red}
}

// redact removes every NUL-separated secret from msg.
func redact(msg, secrets string) string {
	for _, s := range strings.Split(secrets, "\x00") {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, redactedPassword)
		}
	}
	return msg
}
