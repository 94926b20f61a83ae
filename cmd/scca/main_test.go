package main

import (
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"scca": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
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
			case "nats":
				return natsReachable()
			}
			return false, nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"freeport":  cmdFreePort,
			"waitport":  cmdWaitPort,
			"mark":      cmdMark,
			"within":    cmdWithin,
			"setstdout": cmdSetStdout,
			"rootfp":    cmdRootFingerprint,
			"waitfor":   cmdWaitFor,
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

// cmdWaitPort waits up to 10 s until something listens on 127.0.0.1:PORT.
func cmdWaitPort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitport PORT")
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+args[0], 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("nothing listens on port %s after 10s", args[0])
}
