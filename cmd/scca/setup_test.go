package main

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/rogpeppe/go-internal/testscript"
)

// mysqlDSN returns the test server's DSN, failing under CI=true when it is
// not configured: CI must run the MySQL scenarios, never silently skip them.
func mysqlDSN(t *testing.T) string {
	dsn := os.Getenv("SCCA_TEST_MYSQL_DSN")
	if dsn == "" && os.Getenv("CI") == "true" {
		t.Fatal("CI=true but SCCA_TEST_MYSQL_DSN is not set: the MySQL scenarios must run in CI")
	}
	return dsn
}

// setupScript gives every script a fixed actor and, when MySQL is available,
// a fresh database of its own exposed as $MYSQL_URL (an scca --db URL).
func setupScript(t *testing.T) func(*testscript.Env) error {
	dsn := mysqlDSN(t)
	return func(e *testscript.Env) error {
		e.Setenv("SCCA_ACTOR", "tester")
		if dsn == "" {
			return nil
		}
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return err
		}
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			return err
		}
		b := make([]byte, 6)
		rand.Read(b)
		name := "scca_cli_" + hex.EncodeToString(b)
		if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
			db.Close()
			return err
		}
		e.Defer(func() {
			db.Exec("DROP DATABASE " + name)
			db.Close()
		})
		cfg.DBName = name
		e.Setenv("MYSQL_URL", cfg.FormatDSN())
		e.Setenv("MYSQL_HOSTPORT", strings.TrimSpace(cfg.Addr))
		return nil
	}
}
