package chat

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/securechat/scca/ca"
)

// Defaults for zero config fields (docs/PROTOCOL.md §9).
const (
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultStatusCheckTimeout bounds the inventory/revocation check of
	// a client certificate, well under the handshake deadline, so a hung
	// inventory answers store_unavailable quickly instead of holding a
	// handshake slot for the full deadline.
	DefaultStatusCheckTimeout = 2 * time.Second
	DefaultIdleTimeout        = 5 * time.Minute
	DefaultWriteTimeout       = 10 * time.Second
	DefaultMaxConns           = 1024
	// DefaultTimestampWindow is how far a hello's timestamp may be from
	// the receiver's clock. Freshness itself comes from the peer's random
	// (the old signature cannot cover a new transcript); the window bounds
	// how long the server must remember client_randoms to refuse a replay
	// early, and catches badly wrong clocks.
	DefaultTimestampWindow = 2 * time.Minute
)

// identity is the shared part of both configs: our certificate and key,
// what we trust, and how we check the peer.
type identity struct {
	chain []*x509.Certificate
	// certField is chain's PEM encoding for the hello, made once per
	// config (a server encodes it once, not per handshake).
	certField string
	key       crypto.Signer
	trust     ca.Trust
	checker   PeerChecker
	now       func() time.Time
	rand      io.Reader
	window    time.Duration
	rekey     uint64
	max       int
	logger    *slog.Logger
	// statusTimeout bounds the PeerChecker call (0: the handshake's own
	// deadline only); see ServerConfig.StatusCheckTimeout.
	statusTimeout time.Duration
}

func newIdentity(chain []*x509.Certificate, key crypto.Signer, trust ca.Trust, checker PeerChecker,
	now func() time.Time, rnd io.Reader, window time.Duration, rekey uint64, max int, logger *slog.Logger) (identity, error) {
	switch {
	case len(chain) == 0 || key == nil:
		return identity{}, errors.New("chat: certificate chain and key are required")
	case trust.Roots == nil:
		return identity{}, errors.New("chat: trust roots are required")
	case checker == nil:
		// Fail closed: without a checker revocation could never be noticed.
		return identity{}, errors.New("chat: a PeerChecker is required")
	case max != 0 && max < minMaxFrame:
		return identity{}, errors.New("chat: MaxFrame is below 1 KiB")
	case rekey > minSuiteRecords()/2:
		return identity{}, errors.New("chat: KeyUpdateAfter is above 2^23")
	}
	id := identity{chain: chain, key: key, trust: trust, checker: checker, now: now, rand: rnd,
		window: window, rekey: rekey, max: max, logger: logger}
	id.certField = encodeChain(chain)
	if id.now == nil {
		id.now = time.Now
	}
	if id.rand == nil {
		id.rand = rand.Reader
	}
	if id.window <= 0 {
		id.window = DefaultTimestampWindow
	}
	if id.rekey == 0 {
		id.rekey = DefaultKeyUpdateAfter
	}
	if id.max == 0 {
		id.max = DefaultMaxFrame
	}
	if id.logger == nil {
		id.logger = slog.New(slog.DiscardHandler)
	}
	return id, nil
}

// trustOf is what a config trusts: its Roots and Intermediates, or the
// deprecated Trust when Roots is nil.
func trustOf(roots, intermediates *x509.CertPool, legacy ca.Trust) ca.Trust {
	if roots == nil {
		return legacy
	}
	return ca.Trust{Roots: roots, Intermediates: intermediates}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
