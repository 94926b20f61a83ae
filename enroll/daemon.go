package enroll

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Renewer keeps one identity renewed: it sleeps until about two thirds of
// the current certificate's lifetime, renews, calls OnRenew, and starts
// over. A failed renewal is retried with exponential backoff (1 minute
// doubling up to 1 hour, never past the certificate's expiry).
type Renewer struct {
	// Current returns the certificate on disk now.
	Current func() (*x509.Certificate, error)
	// Renew renews it (usually Renew with a Client) and returns the new one.
	Renew func(ctx context.Context) (*x509.Certificate, error)
	// OnRenew runs after each successful renewal (e.g. --exec); its error
	// is reported through OnError and does not stop the loop.
	OnRenew func(*x509.Certificate) error
	// OnError is told about every failure (for logging); may be nil.
	OnError func(error)
	// Now is the clock; nil = time.Now. Timers use package time, so a
	// test runs the loop in a testing/synctest bubble.
	Now func() time.Time
	// Jitter returns a uniform float in [0,1); nil = math/rand/v2.
	// Jitter spreads a fleet's renewals so they do not arrive at once; it
	// needs no cryptographic randomness.
	Jitter func() float64
}

// Backoff bounds for failed renewals.
const (
	minBackoff = time.Minute
	maxBackoff = time.Hour
)

// ErrExpired stops the loop: an expired certificate cannot be renewed, the
// identity must enroll again with a new token.
var ErrExpired = errors.New("certificate has expired; enroll again with a new token")

// RenewAt returns when to renew cert: at two thirds of its lifetime, minus
// up to a twentieth of the lifetime of jitter (j in [0,1)).
func RenewAt(cert *x509.Certificate, j float64) time.Time {
	life := cert.NotAfter.Sub(cert.NotBefore)
	at := cert.NotBefore.Add(life * 2 / 3)
	return at.Add(-time.Duration(j * float64(life) / 20))
}

// Run renews until ctx ends (returning nil) or the certificate expires
// without a successful renewal (ErrExpired).
func (r *Renewer) Run(ctx context.Context) error {
	now, jitter := r.Now, r.Jitter
	if now == nil {
		now = time.Now
	}
	if jitter == nil {
		jitter = rand.Float64
	}
	backoff := time.Duration(0)
	for {
		cert, err := r.Current()
		if err != nil {
			return fmt.Errorf("read current certificate: %w", err)
		}
		wait := RenewAt(cert, jitter()).Sub(now())
		if backoff > 0 {
			wait = backoff
		}
		// Never sleep past expiry: a last attempt halfway to it, until
		// less than a second is left.
		if left := cert.NotAfter.Sub(now()); wait >= left {
			if left < 2*time.Second {
				return ErrExpired
			}
			wait = left / 2
		}
		if err := sleep(ctx, wait); err != nil {
			return nil
		}
		renewed, err := r.Renew(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.report(err)
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			continue
		}
		backoff = 0
		if r.OnRenew != nil {
			if err := r.OnRenew(renewed); err != nil {
				r.report(err)
			}
		}
	}
}

func (r *Renewer) report(err error) {
	if r.OnError != nil {
		r.OnError(err)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
