package waitfor

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

type recorder struct{ msg string }

func (*recorder) Helper()                             {}
func (r *recorder) Fatalf(format string, args ...any) { r.msg = fmt.Sprintf(format, args...) }

func TestCondition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int64
		go func() {
			time.Sleep(time.Second)
			n.Store(1)
		}()
		start := time.Now()
		Condition(t, "n", time.Minute, func() bool { return n.Load() == 1 })
		if d := time.Since(start); d < time.Second || d > time.Second+Interval {
			t.Fatalf("returned after %v, want the first poll after 1s", d)
		}
		r := &recorder{}
		start = time.Now()
		Condition(r, "never", time.Second, func() bool { return false })
		if !strings.Contains(r.msg, "timed out after 1s waiting for never") {
			t.Fatalf("failure %q", r.msg)
		}
		if d := time.Since(start); d < time.Second || d > time.Second+Interval {
			t.Fatalf("gave up after %v, want 1s", d)
		}
		tries := 0
		Check(r, time.Second, func() error { tries++; return fmt.Errorf("seen %d", tries) })
		if want := fmt.Sprintf("timed out after 1s seen %d", tries); r.msg != want || tries < 2 {
			t.Fatalf("failure %q after %d tries, want %q", r.msg, tries, want)
		}
	})
}
