package enroll

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
)

// Token lifetimes: an hour unless asked otherwise, a week at most. A token
// is a bearer credential for a certificate, so it should not outlive the
// hand-over it exists for.
const (
	DefaultTokenTTL = time.Hour
	MaxTokenTTL     = 7 * 24 * time.Hour
)

// tokenPrefix marks scca tokens so secret scanners and people recognise
// them; the version digit allows a later format.
const tokenPrefix = "scca1_"

// ErrMalformedToken is returned by ParseToken for anything not shaped like
// a token; the API answers it like any other wrong token.
var ErrMalformedToken = errors.New("malformed enrollment token")

// TokenStore keeps new tokens; certstore.Store implements it.
type TokenStore interface {
	CreateToken(ctx context.Context, t certstore.Token) error
}

// TokenRequest describes a token to mint.
type TokenRequest struct {
	CN       string
	Profile  ca.Profile
	DNSNames []string // the only SANs the certificate may carry (server profile)
	IPs      []net.IP
	TTL      time.Duration // 0 = DefaultTokenTTL
	Actor    string
	Now      func() time.Time
	Rand     io.Reader
}

// NewToken mints a one-time token, stores its hash and returns the token
// (shown once; it cannot be recovered) with its stored form.
//
// A token is "scca1_" + id + "_" + secret: id is 8 random bytes in hex, the
// public handle stored in clear and named in the audit log; secret is 32
// bytes from crypto/rand in base64url. Only SHA-256 of the whole token is
// stored: with 256 random bits a plain hash cannot be brute-forced, so no
// slow password hash is needed, and a database leak reveals no token.
func NewToken(ctx context.Context, st TokenStore, req TokenRequest) (string, certstore.Token, error) {
	if req.TTL == 0 {
		req.TTL = DefaultTokenTTL
	}
	if req.TTL < 0 || req.TTL > MaxTokenTTL {
		return "", certstore.Token{}, fmt.Errorf("token lifetime %s is not between 0 and %s", req.TTL, MaxTokenTTL)
	}
	p, err := ca.ParseProfile(string(req.Profile))
	if err != nil {
		return "", certstore.Token{}, err
	}
	if err := ca.CheckCN(req.CN); err != nil {
		return "", certstore.Token{}, err
	}
	rnd, now := req.Rand, req.Now
	if rnd == nil {
		rnd = rand.Reader
	}
	if now == nil {
		now = time.Now
	}
	var id [8]byte
	var secret [32]byte
	if _, err := io.ReadFull(rnd, id[:]); err != nil {
		return "", certstore.Token{}, fmt.Errorf("generate token: %w", err)
	}
	if _, err := io.ReadFull(rnd, secret[:]); err != nil {
		return "", certstore.Token{}, fmt.Errorf("generate token: %w", err)
	}
	tok := tokenPrefix + hex.EncodeToString(id[:]) + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	sans := append([]string{}, req.DNSNames...)
	for _, ip := range req.IPs {
		sans = append(sans, ip.String())
	}
	t := certstore.Token{
		ID: hex.EncodeToString(id[:]), Hash: tokenHash(tok), CN: req.CN, Type: p.RecordType(), SANs: sans,
		CreatedAt: now().UTC(), CreatedBy: req.Actor, ExpiresAt: now().UTC().Add(req.TTL),
	}
	if err := st.CreateToken(ctx, t); err != nil {
		return "", certstore.Token{}, err
	}
	return tok, t, nil
}

// ParseToken splits a token into its id and the hash the inventory keeps.
func ParseToken(tok string) (id, hash string, err error) {
	rest, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok {
		return "", "", ErrMalformedToken
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 || len(secret) != 43 {
		return "", "", ErrMalformedToken
	}
	if _, err := hex.DecodeString(id); err != nil || strings.ToLower(id) != id {
		return "", "", ErrMalformedToken
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(secret); err != nil {
		return "", "", ErrMalformedToken
	}
	return id, tokenHash(tok), nil
}

func tokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}
