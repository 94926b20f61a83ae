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
	out, err := exec.Command("go", append([]string{"list", "-deps"}, consumers...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{
		"database/sql",
		"modernc.org/sqlite",
		"github.com/go-sql-driver/mysql",
		"github.com/jackc/pgx",
		"github.com/pressly/goose",
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, bad := range forbidden {
			if pkg == bad || strings.HasPrefix(pkg, bad+"/") {
				t.Errorf("a consumer of the inventory links %s", pkg)
			}
		}
	}
}
