// Package judge gives tests the external judges of certificates: zlint,
// built once per test binary from the module proxy at a pinned version, and
// the rule for a missing tool (skip locally, fail under CI=true). It is for
// tests only: production code never imports it.
package judge

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

const zlintModule = "github.com/zmap/zlint/v3/cmd/zlint@v3.7.3"

var zlintBuild struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// Cleanup removes the zlint build; call it from TestMain after m.Run.
func Cleanup() {
	if zlintBuild.dir != "" {
		os.RemoveAll(zlintBuild.dir)
	}
}

// RequireTool skips t when a tool is unavailable (err != nil), or fails it
// under CI=true, where the judges must run.
func RequireTool(t testing.TB, err error, what string) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s unavailable in CI: %v", what, err)
	}
	t.Skipf("%s unavailable: %v", what, err)
}

// Zlint builds zlint once per test binary into a temporary directory and
// returns its path.
func Zlint(t testing.TB) string {
	t.Helper()
	zlintBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "scca-zlint-")
		if err != nil {
			zlintBuild.err = err
			return
		}
		zlintBuild.dir = dir
		cmd := exec.Command("go", "install", zlintModule)
		// Outside any module, with our module's -mod flags cleared, so the
		// tool's own go.mod decides its dependencies.
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			zlintBuild.err = &toolError{err, out}
			return
		}
		zlintBuild.bin = filepath.Join(dir, "zlint")
	})
	RequireTool(t, zlintBuild.err, "zlint")
	return zlintBuild.bin
}

type toolError struct {
	err error
	out []byte
}

func (e *toolError) Error() string { return e.err.Error() + ": " + string(e.out) }
