package chat

import (
	"context"
	"fmt"
	"time"

	"github.com/securechat/scca/inventory"
)

// RevocationFeed follows revocations recorded by any process sharing the
// inventory (docs/PROTOCOL.md §12.5); *certstore.Store implements it.
type RevocationFeed interface {
	// LastAuditID is the current head of the audit log.
	LastAuditID(ctx context.Context) (int64, error)
	// RevocationsSince returns up to limit revocations after afterAuditID,
	// oldest first.
	RevocationsSince(ctx context.Context, afterAuditID int64, limit int) ([]inventory.RevocationEvent, error)
}

// DefaultRevocationPoll is how often the server asks the feed for new
// revocations. With it, a revoked certificate's sessions end within about
// half a second plus one store round trip: well inside the 2 s promised.
const DefaultRevocationPoll = 500 * time.Millisecond

// revocationBatch is how many revocations one poll reads.
const revocationBatch = 1000

// watchRevocations polls the feed until stop closes, ending the live
// sessions of every certificate revoked after the server started. It
// starts at the feed's head: anything revoked earlier is refused by the
// handshake's own inventory check. If the store cannot be reached it keeps
// polling from where it was; no revocation is skipped, only noticed late.
func (s *Server) watchRevocations(stop <-chan struct{}) {
	feed := s.cfg.Revocations
	tick := time.NewTicker(s.cfg.RevocationPoll)
	defer tick.Stop()
	started, failing := false, false
	var last int64
	for {
		err := s.pollRevocations(feed, &started, &last)
		if s.checks != nil {
			// Positive check answers are reused only while the feed
			// works (§7.4): a failed poll flushes and disables them.
			s.checks.setFeedHealthy(err == nil)
		}
		switch {
		case err != nil && !failing:
			s.log.Warn("revocation feed unavailable; retrying", "err", err)
			failing = true
		case err == nil && failing:
			s.log.Info("revocation feed back", "audit_id", last)
			failing = false
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		case <-s.revWake: // a cluster hint (cluster_relay.go): read now
		}
	}
}

func (s *Server) pollRevocations(feed RevocationFeed, started *bool, last *int64) error {
	ctx, cancel := context.WithTimeout(s.base, storeTimeout)
	defer cancel()
	if !*started {
		head, err := feed.LastAuditID(ctx)
		if err != nil {
			return err
		}
		*last, *started = head, true
		return nil
	}
	for {
		evs, err := feed.RevocationsSince(ctx, *last, revocationBatch)
		if err != nil {
			return err
		}
		if len(evs) > 0 && s.checks != nil {
			s.checks.flush() // before the sessions end: no new one on a stale answer
		}
		for _, ev := range evs {
			*last = ev.AuditID
			reason := fmt.Sprintf("certificate serial %s was revoked at %s", ev.Serial, ev.At.UTC().Format(time.RFC3339))
			if n := s.hub.revoke(certKey{issuerKeyID: ev.IssuerKeyID, serial: ev.Serial}, reason); n > 0 {
				s.log.Info("ended sessions of revoked certificate", "serial", ev.Serial, "sessions", n)
			}
		}
		if len(evs) < revocationBatch {
			return nil
		}
	}
}

// isRevoked reports whether the revocation feed has reported the
// certificate (issuer key id and serial in lower-case hex, as the
// inventory keys it) revoked since the server started. Session resumption
// calls it so a ticket cannot outlive its certificate; it does not replace
// the inventory check a full handshake makes.
func (s *Server) isRevoked(issuerKeyID, serial string) bool {
	return s.hub.isRevoked(certKey{issuerKeyID: issuerKeyID, serial: serial})
}
