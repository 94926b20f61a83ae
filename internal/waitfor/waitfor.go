// Package waitfor is the tests' one way to wait for a condition another
// goroutine or process brings about: poll it, and fail after a bound that
// is a hang detector, never the expected time (so a loaded machine only
// makes the test slower, not red).
package waitfor

import (
	"errors"
	"testing"
	"time"
)

// Interval is how often Condition polls.
const Interval = 10 * time.Millisecond

// HangBound is the usual bound: long enough that only a condition that
// never comes reaches it, however loaded the machine.
const HangBound = 30 * time.Second

// TB is the part of testing.TB the waits use (testscript's TestScript
// has it too); a TB that also has Helper() is marked as one.
type TB interface {
	Fatalf(format string, args ...any)
}

func helper(tb TB) {
	if h, ok := tb.(interface{ Helper() }); ok {
		h.Helper()
	}
}

var _ TB = testing.TB(nil)

// Condition polls cond every Interval until it holds; when within passes
// first, it fails tb saying it timed out waiting for what.
func Condition(tb TB, what string, within time.Duration, cond func() bool) {
	helper(tb)
	Check(tb, within, func() error {
		if cond() {
			return nil
		}
		return errors.New("waiting for " + what)
	})
}

// Check polls check every Interval until it returns nil; when within
// passes first, it fails tb with check's last error (which says what was
// seen last).
func Check(tb TB, within time.Duration, check func() error) {
	helper(tb)
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v %v", within, err)
			return
		}
		time.Sleep(Interval)
	}
}
