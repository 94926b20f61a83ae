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

// setupScript gives every script a fixed actor and, when MySQL is available,
// a fresh database of its own exposed as $MYSQL_URL (an scca --db DSN).
func setupScript(t *testing.T) func(*testscript.Env) error {
	dsn := mysqlDSN(t)
	return func(e *testscript.Env) error {
		e.Setenv("SCCA_ACTOR", "tester")
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
