// Command scca is the SecureChat certificate authority: it creates a CA,
// issues and revokes certificates, keeps every certificate in an inventory
// (embedded SQLite by default, MySQL/MariaDB in production), publishes CRLs,
// answers OCSP, and runs the SecureChat server and client.
//
// This package is glue: each command binds its flags through viper, makes one
// library call and prints the result. All behaviour lives in the ca,
// certstore, revocation and chat packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/securechat/scca/chat"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one scca invocation and returns its exit code. It is separate
// from main so the testscript tests can run scca in-process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit *exitError
	if errors.As(err, &exit) {
		if exit.msg != "" {
			fmt.Fprintf(stderr, "scca: %s\n", exit.msg)
		}
		return exit.code
	}
	err = e.explainTimeout(err)
	// Errors may quote what a peer sent (a chat server's reason, a
	// certificate's name): printed inert, on one line.
	fmt.Fprintf(stderr, "scca: %s\n", chat.EscapeLine(err.Error()))
	if h := hintFor(err); h != "" {
		fmt.Fprintf(stderr, "scca: hint: %s\n", h)
	}
	return 1
}

// exitError carries a specific exit code (for example `scca crl status`
// reporting a stale CRL) without printing the error twice.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
