package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/securechat/scca/internal/testdb"
)

// TestCommandsFailWithinDBTimeout black-holes the MySQL and the PostgreSQL
// inventory through a proxy (the shared server is never stopped) and checks
// that issue, revoke, crl and list each fail within a bound of
// --db-timeout, naming the database and the timeout, and that nothing
// half-done is left.
func TestCommandsFailWithinDBTimeout(t *testing.T) {
	for _, driver := range testdb.Servers {
		t.Run(driver, func(t *testing.T) { testCommandsFailWithinDBTimeout(t, driver) })
	}
}

func testCommandsFailWithinDBTimeout(t *testing.T, driver string) {
	viaProxy, proxy := testdb.Proxied(t, testdb.Server(t, driver, "scca_deadline"))

	bin := sccaBinary(t)
	dir := filepath.Join(t.TempDir(), "certs")
	scca := func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, append([]string{"--certs-dir", dir, "--db", viaProxy, "--db-timeout", "1s"}, args...)...)
		cmd.Env = append(os.Environ(), "SCCA_ACTOR=test")
		return cmd
	}
	for _, args := range [][]string{{"init"}, {"issue", "client", "--cn", "before"}} {
		if out, err := scca(context.Background(), args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	before := dirNames(t, dir)
	proxy.Swallow()

	// The bound: the timeout, plus process start and the CA load, with a
	// wide margin for a loaded machine. Without a deadline the commands
	// hang for minutes (the driver's old 2-minute I/O timeout, or forever).
	const bound = 8 * time.Second
	for _, args := range [][]string{
		{"issue", "client", "--cn", "during"},
		{"revoke", "--yes", "--cn", "before"},
		{"crl"},
		{"list"},
	} {
		t.Run(args[0], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			out, err := scca(ctx, args...).CombinedOutput()
			took := time.Since(start)
			if err == nil {
				t.Fatalf("succeeded against a black-holed database:\n%s", out)
			}
			if took > bound {
				t.Errorf("took %s, want under %s", took.Round(time.Millisecond), bound)
			}
			msg := string(out)
			if !strings.Contains(msg, "did not answer in time") || !strings.Contains(msg, "bound 1s") || !strings.Contains(msg, proxy.Addr()) {
				t.Errorf("error does not name the database and the timeout:\n%s", msg)
			}
			t.Logf("%s failed after %s: %s", args[0], took.Round(time.Millisecond), strings.SplitN(msg, "\n", 2)[0])
		})
	}
	if got := dirNames(t, dir); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Errorf("files changed by failed commands: %v -> %v", before, got)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
