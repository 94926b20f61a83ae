package channel

import (
	"context"
	"crypto/x509"
	"errors"
)

// PeerChecker answers "is this peer's certificate good right now?" from
// the inventory, a CRL or OCSP. A nil error means good; any error means
// refuse, including "the source is unavailable" (fail closed). It is
// called on every handshake, so a revocation takes effect for the next
// handshake at once.
type PeerChecker interface {
	Check(ctx context.Context, cert *x509.Certificate) error
}

// PeerChainChecker is an optional ability of a PeerChecker: checking every
// certificate of the verified chain below the trust anchor, so that a
// revoked intermediate CA refuses the peers it issued
// (docs/PROTOCOL.md §7). revocation.ChainChecker has it. A PeerChecker
// without it is given the leaf alone.
type PeerChainChecker interface {
	CheckChain(ctx context.Context, chain []*x509.Certificate) error
}

// CheckPeerChain checks the verified chain (leaf
// first, trust anchor last) with checker, whole when it can.
func CheckPeerChain(ctx context.Context, checker PeerChecker, verified []*x509.Certificate) error {
	if cc, ok := checker.(PeerChainChecker); ok {
		return cc.CheckChain(ctx, verified)
	}
	return checker.Check(ctx, verified[0])
}

// ErrCheckUnavailable is what a PeerChecker wraps when it could not make
// the check (its source is down or too slow): not a verdict on the
// certificate, so the peer is told store_unavailable (§8.1) and retries,
// instead of taking its certificate for rejected.
var ErrCheckUnavailable = errors.New("certificate status source unavailable")
