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
	"strings"
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
			fmt.Fprintf(stderr, "scca: %s\n", printable(exit.msg))
		}
		return exit.code
	}
	err = e.explain(err)
	fmt.Fprintf(stderr, "scca: %s\n", printable(err.Error()))
	if h := hintFor(err); h != "" {
		fmt.Fprintf(stderr, "scca: hint: %s\n", printable(h))
	}
	return 1
}

// errIndent starts each further line of a multi-line error, so no line of
// it can pose as one of scca's own ("scca: hint: ...").
const errIndent = "  "

// printable is an error's text as it is printed after "scca: ". Errors may
// quote what a peer sent (a chat server's reason, a certificate's name), so
// every character a terminal would act on is made inert (chat.EscapeLine),
// except the line breaks and tabs some libraries format their messages with
// (cobra's "Did you mean this?", pgx's one line per address tried): a line
// feed starts a new line indented by errIndent, empty lines are left out,
// and a tab is shown as two spaces.
func printable(msg string) string {
	msg = strings.ReplaceAll(msg, "\r\n", "\n")
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		lines = append(lines, chat.EscapeLine(strings.ReplaceAll(l, "\t", "  ")))
	}
	return strings.Join(lines, "\n"+errIndent)
}

// exitError carries a specific exit code (for example `scca crl status`
// reporting a stale CRL) without printing the error twice.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
