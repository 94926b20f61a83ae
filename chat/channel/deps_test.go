package channel

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinksNoRelay guards the seam this package exists for: the secure
// channel imports nothing of the messaging application (package chat and
// its cluster), the CA or the inventory, as crypto/tls imports nothing of
// net/http. Only the standard library, golang.org/x/crypto and this
// module's internal helpers may appear.
func TestLinksNoRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/securechat/scca/chat/channel").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	const module = "github.com/securechat/scca/"
	for _, pkg := range strings.Fields(string(out)) {
		rest, ours := strings.CutPrefix(pkg, module)
		switch {
		case !ours:
			if strings.Contains(strings.SplitN(pkg, "/", 2)[0], ".") && !strings.HasPrefix(pkg, "golang.org/x/") {
				t.Errorf("the channel links %s, outside the standard library and golang.org/x", pkg)
			}
		case rest == "chat/channel", strings.HasPrefix(rest, "internal/"):
		default:
			t.Errorf("the channel links %s of this module", pkg)
		}
	}
}
