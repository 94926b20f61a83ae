package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

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
		e.Setenv("NATS_URL", natsURL())
		// Each script its own cluster on the shared NATS.
		e.Setenv("NATS_PREFIX", fmt.Sprintf("scca.cli%d", time.Now().UnixNano()))
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

// natsURL is the NATS server of the cluster scripts (SCCA_TEST_NATS_URL).
func natsURL() string {
	if u := os.Getenv("SCCA_TEST_NATS_URL"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

// natsReachable is the [nats] condition: under CI=true an unreachable NATS
// is an error, so CI never silently skips the cluster scripts.
func natsReachable() (bool, error) {
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(natsURL(), "nats://"), 2*time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			return false, fmt.Errorf("NATS at %s unreachable and CI=true: %w", natsURL(), err)
		}
		return false, nil
	}
	c.Close()
	return true, nil
}
