package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"scca": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the end-to-end CLI scenarios in testdata/script/*.txtar,
// each in its own temporary directory with the embedded SQLite inventory.
// Scripts tagged [mysql] run against SCCA_TEST_MYSQL_DSN.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:   "testdata/script",
		Setup: setupScript(t),
		Condition: func(cond string) (bool, error) {
			if cond == "mysql" {
				return os.Getenv("SCCA_TEST_MYSQL_DSN") != "", nil
			}
			return false, nil
		},
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
	})
}
