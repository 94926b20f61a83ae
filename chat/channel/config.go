package channel

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"time"
)

// Defaults for zero config fields (docs/PROTOCOL.md §9).
const (
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultStatusCheckTimeout bounds the inventory/revocation check of
	// a client certificate, well under the handshake deadline, so a hung
	// inventory answers store_unavailable quickly instead of holding a
	// handshake slot for the full deadline.
	DefaultStatusCheckTimeout = 2 * time.Second
	DefaultWriteTimeout       = 10 * time.Second
	DefaultMaxConns           = 1024
	// DefaultTimestampWindow is how far a hello's timestamp may be from
	// the receiver's clock. Freshness itself comes from the peer's random
	// (the old signature cannot cover a new transcript); the window bounds
	// how long the server must remember client_randoms to refuse a replay
	// early, and catches badly wrong clocks.
	DefaultTimestampWindow = 2 * time.Minute
)

// Config is what both ends of the channel share: our certificate and key,
// what we trust, and how we check the peer. Zero values take the package
// defaults; Now and Rand nil mean the real clock and crypto/rand.
type Config struct {
	Chain []*x509.Certificate // our certificate first, then intermediates
	Key   crypto.Signer       // private key of Chain[0]
	// Roots are the CA(s) the peer's certificate must chain to, through
	// Intermediates (optional) and the certificates the peer sends.
	Roots         *x509.CertPool
	Intermediates *x509.CertPool
	Checker       PeerChecker // inventory or CRL/OCSP check of the peer; required

	MaxFrame        int           // largest frame body after the handshake (DefaultMaxFrame)
	TimestampWindow time.Duration // allowed clock difference for the hellos
	KeyUpdateAfter  uint64        // records per key before key_update (DefaultKeyUpdateAfter)
	WriteTimeout    time.Duration // longest a record write may block (DefaultWriteTimeout)

	Logger *slog.Logger // nil: discard
	Now    func() time.Time
	Rand   io.Reader
}

func (c *Config) identity() (identity, error) {
	id, err := newIdentity(c.Chain, c.Key, c.Roots, c.Intermediates, c.Checker, c.Now, c.Rand,
		c.TimestampWindow, c.KeyUpdateAfter, c.MaxFrame, c.Logger)
	id.writeTimeout = orDefault(c.WriteTimeout, DefaultWriteTimeout)
	return id, err
}

// identity is the shared part of both configs: our certificate and key,
// what we trust, and how we check the peer.
type identity struct {
	chain []*x509.Certificate
	// certField is chain's PEM encoding for the hello, made once per
	// config (a server encodes it once, not per handshake).
	certField string
	key       crypto.Signer
	roots     *x509.CertPool
	inter     *x509.CertPool
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
	writeTimeout  time.Duration
}

func newIdentity(chain []*x509.Certificate, key crypto.Signer, roots, inter *x509.CertPool, checker PeerChecker,
	now func() time.Time, rnd io.Reader, window time.Duration, rekey uint64, max int, logger *slog.Logger) (identity, error) {
	switch {
	case len(chain) == 0 || key == nil:
		return identity{}, errors.New("channel: certificate chain and key are required")
	case roots == nil:
		return identity{}, errors.New("channel: trust roots are required")
	case checker == nil:
		// Fail closed: without a checker revocation could never be noticed.
		return identity{}, errors.New("channel: a PeerChecker is required")
	case max != 0 && max < MinMaxFrame:
		return identity{}, errors.New("channel: MaxFrame is below 1 KiB")
	case rekey > MinSuiteRecords()/2:
		return identity{}, errors.New("channel: KeyUpdateAfter is above 2^23")
	}
	id := identity{chain: chain, key: key, roots: roots, inter: inter, checker: checker, now: now, rand: rnd,
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

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
