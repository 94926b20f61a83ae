package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-runewidth"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/securechat/scca/certstore/dialect/sqlite"
	"github.com/securechat/scca/internal/waitfor"
)

func TestMain(m *testing.M) {
	// The pty tests run this binary as scca itself.
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	skipRaceExitSleep()
	testscript.Main(m, map[string]func(){
		"scca": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// skipRaceExitSleep stops the race runtime of the scca processes the tests
// start (this race-built binary, run as scca) from sleeping before they
// exit: GORACE's atexit_sleep_ms defaults to 1 s, which made every command in
// a script, and every issue in the kill -9 loops, take over a second though
// it needs tens of milliseconds. The race detector stays on in the children;
// only races in the last second after main returns go unwatched there. A
// GORACE that already sets atexit_sleep_ms is left as it is.
func skipRaceExitSleep() {
	g := os.Getenv("GORACE")
	if strings.Contains(g, "atexit_sleep_ms") {
		return
	}
	os.Setenv("GORACE", strings.TrimSpace(g+" atexit_sleep_ms=0"))
}

// TestScripts runs the end-to-end CLI scenarios in testdata/script/*.txtar,
// each in its own temporary directory with the embedded SQLite inventory.
// Scripts tagged [mysql] run against SCCA_TEST_MYSQL_DSN, [postgres] against
// SCCA_TEST_POSTGRES_DSN.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:   "testdata/script",
		Setup: setupScript(t),
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "mysql":
				return os.Getenv("SCCA_TEST_MYSQL_DSN") != "", nil
			case "postgres":
				return os.Getenv("SCCA_TEST_POSTGRES_DSN") != "", nil
			case "unshare":
				return exec.Command("unshare", "-rm", "true").Run() == nil, nil
			case "nats":
				return natsReachable()
			case "cgosqlite": // one-shot commands leave the WAL (certstore.Options.ShortLived)
				return sqlite.Driver == "github.com/mattn/go-sqlite3", nil
			}
			return false, nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"freeport":   cmdFreePort,
			"waitport":   cmdWaitPort,
			"mark":       cmdMark,
			"within":     cmdWithin,
			"checkwidth": cmdCheckWidth,
			"setstdout":  cmdSetStdout,
			"rootfp":     cmdRootFingerprint,
			"waitfor":    cmdWaitFor,
		},
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
	})
}

// cmdFreePort sets the named variable to a free loopback TCP port.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := ln.Addr().(*net.TCPAddr).Port
	ts.Check(ln.Close())
	ts.Setenv(args[0], strconv.Itoa(port))
}

// cmdWaitPort waits (30 s at most) until something listens on 127.0.0.1:PORT.
func cmdWaitPort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitport PORT")
	}
	waitfor.Check(ts, waitfor.HangBound, func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+args[0], 200*time.Millisecond)
		if err != nil {
			return fmt.Errorf("waiting for something to listen on port %s: %w", args[0], err)
		}
		c.Close()
		return nil
	})
}

// cmdCheckWidth fails unless every line of the last command's stdout is at
// most N display cells wide (and there is at least one line).
func cmdCheckWidth(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: checkwidth N")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	out := strings.TrimRight(ts.ReadFile("stdout"), "\n")
	if out == "" {
		ts.Fatalf("no output to measure")
	}
	for _, l := range strings.Split(out, "\n") {
		if w := runewidth.StringWidth(l); w > n {
			ts.Fatalf("line is %d columns wide, more than %d: %q", w, n, l)
		}
	}
}
