// Package golden compares a test's result with a golden JSON file under
// testdata, and rewrites the file when the test binary runs with -update
// (only for an intended change of what the file pins, e.g. the protocol's
// test vectors).
package golden

import (
	"encoding/json"
	"flag"
	"os"
)

// TB is the part of testing.TB the helpers use.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// Updating reports whether the tests run with -update.
func Updating() bool { return *update }

// JSON checks that got equals the value stored as JSON in path (after
// writing got there when Updating), and returns the stored value, so the
// test can go on to check it independently of the code that produced got.
func JSON[T comparable](tb TB, path string, got T) T {
	tb.Helper()
	if *update {
		Write(tb, path, got)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var want T
	if err := json.Unmarshal(b, &want); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	if got != want {
		gb, _ := json.MarshalIndent(got, "", "  ")
		tb.Fatalf("no longer matches %s (run with -update only for an intended change):\n%s", path, gb)
	}
	return want
}

// Write stores v as indented JSON in path.
func Write(tb TB, path string, v any) {
	tb.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		tb.Fatal(err)
	}
}
