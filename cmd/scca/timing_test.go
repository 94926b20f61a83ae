package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/securechat/scca/internal/waitfor"
)

// cmdMark records the current time in the script variable NAME:
// "mark NAME".
func cmdMark(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: mark NAME")
	}
	ts.Setenv(args[0], strconv.FormatInt(time.Now().UnixNano(), 10))
}

// cmdWithin fails unless at most DURATION passed since "mark NAME":
// "within NAME DURATION". It makes timing promises testable end to end.
func cmdWithin(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: within NAME DURATION")
	}
	ns, err := strconv.ParseInt(ts.Getenv(args[0]), 10, 64)
	ts.Check(err)
	limit, err := time.ParseDuration(args[1])
	ts.Check(err)
	if took := time.Since(time.Unix(0, ns)); took > limit {
		ts.Fatalf("took %v since mark %s, want at most %v", took.Round(time.Millisecond), args[0], limit)
	} else {
		ts.Logf("%v since mark %s (limit %v)", took.Round(time.Millisecond), args[0], limit)
	}
}

// cmdWaitFor waits, up to a minute (a hang detector, not a timing
// assumption), until FILE in $WORK matches the regular expression RE: the
// condition a background command's output reached, instead of a sleep.
func cmdWaitFor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitfor FILE RE")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	waitfor.Check(ts, time.Minute, func() error {
		data, _ := os.ReadFile(ts.MkAbs(args[0]))
		if re.Match(data) {
			return nil
		}
		return fmt.Errorf("waiting for %s to match %q; it holds:\n%s", args[0], args[1], data)
	})
}
