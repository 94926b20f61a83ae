package certstore

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/securechat/scca/internal/atomicfile"
)

// Files of the audit seal, kept in the CA directory beside the CA keys and
// never in the database: whoever can write the database but not this
// directory cannot forge a seal, nor move the anchor back.
const (
	AuditKeyFile       = "audit_key.pem"     // ECDSA P-256 (or, from before, Ed25519) private key, PKCS#8, 0600
	AuditPublicKeyFile = "audit_key.pub.pem" // its public key, for auditors
	AuditAnchorFile    = "audit_anchor.json" // the newest sealed entry, 0600
)

// ErrAuditKeyPermissions is returned for an audit key that group or others
// can access.
var ErrAuditKeyPermissions = errors.New("audit key file is accessible by group or others")

// ErrAuditKeyNotLoaded is returned for a write to a sealed audit log by a
// store opened without the audit key (AuditKeyFile).
var ErrAuditKeyNotLoaded = errors.New("the audit log is sealed but the audit key is not loaded")

// auditSealDomain prefixes what the audit key signs, so a signature over an
// audit hash can never be taken for any other signature by the same key.
const auditSealDomain = "scca audit seal v1\x00"

// AuditSeal anchors the audit log outside the database. Every appended
// entry is signed (its "seal") with Key, and after each commit AnchorPath
// records the newest entry's id and hash. A database writer without the key
// can then neither rewrite an entry (its seal breaks) nor cut the tail and
// move the head back (the anchor still names the lost entry).
type AuditSeal struct {
	// Key signs new entries: an *ecdsa.PrivateKey on P-256 (what
	// NewAuditKey makes) or an ed25519.PrivateKey (what it made before). A
	// store whose seal has no Key refuses to append, rather than write
	// entries that verification would reject.
	Key crypto.Signer
	// Public verifies seals (*ecdsa.PublicKey or ed25519.PublicKey); it
	// must match Key when both are set.
	Public crypto.PublicKey
	// AnchorPath is the anchor file; "" keeps no anchor (then only seals
	// protect the log, and a cut-off tail goes unnoticed).
	AnchorPath string
	// SealedFrom is the first entry id that must be sealed; entries before
	// it were written before the key existed. It is kept in the public key
	// file, outside the database, so stripping seals cannot pass entries
	// off as older than the key. 0 means 1: every entry.
	SealedFrom int64

	// loading is the private key LoadAuditSeal parses in the background;
	// ready moves it into Key once.
	loading *keyLoad
	ready   sync.Once
	loadErr error
}

// keyLoad is a private key being parsed by another goroutine.
type keyLoad struct {
	done chan struct{}
	key  crypto.Signer
	err  error
}

// Ready waits for the private key that LoadAuditSeal parses in the
// background and reports whether it is unusable (malformed, or not the
// public key's pair). Parsing a key costs a fraction of a millisecond
// (an Ed25519 key, from before P-256 audit keys, builds the process's base
// point table: several milliseconds), which a short command such as
// `scca issue` overlaps with opening the inventory. Callers that loaded the
// seal call Ready before relying on it; signing waits for it too.
func (s *AuditSeal) Ready() error {
	if s == nil {
		return nil
	}
	s.ready.Do(func() {
		if s.loading == nil {
			return
		}
		<-s.loading.done
		s.Key, s.loadErr = s.loading.key, s.loading.err
	})
	return s.loadErr
}

// sealedFromHeader is the PEM header of the public key file that holds
// AuditSeal.SealedFrom.
const sealedFromHeader = "Sealed-From"

// sealSize is a seal's length in bytes: an Ed25519 signature, or an ECDSA
// P-256 signature as r||s, each 32 bytes big-endian (the fixed-size form of
// RFC 7518 §3.4 and WebCrypto). Both fit the 128 hex digits of
// audit_log.seal.
const sealSize = 64

// sign seals an entry hash, signing auditSealDomain+hash.
//
// Key choice: new audit keys are ECDSA P-256. Go keeps P-256's base point
// multiples as a table compiled into the binary, so a key loads and signs
// in tens of microseconds, while an Ed25519 key first builds its table at
// run time (about 11 million instructions): the larger part of a short
// `scca issue` once, and paid again by every process. Ed25519 keys made
// before keep working.
//
// Nonces: Ed25519 signing is deterministic (RFC 8032 §5.1.6) and takes no
// randomness. ECDSA's per-signature secret comes from crypto/ecdsa, which
// derives it from the private key and the digest together with fresh
// randomness from crypto/rand (hedged signing): a nonce neither repeats
// across digests nor depends on the randomness alone, so a weak random
// source cannot leak the key through nonce reuse.
func (s *AuditSeal) sign(hash string) (string, error) {
	msg := []byte(auditSealDomain + hash)
	switch k := s.Key.(type) {
	case ed25519.PrivateKey:
		return hex.EncodeToString(ed25519.Sign(k, msg)), nil
	case *ecdsa.PrivateKey:
		digest := sha256.Sum256(msg)
		r, ss, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return "", fmt.Errorf("seal audit entry: %w", err)
		}
		sig := make([]byte, sealSize)
		r.FillBytes(sig[:sealSize/2])
		ss.FillBytes(sig[sealSize/2:])
		return hex.EncodeToString(sig), nil
	default:
		return "", fmt.Errorf("seal audit entry: unsupported audit key %T", s.Key)
	}
}

// verify reports whether seal is a valid signature of hash.
func (s *AuditSeal) verify(hash, seal string) bool {
	sig, err := hex.DecodeString(seal)
	if err != nil || len(sig) != sealSize {
		return false
	}
	msg := []byte(auditSealDomain + hash)
	switch pub := s.Public.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(pub, msg, sig)
	case *ecdsa.PublicKey:
		digest := sha256.Sum256(msg)
		r := new(big.Int).SetBytes(sig[:sealSize/2])
		ss := new(big.Int).SetBytes(sig[sealSize/2:])
		return ecdsa.Verify(pub, digest[:], r, ss)
	default:
		return false
	}
}

// NewAuditKey creates the audit key pair in dir (private key 0600, public
// key 0644), refusing to replace an existing key. Entries from id
// sealedFrom on must be sealed (1 for a new log; head+1 when an existing log
// gets a key). rnd nil means crypto/rand, the only acceptable source
// outside tests.
func NewAuditKey(dir string, sealedFrom int64, rnd io.Reader) error {
	if rnd == nil {
		rnd = rand.Reader
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return fmt.Errorf("generate audit key: %w", err)
	}
	pub := priv.Public()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("encode audit key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("encode audit key: %w", err)
	}
	if err := atomicfile.Create(filepath.Join(dir, AuditKeyFile),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("write audit key: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, AuditPublicKeyFile),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER,
			Headers: map[string]string{sealedFromHeader: strconv.FormatInt(max(sealedFrom, 1), 10)}}), 0o644); err != nil {
		return fmt.Errorf("write audit public key: %w", err)
	}
	return nil
}

// LoadAuditSeal reads the audit seal of the CA directory dir. It returns
// nil, nil when dir has no audit key at all (an unsealed log). The private
// key is loaded when this user may read it; otherwise the seal can only
// verify. A private key that group or others can access is refused. The
// key file is read here and parsed in the background: call Ready for the
// outcome.
func LoadAuditSeal(dir string) (*AuditSeal, error) {
	seal := &AuditSeal{AnchorPath: filepath.Join(dir, AuditAnchorFile)}
	pubPEM, err := os.ReadFile(filepath.Join(dir, AuditPublicKeyFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, kerr := os.Stat(filepath.Join(dir, AuditKeyFile)); kerr == nil {
			return nil, fmt.Errorf("%s exists without %s", AuditKeyFile, AuditPublicKeyFile)
		}
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read audit public key: %w", err)
	}
	if seal.Public, seal.SealedFrom, err = parseAuditPublic(pubPEM); err != nil {
		return nil, err
	}
	keyPath := filepath.Join(dir, AuditKeyFile)
	fi, err := os.Stat(keyPath)
	if err != nil {
		return seal, nil // verify-only: the private key is elsewhere or not ours
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o", ErrAuditKeyPermissions, keyPath, fi.Mode().Perm())
	}
	keyPEM, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrPermission) {
		return seal, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit key: %w", err)
	}
	seal.loading = &keyLoad{done: make(chan struct{})}
	go func(l *keyLoad, pub crypto.PublicKey) {
		defer close(l.done)
		if l.key, l.err = parseAuditKey(keyPEM); l.err == nil && !samePublic(pub, l.key.Public()) {
			l.key, l.err = nil, fmt.Errorf("%s does not match %s", AuditKeyFile, AuditPublicKeyFile)
		}
	}(seal.loading, seal.Public)
	return seal, nil
}

func parseAuditPublic(data []byte) (crypto.PublicKey, int64, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, 0, fmt.Errorf("%s: no PUBLIC KEY PEM block", AuditPublicKeyFile)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", AuditPublicKeyFile, err)
	}
	if !auditKeyType(k) {
		return nil, 0, fmt.Errorf("%s: not an ECDSA P-256 or Ed25519 key", AuditPublicKeyFile)
	}
	from := int64(1) // no header: every entry must be sealed
	if h, ok := block.Headers[sealedFromHeader]; ok {
		if from, err = strconv.ParseInt(h, 10, 64); err != nil || from < 1 {
			return nil, 0, fmt.Errorf("%s: malformed %s header", AuditPublicKeyFile, sealedFromHeader)
		}
	}
	return k, from, nil
}

func parseAuditKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no PRIVATE KEY PEM block", AuditKeyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", AuditKeyFile, err)
	}
	priv, ok := k.(crypto.Signer)
	if !ok || !auditKeyType(priv.Public()) {
		return nil, fmt.Errorf("%s: not an ECDSA P-256 or Ed25519 key", AuditKeyFile)
	}
	return priv, nil
}

// auditKeyType reports whether pub is of a kind an audit key may be:
// ECDSA on P-256, or Ed25519.
func auditKeyType(pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return true
	}
	return false
}

// samePublic reports whether two audit public keys are the same key.
func samePublic(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// auditAnchor is the anchor file's content: the newest committed entry.
type auditAnchor struct {
	ID   int64  `json:"id"`
	Hash string `json:"hash"`
}

// readAnchor returns the anchor, or ok=false when there is none yet (a new
// CA). An anchor that exists but cannot be read or parsed is an error
// wrapping ErrAnchorUnreadable or ErrAnchorMalformed, never taken for
// absent: that would switch the check off for whoever can damage the file.
func (s *AuditSeal) readAnchor() (a auditAnchor, ok bool, err error) {
	if s.AnchorPath == "" {
		return a, false, nil
	}
	data, err := os.ReadFile(s.AnchorPath)
	if errors.Is(err, fs.ErrNotExist) {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("%w: %w", ErrAnchorUnreadable, err)
	}
	if err := json.Unmarshal(data, &a); err != nil || a.ID < 1 || !isHash(a.Hash) {
		return auditAnchor{}, false, fmt.Errorf("%w: %s does not hold the id and hash of an audit entry", ErrAnchorMalformed, s.AnchorPath)
	}
	return a, true, nil
}

// advanceAnchor moves the anchor forward to (id, hash), never back (see
// anchorStage.commit).
func (s *AuditSeal) advanceAnchor(ctx context.Context, id int64, hash string) error {
	return s.stageAnchor(id, hash).commit(ctx)
}

// isHash reports whether h is 64 lower-case hex digits.
func isHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
