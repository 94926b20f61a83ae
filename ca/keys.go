package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/youmark/pkcs8"
)

// KeyType names a key algorithm and size.
type KeyType string

// Supported key types. ECDSA P-256 is the default: it is fast to generate and
// sign with, small on the wire, and universally supported (TLS 1.2/1.3,
// OpenSSL, browsers). RSA is offered for interoperability with old relying
// parties; below 2048 bits it is not offered at all.
const (
	KeyECDSAP256 KeyType = "ecdsa-p256"
	KeyECDSAP384 KeyType = "ecdsa-p384"
	KeyEd25519   KeyType = "ed25519"
	KeyRSA2048   KeyType = "rsa-2048"
	KeyRSA3072   KeyType = "rsa-3072"
	KeyRSA4096   KeyType = "rsa-4096"

	DefaultKeyType = KeyECDSAP256
)

// KeyTypes lists the supported key types, default first.
var KeyTypes = []KeyType{KeyECDSAP256, KeyECDSAP384, KeyEd25519, KeyRSA2048, KeyRSA3072, KeyRSA4096}

// ErrUnknownKeyType is returned by ParseKeyType and GenerateKey for a name
// that is not in KeyTypes.
var ErrUnknownKeyType = errors.New("unknown key type")

// ErrWrongPassphrase is returned when an encrypted key cannot be decrypted
// with the passphrase given (or no passphrase source was given at all).
var ErrWrongPassphrase = errors.New("wrong passphrase for encrypted key")

// ParseKeyType parses a key type name; the empty string means DefaultKeyType.
func ParseKeyType(s string) (KeyType, error) {
	if s == "" {
		return DefaultKeyType, nil
	}
	for _, t := range KeyTypes {
		if string(t) == strings.ToLower(s) {
			return t, nil
		}
	}
	return "", fmt.Errorf("%w %q (valid: %s)", ErrUnknownKeyType, s, joinKeyTypes())
}

func joinKeyTypes() string {
	names := make([]string, len(KeyTypes))
	for i, t := range KeyTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// GenerateKey creates a new private key of type t; the empty type means
// DefaultKeyType. A nil rand means crypto/rand.Reader.
//
// Randomness: since Go 1.26 the standard library ignores a non-default
// reader for ECDSA and RSA key generation (and ECDSA signing) unless
// GODEBUG=cryptocustomrand=1, so those keys always come from the operating
// system's CSPRNG whatever rnd is. Ed25519 still derives the key from 32
// bytes of rnd, which makes Ed25519 output reproducible under a fixed test
// reader and is why production callers must leave Rand nil or pass a CSPRNG.
func GenerateKey(t KeyType, rnd io.Reader) (crypto.Signer, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	switch t {
	case KeyECDSAP256, "":
		return ecdsa.GenerateKey(elliptic.P256(), rnd)
	case KeyECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rnd)
	case KeyEd25519:
		_, priv, err := ed25519.GenerateKey(rnd)
		return priv, err
	case KeyRSA2048:
		return rsa.GenerateKey(rnd, 2048)
	case KeyRSA3072:
		return rsa.GenerateKey(rnd, 3072)
	case KeyRSA4096:
		return rsa.GenerateKey(rnd, 4096)
	}
	return nil, fmt.Errorf("%w %q (valid: %s)", ErrUnknownKeyType, t, joinKeyTypes())
}

// PEM block types for keys.
const (
	pemPrivateKey          = "PRIVATE KEY"
	pemEncryptedPrivateKey = "ENCRYPTED PRIVATE KEY"
)

// keyEncryption is how EncodeKeyPEM protects a key under a passphrase:
// PBES2 (RFC 8018) with PBKDF2-HMAC-SHA256 and AES-256-CBC, the combination
// `openssl pkey`, `openssl pkcs8 -v2 aes-256-cbc` and every PKCS#8 reader
// understand. 600,000 PBKDF2 iterations follow OWASP's 2023 recommendation for
// PBKDF2-HMAC-SHA256; it costs a few hundred milliseconds once per CA load,
// which is fine for a key that is unlocked rarely. scrypt would be stronger
// per second spent, but OpenSSL's default scrypt memory cap (32 MiB) rejects
// parameters strong enough to be worth it. The 16-byte salt and the IV are
// drawn from crypto/rand by the pkcs8 package, independently of any injected
// Rand, so they are unique per encryption.
var keyEncryption = &pkcs8.Opts{
	Cipher: pkcs8.AES256CBC,
	KDFOpts: pkcs8.PBKDF2Opts{
		SaltSize:       16,
		IterationCount: 600_000,
		HMACHash:       crypto.SHA256,
	},
}

// EncodeKeyPEM encodes key as a PKCS#8 PEM block. With a non-nil passphrase
// the key is encrypted (see keyEncryption) and the block type is
// "ENCRYPTED PRIVATE KEY"; an empty non-nil passphrase is refused, since it
// would look encrypted while protecting nothing.
func EncodeKeyPEM(key crypto.Signer, passphrase []byte) ([]byte, error) {
	if passphrase == nil {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("encode private key: %w", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
	}
	if len(passphrase) == 0 {
		return nil, errors.New("encode private key: empty passphrase")
	}
	der, err := pkcs8.MarshalPrivateKey(key, passphrase, keyEncryption)
	if err != nil {
		return nil, fmt.Errorf("encrypt private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemEncryptedPrivateKey, Bytes: der}), nil
}

// ParseKeyPEM decodes a private key from the first PEM block in pemBytes.
// It accepts PKCS#8 (plain or encrypted with PBES2) and, for keys made by
// other tools, SEC 1 "EC PRIVATE KEY" and PKCS#1 "RSA PRIVATE KEY" blocks.
// passphrase is called only when the key is encrypted; the bytes it returns
// are zeroed after use.
func ParseKeyPEM(pemBytes []byte, passphrase PassphraseFunc) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("parse private key: no PEM block found")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case pemPrivateKey:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case pemEncryptedPrivateKey:
		key, err = decryptPKCS8(block.Bytes, passphrase)
	default:
		return nil, fmt.Errorf("parse private key: unexpected PEM block %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parse private key: %T cannot sign", key)
	}
	return signer, nil
}

// encryptedPrivateKeyInfo is RFC 5958 §3's EncryptedPrivateKeyInfo.
type encryptedPrivateKeyInfo struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte
}

var oidPBES2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}

// decryptPKCS8 checks the outer structure itself, so that once it is known to
// be well-formed PBES2, any failure to decrypt can honestly be reported as a
// wrong passphrase (CBC padding errors and garbage plaintext look the same).
func decryptPKCS8(der []byte, passphrase PassphraseFunc) (any, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 {
		return nil, errors.New("malformed encrypted PKCS#8 structure")
	}
	if !info.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("unsupported key encryption %s (want PBES2)", info.Algorithm.Algorithm)
	}
	if passphrase == nil {
		return nil, fmt.Errorf("%w: key is encrypted and no passphrase was supplied", ErrWrongPassphrase)
	}
	pass, err := passphrase()
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	// Best effort: the caller handed us the secret for this one use.
	defer clear(pass)
	if len(pass) == 0 {
		return nil, fmt.Errorf("%w: empty passphrase", ErrWrongPassphrase)
	}
	key, _, err := pkcs8.ParsePrivateKey(der, pass)
	if err != nil {
		// The pkcs8 error is deliberately dropped: it says nothing useful
		// beyond "did not decrypt", and must never echo key material.
		return nil, ErrWrongPassphrase
	}
	return key, nil
}

// LoadKeyFile reads and parses a private key file (see ParseKeyPEM).
func LoadKeyFile(path string, passphrase PassphraseFunc) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	key, err := ParseKeyPEM(data, passphrase)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// isRSA reports whether pub is an RSA key (the only kind for which the
// keyEncipherment usage makes sense: TLS 1.2 RSA key transport).
func isRSA(pub crypto.PublicKey) bool {
	_, ok := pub.(*rsa.PublicKey)
	return ok
}

// checkPublicKey accepts the public keys this CA is willing to certify, which
// are those GenerateKey can produce plus ECDSA P-521.
// RSA keys accepted for certification. Below 2048 bits is breakable
// (NIST SP 800-131A); above 8192 bits only makes every verifier slow, which a
// requester could use against the peers that check its certificate. The
// exponent is the one everybody uses (CA/B Forum BR §6.1.6 allows others,
// but exponent 3 and odd values invite implementation bugs).
const (
	minRSABits  = 2048
	maxRSABits  = 8192
	rsaExponent = 65537
)

func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return nil
	case *rsa.PublicKey:
		switch bits := k.N.BitLen(); {
		case bits < minRSABits:
			return fmt.Errorf("RSA key of %d bits is too small (minimum %d)", bits, minRSABits)
		case bits > maxRSABits:
			return fmt.Errorf("RSA key of %d bits is too large (maximum %d)", bits, maxRSABits)
		case k.E != rsaExponent:
			return fmt.Errorf("RSA public exponent %d is not allowed (want %d)", k.E, rsaExponent)
		}
		return nil
	}
	return fmt.Errorf("unsupported public key type %T", pub)
}
