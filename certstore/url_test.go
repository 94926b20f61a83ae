package certstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/securechat/scca/certstore/sqldriver"
)

const secret = "s3cr3t-Pa55"

func TestParseURL(t *testing.T) {
	cases := []struct {
		in       string
		driver   string
		redacted string
		dsn      string // expected prefix of the DSN
		addr     string // MySQL address
		db       string
	}{
		{in: "sqlite:scca.db", driver: "sqlite", redacted: "sqlite:scca.db", dsn: "scca.db?_"},
		{in: "sqlite:///var/lib/scca/inv.db", driver: "sqlite", redacted: "sqlite:/var/lib/scca/inv.db", dsn: "/var/lib/scca/inv.db?"},
		{in: "mysql://scca:" + secret + "@db.example:3307/inventory?tls=skip-verify", driver: "mysql",
			redacted: "mysql://scca:xxxxx@db.example:3307/inventory", addr: "db.example:3307", db: "inventory"},
		{in: "mysql://scca@db.example/inventory", driver: "mysql",
			redacted: "mysql://scca@db.example:3306/inventory", addr: "db.example:3306", db: "inventory"},
		{in: "mysql://scca:p%40ss%2F" + secret + "@[::1]:3306/inv", driver: "mysql",
			redacted: "mysql://scca:xxxxx@[::1]:3306/inv", addr: "[::1]:3306", db: "inv"},
		{in: "scca:" + secret + "@tcp(10.0.0.5:3306)/inventory?sql_mode=ANSI&loc=Local&parseTime=false", driver: "mysql",
			redacted: "scca:xxxxx@tcp(10.0.0.5:3306)/inventory", addr: "10.0.0.5:3306", db: "inventory"},
	}
	for _, c := range cases {
		t.Run(c.redacted, func(t *testing.T) {
			loc, err := ParseURL(c.in)
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if loc.Driver != c.driver || loc.Redacted != c.redacted {
				t.Errorf("got driver %q redacted %q; want %q %q", loc.Driver, loc.Redacted, c.driver, c.redacted)
			}
			if strings.Contains(loc.Redacted, secret) {
				t.Errorf("Redacted %q leaks the password", loc.Redacted)
			}
			if c.driver == "sqlite" {
				if !strings.HasPrefix(loc.DSN, c.dsn) || !strings.Contains(loc.DSN, "_txlock=immediate") ||
					!strings.Contains(loc.DSN, "WAL") { // the pragmas themselves: TestSQLiteCommitsAreDurable
					t.Errorf("DSN %q", loc.DSN)
				}
				return
			}
			checkForcedMySQL(t, loc.DSN, c.addr, c.db)
		})
	}
}

// checkForcedMySQL checks the settings the store relies on survived
// whatever the user's DSN asked for.
func checkForcedMySQL(t *testing.T, dsn, addr, db string) {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("DSN does not parse: %v", err)
	}
	if cfg.Addr != addr || cfg.DBName != db {
		t.Errorf("addr %q db %q; want %q %q", cfg.Addr, cfg.DBName, addr, db)
	}
	if !cfg.ParseTime || cfg.Loc != time.UTC || cfg.Timeout != 5*time.Second {
		t.Errorf("parseTime %v loc %v timeout %v; want true UTC 5s", cfg.ParseTime, cfg.Loc, cfg.Timeout)
	}
	if cfg.Params["time_zone"] != "'+00:00'" || !strings.Contains(cfg.Params["sql_mode"], "STRICT_ALL_TABLES") {
		t.Errorf("params %v; want UTC session and strict sql_mode", cfg.Params)
	}
}

func TestParseURLErrorsHidePassword(t *testing.T) {
	bad := []string{
		"",
		"postgresql://u:" + secret + "@h:5432/",
		"postgres://:" + secret + "@h:5432/db",
		"postgres://u:" + secret + "@h:port/db",
		"postgres://u:" + secret + "@h:5432/db?connect_timeout=soon",
		"postgres://u:" + secret + "@%zz:5432/db",
		"oracle://u:" + secret + "@h/db",
		"sqlite:",
		"sqlite:inv.db?mode=ro",
		"mysql://u:" + secret + "@h:port/db",
		"mysql://u:" + secret + "@h:3306/",
		"mysql://:" + secret + "@h:3306/db",
		"mysql://u:" + secret + "@h:3306/db?timeout=soon",
		"mysql://u:" + secret + "@%zz:3306/db",
		"u:" + secret + "@tcp(h:3306)/",
		"u:" + secret + "@tcp(h:3306)/db?parseTime=maybe",
		"u:" + secret + "@tcp(h:3306/db",
	}
	for _, in := range bad {
		_, err := ParseURL(in)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded", sqldriver.Redact(in, secret))
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func TestOpenUnreachableMySQLFailsFastWithoutPassword(t *testing.T) {
	// Port 1 on loopback refuses connections at once.
	start := time.Now()
	_, err := Open(context.Background(), "mysql://scca:"+secret+"@127.0.0.1:1/inventory", Options{})
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	msg := err.Error()
	if strings.Contains(msg, secret) || !strings.Contains(msg, "127.0.0.1:1") || !errors.Is(err, ErrUnreachable) {
		t.Errorf("error %q: want host and ErrUnreachable, no password", msg)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Open took %v to fail", d)
	}
}

func TestOpenSQLiteMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "inv.db")
	_, err := Open(context.Background(), "sqlite:"+path, Options{})
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("Open in a missing directory = %v, want ErrUnreachable", err)
	}
}

func TestParsePostgresURL(t *testing.T) {
	for _, c := range []struct{ in, redacted string }{
		{"postgres://scca:" + secret + "@db.example:5433/inventory?sslmode=disable", "postgres://scca:xxxxx@db.example:5433/inventory"},
		{"postgresql://scca@db.example/inventory", "postgres://scca@db.example:5432/inventory"},
	} {
		loc, err := ParseURL(c.in)
		if err != nil {
			t.Fatalf("ParseURL: %v", err)
		}
		if loc.Driver != DriverPostgres || loc.Redacted != c.redacted || loc.DSN != c.in {
			t.Errorf("ParseURL = %+v; want driver postgres, redacted %q", loc, c.redacted)
		}
	}
}

func TestOpenUnreachablePostgresFailsFastWithoutPassword(t *testing.T) {
	start := time.Now()
	_, err := Open(context.Background(), "postgres://scca:"+secret+"@127.0.0.1:1/inventory", Options{})
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	if msg := err.Error(); strings.Contains(msg, secret) || !strings.Contains(msg, "127.0.0.1:1") || !errors.Is(err, ErrUnreachable) {
		t.Errorf("error %q: want host and ErrUnreachable, no password", msg)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Open took %v to fail", d)
	}
}

// TestParseURLErrorsShowNoFragment: a password holding a character the URL
// or DSN syntax gives a meaning ('/', '?', '#', '@', '%', '(') shifts where
// the parser thinks it ends; no part of it may appear in the error.
func TestParseURLErrorsShowNoFragment(t *testing.T) {
	fragments := []string{"Qx9Z", "Jv7K"} // the two halves of every password below
	bad := []string{
		"mysql://u:Qx9Z/Jv7K@h/db",
		"mysql://u:Qx9Z?Jv7K@h/db",
		"mysql://u:Qx9Z#Jv7K@h/db",
		"mysql://u:Qx9Z%Jv7K@h/db",
		"mysql://u:Qx9Z/Jv7K@h/db?x=1",
		"mysql://u:Qx9Z@h/db?timeout=Jv7K",
		"u:Qx9Z(Jv7K@tcp(h:3306/db",
		"u:Qx9Z@tcp(h:3306)/db?parseTime=Jv7K",
		"postgres://u:Qx9Z/Jv7K@h/db",
		"postgres://u:Qx9Z?Jv7K@h/db",
		"postgres://u:Qx9Z%Jv7K@h/db",
		"postgres://u:Qx9Z@h/db?connect_timeout=Jv7K",
	}
	for _, in := range bad {
		_, err := ParseURL(in)
		if err == nil {
			t.Errorf("ParseURL of a malformed URL succeeded")
			continue
		}
		for _, f := range fragments {
			if strings.Contains(err.Error(), f) {
				t.Errorf("error for a malformed URL echoes %q: %v", f, err)
			}
		}
	}
}

func TestSQLiteFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022) // the common default, under which SQLite alone makes 0644 files
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "elsewhere", "inv.db")
	if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	s := openAt(t, "sqlite:"+path, nil)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, s, testRecord(1, time.Now()))
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}
