package channel

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinksNoRelay guards the seam this package exists for: the secure
// channel imports nothing of the messaging application (package chat and
// its cluster), the CA or the inventory, as crypto/tls imports nothing of
// net/http. Only the standard library, the modules in thirdParty and this
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
		case pkg == "database/sql" || pkg == "database/sql/driver":
			t.Errorf("the channel links %s: storage belongs to the application", pkg)
		case !ours:
			if strings.Contains(strings.SplitN(pkg, "/", 2)[0], ".") && !hasAnyPrefix(pkg, thirdParty) {
				t.Errorf("the channel links %s, outside the standard library and its known modules", pkg)
			}
		case rest == "chat/channel", strings.HasPrefix(rest, "internal/"):
		default:
			t.Errorf("the channel links %s of this module", pkg)
		}
	}
}

// thirdParty are the modules the channel may link: crypto primitives, the
// JSON tokenizer of the strict codec and the WebSocket transport (§14).
var thirdParty = []string{"golang.org/x/", "github.com/go-json-experiment/json/", "github.com/coder/websocket"}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
