package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/securechat/scca/internal/testdb"
)

// receiverMessages is how many direct messages the receiver-crash test
// sends per case; SCCA_RECV_MESSAGES changes it.
func receiverMessages() int {
	if n, err := strconv.Atoi(os.Getenv("SCCA_RECV_MESSAGES")); err == nil && n > 0 {
		return n
	}
	return 200
}

// TestReceiverKill9Duplicates measures what a receiver killed with -9
// mid-stream costs, on MariaDB: `scca chat client --receive` is killed
// while it prints direct messages, a new one connects, and the test counts
// the messages the second process prints again (duplicates, bounded by the
// confirmation batches, docs/PROTOCOL.md §12.3) and those neither printed
// (lost: must be 0). The receiver's stdout is a pipe of one page that the
// test reads slowly, so the kill finds it in the middle of the stream, its
// output blocked like that of a slow terminal. Two cases: a backlog queued
// while the receiver was offline, and messages sent while it is live.
func TestReceiverKill9Duplicates(t *testing.T) {
	db := testdb.MySQL(t, "scca_recvkill")
	bin := sccaBinary(t)
	dir := filepath.Join(t.TempDir(), "certs")
	scca := sccaOn(bin, dir, db)
	for _, args := range [][]string{{"init"}, {"issue", "server", "--cn", "server", "--dns", "localhost", "--ip", "127.0.0.1"},
		{"issue", "client", "--cn", "alice"}, {"issue", "client", "--cn", "bob"}, {"issue", "client", "--cn", "carol"}} {
		if out, err := scca(args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	addr := "127.0.0.1:" + freePort(t)
	srv := scca("chat", "server", "--listen", addr)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Signal(syscall.SIGINT); _ = srv.Wait() })
	waitFor(t, "the chat server to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	n := receiverMessages()
	client := func(cn string, args ...string) *exec.Cmd {
		return scca(append([]string{"chat", "client", "--server", addr, "--server-name", "localhost", "--id", cn}, args...)...)
	}
	send := func(t *testing.T, to, tag string) *exec.Cmd {
		var in strings.Builder
		for i := range n {
			fmt.Fprintln(&in, msgText(tag, i))
		}
		cmd := client("alice", "--to", to)
		cmd.Stdin = strings.NewReader(in.String())
		return cmd
	}

	t.Run("backlog", func(t *testing.T) {
		if out, err := send(t, "bob", "backlog").CombinedOutput(); err != nil {
			t.Fatalf("send: %v\n%s", err, out)
		}
		first := startReceiver(t, client("bob", "--receive"))
		first.waitDM(t, n/4)
		first.kill9(t)
		second := startReceiver(t, client("bob", "--receive"))
		second.waitTags(t, "backlog", n, first)
		second.kill9(t)
		reportRedelivery(t, "backlog", n, first, second)
	})
	t.Run("live", func(t *testing.T) {
		first := startReceiver(t, client("carol", "--receive"))
		first.waitLine(t, "Connected to")
		sender := send(t, "carol", "live")
		out := &syncBuffer{}
		sender.Stdout, sender.Stderr = out, out
		if err := sender.Start(); err != nil {
			t.Fatal(err)
		}
		first.waitDM(t, n/4)
		first.kill9(t)
		if err := sender.Wait(); err != nil {
			t.Fatalf("send: %v\n%s", err, out.String())
		}
		second := startReceiver(t, client("carol", "--receive"))
		second.waitTags(t, "live", n, first)
		second.kill9(t)
		reportRedelivery(t, "live", n, first, second)
	})
}

// msgText is message i of a case: long enough (~130 bytes printed) that a
// page of pipe holds about 30 of them, so the receiver blocks in its output
// well before the end of the stream.
func msgText(tag string, i int) string {
	return fmt.Sprintf("%s-%d-%s", tag, i, strings.Repeat("x", 100))
}

var dmLine = regexp.MustCompile(`^\[dm #(\d+)\] alice: (\S+)$`)

// receiver is a running `scca chat client --receive` whose stdout the test
// reads line by line from a one-page pipe.
type receiver struct {
	cmd    *exec.Cmd
	pipe   *os.File // read end of its stdout
	stderr *syncBuffer
	lines  chan string
	done   chan struct{}
	seen   []string    // every line read, in order
	ids    map[int]int // direct message id -> times printed
	tags   map[string]int
	quiet  bool // next timed out: nothing was printed for a minute
}

func startReceiver(t *testing.T, cmd *exec.Cmd) *receiver {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// One page: the receiver cannot run far ahead of what the test read,
	// so a kill lands mid-stream.
	if _, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, os.Getpagesize()); err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	errOut := &syncBuffer{}
	cmd.Stderr = errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	rc := &receiver{cmd: cmd, pipe: r, stderr: errOut, lines: make(chan string), done: make(chan struct{}), ids: map[int]int{}, tags: map[string]int{}}
	go func() {
		defer close(rc.lines)
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			rc.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-rc.done
	})
	go func() { _ = cmd.Wait(); close(rc.done) }()
	return rc
}

// next reads one line; false at the end of the output or after a minute
// without any (quiet).
func (rc *receiver) next(t *testing.T) bool {
	t.Helper()
	select {
	case l, ok := <-rc.lines:
		if !ok {
			return false
		}
		rc.seen = append(rc.seen, l)
		if m := dmLine.FindStringSubmatch(l); m != nil {
			id, _ := strconv.Atoi(m[1])
			rc.ids[id]++
			rc.tags[m[2]]++
		}
		return true
	case <-time.After(time.Minute): // hang bound
		rc.quiet = true
		return false
	}
}

func (rc *receiver) waitLine(t *testing.T, sub string) {
	t.Helper()
	for rc.next(t) {
		if strings.Contains(rc.seen[len(rc.seen)-1], sub) {
			return
		}
	}
	t.Fatalf("output ended without %q:\n%s", sub, strings.Join(rc.seen, "\n"))
}

func (rc *receiver) waitDM(t *testing.T, k int) {
	t.Helper()
	for len(rc.ids) < k {
		if !rc.next(t) {
			t.Fatalf("output ended after %d direct messages:\n%s", len(rc.ids), strings.Join(rc.seen, "\n"))
		}
	}
}

// waitTags reads until every one of the n messages tagged tag was printed
// by this receiver or the earlier one.
func (rc *receiver) waitTags(t *testing.T, tag string, n int, earlier *receiver) {
	t.Helper()
	missing := func() int {
		m := 0
		for i := range n {
			k := msgText(tag, i)
			if rc.tags[k] == 0 && earlier.tags[k] == 0 {
				m++
			}
		}
		return m
	}
	for missing() > 0 {
		if !rc.next(t) {
			if rc.quiet {
				return // reportRedelivery counts what never came
			}
			t.Fatalf("output ended with %d of %d messages never printed:\n%s", missing(), n, strings.Join(rc.seen, "\n"))
		}
	}
}

// kill9 kills the receiver and reads what it had printed.
func (rc *receiver) kill9(t *testing.T) {
	t.Helper()
	if err := rc.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rc.drain(t)
}

// reportRedelivery checks that no message was lost, that neither process
// printed an id twice, and logs how many the second printed again.
func reportRedelivery(t *testing.T, name string, n int, first, second *receiver) {
	t.Helper()
	dups := 0
	for id, c := range first.ids {
		if c > 1 {
			t.Errorf("first receiver printed message #%d %d times", id, c)
		}
		if second.ids[id] > 0 {
			dups++
		}
	}
	for id, c := range second.ids {
		if c > 1 {
			t.Errorf("second receiver printed message #%d %d times", id, c)
		}
	}
	lost := 0
	for i := range n {
		k := msgText(name, i)
		if first.tags[k]+second.tags[k] == 0 {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d messages lost", lost, n)
	}
	t.Logf("%s: %d messages; killed receiver printed %d, the next one %d, of which %d again (duplicates); lost %d",
		name, n, len(first.ids), len(second.ids), dups, lost)
}

// drain reads the output to its end and waits for the process.
func (rc *receiver) drain(t *testing.T) {
	t.Helper()
	for rc.next(t) {
	}
	if rc.quiet {
		t.Fatalf("the receiver's output did not end within a minute of its signal; stderr:\n%s\nlast lines: %q", rc.stderr.String(), rc.seen[max(0, len(rc.seen)-3):])
	}
	<-rc.done
}
