package channel

import (
	"testing"
	"time"

	"github.com/securechat/scca/internal/testchat"
)

// fakeInventory is the test PeerChecker, as the real inventory would answer.
type fakeInventory = testchat.Inventory

var _ PeerChecker = (*fakeInventory)(nil)

// world is the shared test world (one CA, a server and a client identity,
// the inventories each side checks against) with this package's configs.
type world struct{ *testchat.World }

func newWorld(t testing.TB) *world { return &world{testchat.NewWorld(t)} }

func (w *world) serverConfig() testServerConfig {
	return testServerConfig{ServerConfig: ServerConfig{Config: Config{Chain: w.ServerChain, Key: w.ServerKey,
		Roots: w.CA.Pool(), Checker: w.Inv}, HandshakeTimeout: 2 * time.Second}}
}

func (w *world) clientConfig() ClientConfig {
	return ClientConfig{Config: Config{Chain: w.ClientChain, Key: w.ClientKey, Roots: w.CA.Pool(), Checker: w.ClientInv},
		ServerName: "localhost", ClientID: "client123", HandshakeTimeout: 2 * time.Second}
}
