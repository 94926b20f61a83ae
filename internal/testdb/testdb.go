// Package testdb gives tests throw-away inventories: a SQLite file in a
// temporary directory, or a uniquely named database on the MySQL/MariaDB
// server named by SCCA_TEST_MYSQL_DSN, dropped when the test ends.
//
// The rule it enforces for every package: without SCCA_TEST_MYSQL_DSN the
// MySQL tests skip, except under CI=true, where they fail — CI must never
// silently skip the production database.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// EnvDSN is the environment variable holding the test server's DSN
// (go-sql-driver form, e.g. root@tcp(127.0.0.1:3306)/).
const EnvDSN = "SCCA_TEST_MYSQL_DSN"

// SQLite returns an scca --db URL for a new SQLite file in tb's temp dir.
func SQLite(tb testing.TB) string {
	return "sqlite:" + filepath.Join(tb.TempDir(), "inventory.db")
}

// AdminDSN returns the configured DSN, skipping tb when it is unset, or
// failing it when CI=true.
func AdminDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set and CI=true: the MySQL tests must run in CI", EnvDSN)
		}
		tb.Skipf("%s not set; skipping MySQL tests", EnvDSN)
	}
	return dsn
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
	suffix := make([]byte, 6)
	rand.Read(suffix)
	name := prefix + "_" + hex.EncodeToString(suffix)
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
