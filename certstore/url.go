package certstore

import (
	"cmp"
	"errors"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// errBadMySQLURL and its kin never quote the input or the parser's message:
// a password holding '/', '?' or '#' moves the parser's idea of where the
// password ends, so any fragment it echoes may be part of it.
var (
	errBadMySQLURL = errors.New("invalid mysql URL (not shown: it may contain a password); " +
		"percent-encode '/', '?', '#', '@', ':' and '%' in the user name and password, e.g. '/' as %2F")
	errBadMySQLParams = errors.New("invalid mysql URL parameters (not shown: the URL may contain a password)")
	errBadMySQLDSN    = errors.New("invalid mysql DSN (not shown: it may contain a password); want USER[:PASS]@tcp(HOST:PORT)/DB")
	errBadPostgresURL = errors.New("invalid postgres URL (not shown: it may contain a password); " +
		"percent-encode '/', '?', '#', '@', ':' and '%' in the user name and password, e.g. '/' as %2F")
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

// Location says where the inventory lives. DSN is what the driver needs and
// may contain a password; Redacted is safe to print and log.
type Location struct {
	Driver   string
	DSN      string
	Redacted string
	Path     string // the database file, for SQLite; empty for MySQL
}

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

// urlPassword extracts what would be the password of a mysql:// or
// postgres:// URL, even a malformed one, so that error messages can be
// scrubbed of it.
func urlPassword(raw string) string {
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

// redact removes every NUL-separated secret from msg.
func redact(msg, secrets string) string {
	for _, s := range strings.Split(secrets, "\x00") {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, redactedPassword)
		}
	}
	return msg
}
