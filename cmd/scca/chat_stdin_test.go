package main

import (
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
)

// pipedClient is `scca chat client` fed by a pipe the test holds open, as
// in `producer | scca chat client` with a producer that lives on: its
// standard input never ends while the test runs.
type pipedClient struct {
	name  string // its arguments, for messages
	proc  *os.Process
	wait  func() int // exit code, failing the test if it does not exit
	stdin io.Writer
	out   *screen // stdout and stderr together
}

func (f *chatFixture) piped(t *testing.T, id string, args ...string) *pipedClient {
	t.Helper()
	c := sccaCmd(f.dir, append([]string{"chat", "client", "--server", f.addr, "--id", id}, args...)...)
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	// An *os.File as stdout: the child writes to the pipe itself, and the
	// screen reads to the end however Wait races with it.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stdout, c.Stderr = w, w
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	scr := newScreen(r)
	t.Cleanup(func() {
		in.Close()
		if c.ProcessState == nil {
			c.Process.Kill()
			c.Wait()
		}
		r.Close()
	})
	return &pipedClient{name: strings.Join(c.Args[1:], " "), proc: c.Process, stdin: in, out: scr,
		wait: func() int { return exitWithin(t, c, scr) }}
}

// TestChatClientPipedStdinSessionEnd: a scripted client whose standard
// input stays open notices the server ending its session at once, not at
// its next input line: it says why and exits non-zero, in --receive mode
// and in the mode that sends each line, after a revocation, a server
// shutdown and a server killed. The test never closes the clients' input,
// so a client that waits for it hangs until the bound of exitWithin.
func TestChatClientPipedStdinSessionEnd(t *testing.T) {
	cases := []struct {
		name string
		end  func(t *testing.T, f *chatFixture)
		said string // the client's line saying why, a regexp
	}{
		{"revoked", func(t *testing.T, f *chatFixture) {
			sccaOK(t, f.dir, "revoke", "--cn", "alice", "--yes", "--reason", "keyCompromise")
			sccaOK(t, f.dir, "revoke", "--cn", "bob", "--yes", "--reason", "keyCompromise")
		}, `\[Client\] Session ended by server: certificate_revoked\n`},
		{"server shutdown", func(t *testing.T, f *chatFixture) {
			if err := f.server.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}, `\[Client\] Session ended: .*server shutting down\n`},
		{"server killed", func(t *testing.T, f *chatFixture) {
			if err := f.server.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}, `\[Client\] Session ended: .+\n`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := startChatFixture(t)
			receiver := f.piped(t, "alice", "--receive")
			sender := f.piped(t, "bob")
			atR := receiver.out.waitFor(t, 0, `\[Client\] Connected to`)
			atS := sender.out.waitFor(t, 0, `\[Client\] Connected to`)
			// A line sent first: the sender then waits for the next one.
			io.WriteString(sender.stdin, "hello from bob\n")
			f.serverOut.waitFor(t, 0, `Received secure message from bob: hello from bob`)

			tc.end(t, f)
			for _, c := range []struct {
				cl *pipedClient
				at int
			}{{receiver, atR}, {sender, atS}} {
				c.cl.out.waitFor(t, c.at, tc.said)
				if code := c.cl.wait(); code == 0 {
					t.Errorf("%s: exit 0 after the server ended its session; output:\n%s", c.cl.name, c.cl.out.text())
				}
				if out := c.cl.out.text(); strings.Contains(out, "sent and acknowledged") {
					t.Errorf("%s claims its input was sent:\n%s", c.cl.name, out)
				}
			}
		})
	}
}

// TestChatClientPipedStdinInterrupt: an interrupt ends a scripted client
// whose standard input stays open at once, and cleanly: nothing read was
// left unacknowledged, so both modes exit 0. (No line is sent first: the
// interrupt could then land while the client waits for the line's ack,
// which rightly fails the client.)
func TestChatClientPipedStdinInterrupt(t *testing.T) {
	f := startChatFixture(t)
	receiver := f.piped(t, "alice", "--receive")
	sender := f.piped(t, "bob", "--to", "alice")
	receiver.out.waitFor(t, 0, `\[Client\] Connected to`)
	at := sender.out.waitFor(t, 0, `\[Client\] Connected to`)

	for _, c := range []*pipedClient{receiver, sender} {
		if err := c.proc.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
	}
	sender.out.waitFor(t, at, `\[Client\] 0 message\(s\) sent and acknowledged\n`)
	for _, c := range []*pipedClient{receiver, sender} {
		if code := c.wait(); code != 0 {
			t.Errorf("%s: exit %d after an interrupt; output:\n%s", c.name, code, c.out.text())
		}
	}
}
