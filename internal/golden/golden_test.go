package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type pair struct {
	A string `json:"a"`
	N int    `json:"n"`
}

// fatalTB records a Fatal instead of ending the test, and stops the helper
// as testing's Fatal does.
type fatalTB struct{ msg string }

func (*fatalTB) Helper()                        {}
func (f *fatalTB) Fatal(args ...any)            { f.msg = fmt.Sprint(args...); panic(f) }
func (f *fatalTB) Fatalf(s string, args ...any) { f.msg = fmt.Sprintf(s, args...); panic(f) }

func failure(f func(tb TB)) (msg string) {
	tb := &fatalTB{}
	defer func() {
		if r := recover(); r != nil && r != tb {
			panic(r)
		}
		msg = tb.msg
	}()
	f(tb)
	return ""
}

func TestJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.json")
	Write(t, path, pair{"x", 1})
	if b, _ := os.ReadFile(path); string(b) != "{\n  \"a\": \"x\",\n  \"n\": 1\n}\n" {
		t.Fatalf("Write stored %q", b)
	}
	if want := JSON(t, path, pair{"x", 1}); want != (pair{"x", 1}) {
		t.Fatalf("JSON returned %+v", want)
	}
	if msg := failure(func(tb TB) { JSON(tb, path, pair{"x", 2}) }); !strings.Contains(msg, "no longer matches "+path) || !strings.Contains(msg, `"n": 2`) {
		t.Fatalf("a changed result: %q, want a failure showing it", msg)
	}
	if msg := failure(func(tb TB) { JSON(tb, filepath.Join(t.TempDir(), "none.json"), pair{}) }); msg == "" {
		t.Fatal("a missing golden file passed")
	}
	*update = true
	defer func() { *update = false }()
	if !Updating() {
		t.Fatal("Updating is false with -update")
	}
	if want := JSON(t, path, pair{"y", 3}); want != (pair{"y", 3}) {
		t.Fatalf("with -update the file holds %+v", want)
	}
}
