package chat

import (
	"context"
	"crypto/x509"
)

// PeerChainChecker is an optional ability of a PeerChecker: checking every
// certificate of the verified chain below the trust anchor, so that a
// revoked intermediate CA refuses the peers it issued
// (docs/PROTOCOL.md §7). revocation.ChainChecker has it. A PeerChecker
// without it is given the leaf alone.
type PeerChainChecker interface {
	CheckChain(ctx context.Context, chain []*x509.Certificate) error
}

// checkPeerChain checks the chain that ca.Trust.VerifyLeaf built (leaf
// first, trust anchor last) with checker, whole when it can.
func checkPeerChain(ctx context.Context, checker PeerChecker, verified []*x509.Certificate) error {
	if cc, ok := checker.(PeerChainChecker); ok {
		return cc.CheckChain(ctx, verified)
	}
	return checker.Check(ctx, verified[0])
}
