package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/internal/atomicfile"
	"github.com/securechat/scca/internal/testdb"
)

// sccaBinary returns a path that runs this test binary as scca (see
// TestMain), so tests can start, kill and signal real scca processes.
func sccaBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "scca")
	if err := os.Symlink(exe, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// sccaOn makes scca commands (bin, as from sccaBinary) on the
// certificate directory dir and the inventory db, acting as "test".
func sccaOn(bin, dir, db string) func(args ...string) *exec.Cmd {
	return func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"--certs-dir", dir, "--db", db}, args...)...)
		cmd.Env = append(os.Environ(), "SCCA_ACTOR=test")
		return cmd
	}
}

// killLoops is how many issue processes the kill -9 test kills per store;
// SCCA_KILL_LOOPS raises it for the figures in the README.
func killLoops() int {
	if n, err := strconv.Atoi(os.Getenv("SCCA_KILL_LOOPS")); err == nil && n > 0 {
		return n
	}
	return 40
}

// TestIssueKill9LeavesNoOrphan kills `scca issue` with SIGKILL at random
// points of its run, then checks that `scca doctor --repair` (and already
// each next issue) leaves every inventory row with its files, no file
// without a row, no journal and no temporary file, and that re-issuing a
// crashed name never yields a second active certificate.
func TestIssueKill9LeavesNoOrphan(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { runKillLoop(t, testdb.SQLite(t)) })
	for _, driver := range testdb.Servers {
		t.Run(driver, func(t *testing.T) { runKillLoop(t, testdb.Server(t, driver, "scca_kill")) })
	}
}

func runKillLoop(t *testing.T, db string) {
	bin := sccaBinary(t)
	dir := filepath.Join(t.TempDir(), "certs")
	scca := sccaOn(bin, dir, db)
	if out, err := scca("init").CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	// One full issue sets the scale of the random kill times.
	start := time.Now()
	if out, err := scca("issue", "client", "--cn", "warmup").CombinedOutput(); err != nil {
		t.Fatalf("issue: %v\n%s", err, out)
	}
	span := time.Since(start)
	loops := killLoops()
	var orphansBefore int
	for i := range loops {
		cmd := scca("issue", "client", "--cn", "k"+strconv.Itoa(i))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// A random point in the process's life, from exec to exit; the
		// kill is the fault injected, not a wait for anything.
		time.Sleep(time.Duration(rand.Int64N(int64(span + span/4))))
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if i%10 == 9 {
			orphansBefore += len(orphans(t, dir, db, loops))
		}
	}
	rows := activeRows(t, db, loops)
	orphansBefore += len(orphans(t, dir, db, loops))
	// Every scca process is dead now, so no temporary file can belong to a
	// live writer: the minute's grace for unjournaled ones (the audit
	// anchor, CRLs) is not needed.
	out, err := scca("doctor", "--repair", "--stale-after", "1ns").CombinedOutput()
	if err != nil {
		t.Fatalf("doctor --repair: %v\n%s", err, out)
	}
	out, err = scca("doctor").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "no interrupted issuance") {
		t.Errorf("doctor after repair: %v\n%s", err, out)
	}
	if o := orphans(t, dir, db, loops); len(o) > 0 {
		t.Errorf("after doctor --repair: %d orphans: %v", len(o), o)
	}
	checkNoTemps(t, dir)
	// Re-issuing a name whose issuance was interrupted after its commit
	// must be refused (its files exist), never a second active row.
	for cn := range rows {
		var stderr bytes.Buffer
		cmd := scca("issue", "client", "--cn", cn)
		cmd.Stderr = &stderr
		if cmd.Run() == nil {
			t.Errorf("re-issue of %s after its crash succeeded", cn)
		}
	}
	for cn, n := range activeRows(t, db, loops) {
		if n > 1 {
			t.Errorf("%s has %d active certificates", cn, n)
		}
	}
	t.Logf("%d kills, %d rows committed, orphaned rows seen before recovery (summed over checks): %d, after doctor: 0",
		loops, len(rows), orphansBefore)
}

// activeRows counts active rows per crashed name.
func activeRows(t *testing.T, db string, loops int) map[string]int {
	t.Helper()
	st, err := certstore.Open(context.Background(), db, certstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows := map[string]int{}
	for i := range loops {
		cn := "k" + strconv.Itoa(i)
		recs, err := st.FindByCN(context.Background(), cn)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Status == certstore.StatusActive {
				rows[cn]++
			}
		}
	}
	return rows
}

// orphans lists active rows without their certificate and key files, and
// files without a row.
func orphans(t *testing.T, dir, db string, loops int) []string {
	t.Helper()
	rows := activeRows(t, db, loops)
	var out []string
	for i := range loops {
		cn := "k" + strconv.Itoa(i)
		for _, f := range []string{cn + "_cert.pem", cn + "_key.pem"} {
			_, err := os.Stat(filepath.Join(dir, f))
			if rows[cn] > 0 && err != nil {
				out = append(out, "row without "+f)
			}
			if rows[cn] == 0 && err == nil {
				out = append(out, f+" without a row")
			}
		}
	}
	return out
}

func checkNoTemps(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if atomicfile.IsTemp(e.Name()) || strings.HasPrefix(e.Name(), ".scca-pending-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
