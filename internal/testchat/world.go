package testchat

import (
	"crypto"
	"crypto/x509"
	"testing"

	"github.com/securechat/scca/internal/testpki"
)

// World is one CA, one server identity ("localhost"), one good client
// identity ("client123"), and the inventories each side checks against.
type World struct {
	CA          *testpki.CA
	ServerChain []*x509.Certificate
	ServerKey   crypto.Signer
	ClientChain []*x509.Certificate
	ClientKey   crypto.Signer
	Inv         *Inventory // what the server checks clients against
	ClientInv   *Inventory // what the client checks the server against
}

// NewWorld makes a World whose inventories know the other side.
func NewWorld(tb testing.TB) *World {
	tb.Helper()
	w := &World{CA: testpki.NewCA(tb, "Test Root CA"), Inv: NewInventory(), ClientInv: NewInventory()}
	w.ServerChain, w.ServerKey = w.CA.Issue(tb, "localhost", testpki.LeafOpts{EKU: x509.ExtKeyUsageServerAuth})
	w.ClientChain, w.ClientKey = w.CA.Issue(tb, "client123", testpki.LeafOpts{EKU: x509.ExtKeyUsageClientAuth})
	w.Inv.Add(w.ClientChain[0])
	w.ClientInv.Add(w.ServerChain[0])
	return w
}
