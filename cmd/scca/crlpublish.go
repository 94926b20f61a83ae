package main

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/revocation"
)

// crlRepublisher republishes the leaf issuer's CRL after the online CA's
// renewals, which revoke the previous certificate as superseded. Renewals
// that arrive while a publication runs share the next one (as commits share
// an fsync in a group commit), so a burst of renewals costs one or two
// publications, not one each, and every renewal returns only once a CRL
// that lists its superseded certificate is published: a relying party that
// reads the CRL after `scca renew` returns sees it.
type crlRepublisher struct {
	publish func() error
	logger  *slog.Logger

	asked atomic.Uint64 // republish calls so far
	mu    sync.Mutex    // one publication at a time
	done  uint64        // calls the last successful publication covers (under mu)
}

// republishTimeout bounds one publication after a renewal.
const republishTimeout = 20 * time.Second

func (e *env) newCRLRepublisher(ctx context.Context, st revocation.CRLStore, a *ca.Authority, logger *slog.Logger) (*crlRepublisher, error) {
	t, _, err := e.leafCRLTarget(a)
	if err != nil {
		return nil, err
	}
	return &crlRepublisher{logger: logger, publish: func() error {
		// Bounded well inside the API's 30 s write timeout: a publisher
		// elsewhere holding the lock (a cron `scca crl` on a big CRL)
		// must not cost the renewal its answer; the next renewal or
		// `scca crl` publishes then.
		ctx, cancel := context.WithTimeout(ctx, republishTimeout)
		defer cancel()
		info, err := revocation.PublishCRL(ctx, st, t.CRLConfig, t.PEMPath, t.DERPath)
		if err == nil {
			logger.Info("published CRL after a renewal", "number", info.Number, "path", info.PEMPath)
		}
		return err
	}}, nil
}

// republish returns once a CRL published after this call began is out,
// or the publication failed (logged: the renewal stands, and the next
// renewal or `scca crl` publishes it).
func (r *crlRepublisher) republish() {
	me := r.asked.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done >= me {
		return // a publication that began after our call covered it
	}
	upto := r.asked.Load() // every call up to here committed its revocation before asking
	if err := r.publish(); err != nil {
		r.logger.Error("CRL not republished after a renewal; run `scca crl`", "err", err)
		return
	}
	r.done = upto
}
