package inventory

import (
	"os/exec"
	"strings"
	"testing"
)

// TestConsumersLinkNoSQL guards the seam this package exists for: the
// packages that use an inventory must not pull in a SQL driver, database/sql
// or the migration tool just to name a record type or a sentinel error.
func TestConsumersLinkNoSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	consumers := []string{
		"github.com/securechat/scca/inventory",
		"github.com/securechat/scca/ca",
		"github.com/securechat/scca/chat",
		"github.com/securechat/scca/revocation",
	}
	linked := deps(t, consumers...)
	for _, bad := range append([]string{"database/sql", "github.com/pressly/goose"}, sqlDrivers...) {
		if pkg := linksAny(linked, bad); pkg != "" {
			t.Errorf("a consumer of the inventory links %s", pkg)
		}
	}
}

// sqlDrivers are the SQL drivers' import paths (prefixes).
// The SQLite one is go-sqlite3 in a cgo build and modernc's without cgo.
var sqlDrivers = []string{"modernc.org/sqlite", "github.com/mattn/go-sqlite3", "github.com/go-sql-driver/mysql", "github.com/jackc/pgx"}

// TestStoreLinksNoDriver: the SQL implementation of the inventory links no
// driver either; a program links those it imports from
// certstore/dialect/..., as cmd/scca does (and that it does is checked too).
func TestStoreLinksNoDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	store := deps(t, "github.com/securechat/scca/certstore", "github.com/securechat/scca/certstore/sqldriver")
	for _, bad := range sqlDrivers {
		if pkg := linksAny(store, bad); pkg != "" {
			t.Errorf("certstore links %s", pkg)
		}
	}
	cli := deps(t, "github.com/securechat/scca/cmd/scca")
	for _, want := range [][]string{{"modernc.org/sqlite", "github.com/mattn/go-sqlite3"},
		{"github.com/go-sql-driver/mysql"}, {"github.com/jackc/pgx"}} {
		n := 0
		for _, pkg := range want {
			if linksAny(cli, pkg) != "" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("cmd/scca links %d of %v, want exactly one", n, want)
		}
	}
}

// deps lists the packages pkgs link, themselves included.
func deps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

// linksAny returns the first of pkgs that is prefix or below it, or "".
func linksAny(pkgs []string, prefix string) string {
	for _, pkg := range pkgs {
		if pkg == prefix || strings.HasPrefix(pkg, prefix+"/") {
			return pkg
		}
	}
	return ""
}
