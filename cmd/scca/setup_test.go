package main

import (
	"os"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/securechat/scca/internal/testdb"
)

// mysqlDSN returns the test server's DSN, failing under CI=true when it is
// not configured: CI must run the MySQL scenarios, never silently skip them.
func mysqlDSN(t *testing.T) string {
	dsn := os.Getenv(testdb.EnvDSN)
	if dsn == "" && os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but %s is not set: the MySQL scenarios must run in CI", testdb.EnvDSN)
	}
	return dsn
}

// postgresDSN is mysqlDSN for PostgreSQL.
func postgresDSN(t *testing.T) string {
	dsn := os.Getenv(testdb.EnvPostgresDSN)
	if dsn == "" && os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but %s is not set: the PostgreSQL scenarios must run in CI", testdb.EnvPostgresDSN)
	}
	return dsn
}

// setupScript gives every script a fixed actor and, when MySQL is available,
// a fresh database of its own exposed as $MYSQL_URL (an scca --db DSN), and
// when PostgreSQL is, one exposed as $POSTGRES_URL.
func setupScript(t *testing.T) func(*testscript.Env) error {
	dsn, pgDSN := mysqlDSN(t), postgresDSN(t)
	return func(e *testscript.Env) error {
		e.Setenv("SCCA_ACTOR", "tester")
		if pgDSN != "" {
			url, drop, err := testdb.CreatePostgres(pgDSN, "scca_cli")
			if err != nil {
				return err
			}
			e.Defer(func() { drop() })
			e.Setenv("POSTGRES_URL", url)
		}
		if dsn == "" {
			return nil
		}
		url, drop, err := testdb.Create(dsn, "scca_cli")
		if err != nil {
			return err
		}
		e.Defer(func() { drop() })
		cfg, err := mysql.ParseDSN(url)
		if err != nil {
			return err
		}
		e.Setenv("MYSQL_URL", url)
		e.Setenv("MYSQL_HOSTPORT", strings.TrimSpace(cfg.Addr))
		return nil
	}
}
