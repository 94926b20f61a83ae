// Package testdb gives tests throw-away inventories: a SQLite file in a
// temporary directory, or a uniquely named database on the MySQL/MariaDB
// server named by SCCA_TEST_MYSQL_DSN or the PostgreSQL server named by
// SCCA_TEST_POSTGRES_DSN, dropped when the test ends.
//
// The rule it enforces for every package: without the variable the tests of
// that server skip, except under CI=true, where they fail — CI must never
// silently skip a production database.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the admin connection
)

// EnvDSN is the environment variable holding the MySQL test server's DSN
// (go-sql-driver form, e.g. root@tcp(127.0.0.1:3306)/).
const EnvDSN = "SCCA_TEST_MYSQL_DSN"

// EnvPostgresDSN is the environment variable holding the PostgreSQL test
// server's URL (e.g. postgres://postgres@127.0.0.1:5432/postgres); the
// database it names is only used to create and drop the test databases.
const EnvPostgresDSN = "SCCA_TEST_POSTGRES_DSN"

// SQLite returns an scca --db URL for a new SQLite file in tb's temp dir.
func SQLite(tb testing.TB) string {
	return "sqlite:" + filepath.Join(tb.TempDir(), "inventory.db")
}

// AdminDSN returns the configured MySQL DSN, skipping tb when it is unset,
// or failing it when CI=true.
func AdminDSN(tb testing.TB) string {
	tb.Helper()
	return required(tb, EnvDSN, "MySQL")
}

// AdminPostgresDSN is AdminDSN for PostgreSQL.
func AdminPostgresDSN(tb testing.TB) string {
	tb.Helper()
	return required(tb, EnvPostgresDSN, "PostgreSQL")
}

func required(tb testing.TB, env, server string) string {
	tb.Helper()
	dsn := os.Getenv(env)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set and CI=true: the %s tests must run in CI", env, server)
		}
		tb.Skipf("%s not set; skipping %s tests", env, server)
	}
	return dsn
}

// Postgres creates a database named prefix_<random> on the PostgreSQL test
// server and returns an scca --db URL for it; it is dropped at cleanup.
func Postgres(tb testing.TB, prefix string) string {
	tb.Helper()
	url, drop, err := CreatePostgres(AdminPostgresDSN(tb), prefix)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})
	return url
}

// CreatePostgres is Create for PostgreSQL: adminURL is a postgres:// URL of
// any database on the server; the result is the same URL naming the new one.
func CreatePostgres(adminURL, prefix string) (string, func() error, error) {
	u, err := url.Parse(adminURL)
	if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", nil, fmt.Errorf("%s: want postgres://USER@HOST:PORT/DB", EnvPostgresDSN)
	}
	q := u.Query()
	q.Set("connect_timeout", "5")
	u.RawQuery = q.Encode()
	admin, err := sql.Open("pgx", u.String())
	if err != nil {
		return "", nil, err
	}
	name := uniqueName(prefix)
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" ENCODING 'UTF8'"); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("PostgreSQL at %s unreachable or unusable: %w", u.Host, err)
	}
	drop := func() error {
		defer admin.Close()
		// WITH (FORCE) ends sessions a failed test left open (PostgreSQL 13+).
		_, err := admin.ExecContext(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)")
		return err
	}
	u.Path = "/" + name
	u.RawQuery = ""
	return u.String(), drop, nil
}

// uniqueName is prefix_<12 random hex digits>, a valid unquoted SQL name
// when prefix is one.
func uniqueName(prefix string) string {
	suffix := make([]byte, 6)
	rand.Read(suffix)
	return prefix + "_" + hex.EncodeToString(suffix)
}

// MySQL creates a database named prefix_<random> on the test server and
// returns a DSN for it; the database is dropped at cleanup.
func MySQL(tb testing.TB, prefix string) string {
	tb.Helper()
	dsn, drop, err := Create(AdminDSN(tb), prefix)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})
	return dsn
}

// Create makes a uniquely named database on the server at adminDSN and
// returns its DSN and a function that drops it. It is the building block for
// callers without a testing.TB (the testscript setup).
func Create(adminDSN, prefix string) (string, func() error, error) {
	cfg, err := mysql.ParseDSN(adminDSN)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", EnvDSN, err)
	}
	cfg.DBName = ""
	cfg.Timeout = 5 * time.Second
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return "", nil, err
	}
	name := uniqueName(prefix)
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("MySQL at %s unreachable or unusable: %w", cfg.Addr, err)
	}
	drop := func() error {
		defer admin.Close()
		_, err := admin.ExecContext(context.Background(), "DROP DATABASE "+name)
		return err
	}
	cfg.DBName = name
	return cfg.FormatDSN(), drop, nil
}
