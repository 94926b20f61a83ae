package revocation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/securechat/scca/inventory"
)

// DefaultCRLValidity is the time between a CRL's thisUpdate and nextUpdate
// when CRLConfig.Validity is zero.
const DefaultCRLValidity = 7 * 24 * time.Hour

// CRLStore is what CRL generation needs from the inventory: the issuer's
// revoked certificates, streamed, and a fresh CRL number.
type CRLStore interface {
	Revoked(ctx context.Context, issuerKeyID string, fn func(inventory.RevokedEntry) error) error
	NextCRLNumber(ctx context.Context, issuerKeyID string) (int64, error)
}

// CRLConfig says who signs a CRL and for how long it is valid.
type CRLConfig struct {
	Issuer   *x509.Certificate // the CA whose certificates the CRL covers
	Signer   crypto.Signer     // the CA's private key
	Validity time.Duration     // nextUpdate - thisUpdate; 0 means DefaultCRLValidity
	Now      func() time.Time  // nil means time.Now
}

// CRLInfo describes a generated CRL.
type CRLInfo struct {
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
	Entries    int
	PEMPath    string
	DERPath    string
}

var (
	oidExtAuthorityKeyID = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidExtCRLNumber      = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidExtReasonCode     = asn1.ObjectIdentifier{2, 5, 29, 21}

	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidEd25519         = asn1.ObjectIdentifier{1, 3, 101, 112}
)

// sigAlg is the signature algorithm used for a key: the same choices
// crypto/x509 makes for certificates, so CRLs and certificates from one CA
// agree.
type sigAlg struct {
	oid       asn1.ObjectIdentifier
	nullParam bool // RSA PKCS #1 v1.5 identifiers carry an explicit NULL
	hash      crypto.Hash
}

func signatureAlgorithm(pub crypto.PublicKey) (sigAlg, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return sigAlg{oidSHA256WithRSA, true, crypto.SHA256}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return sigAlg{oidECDSAWithSHA256, false, crypto.SHA256}, nil
		case elliptic.P384():
			return sigAlg{oidECDSAWithSHA384, false, crypto.SHA384}, nil
		case elliptic.P521():
			return sigAlg{oidECDSAWithSHA512, false, crypto.SHA512}, nil
		}
	case ed25519.PublicKey:
		return sigAlg{oidEd25519, false, 0}, nil
	}
	return sigAlg{}, fmt.Errorf("unsupported CRL signing key type %T", pub)
}

func (a sigAlg) marshal(b *cryptobyte.Builder) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(a.oid)
		if a.nullParam {
			b.AddASN1NULL()
		}
	})
}

// GenerateCRL builds a complete RFC 5280 v2 CRL (DER) for cfg.Issuer from
// the inventory: a freshly allocated CRL number, thisUpdate/nextUpdate, the
// authority key identifier, and one entry per revoked certificate of that
// issuer with its reason code.
//
// The entries are streamed from the store straight into the DER encoding,
// so memory stays close to the size of the CRL itself even for a million
// entries (x509.CreateRevocationList needs every entry as a Go value first).
func GenerateCRL(ctx context.Context, st CRLStore, cfg CRLConfig) ([]byte, CRLInfo, error) {
	if err := cfg.check(); err != nil {
		return nil, CRLInfo{}, err
	}
	alg, err := signatureAlgorithm(cfg.Signer.Public())
	if err != nil {
		return nil, CRLInfo{}, err
	}
	keyID := hex.EncodeToString(cfg.Issuer.SubjectKeyId)
	now := cfg.now().UTC().Truncate(time.Second)
	info := CRLInfo{ThisUpdate: now, NextUpdate: now.Add(cfg.validity())}
	// The list is read first, then the number is allocated (in its own
	// store transaction, so two publishers never share one; a failure later
	// only leaves a gap, which RFC 5280 §5.2.3 allows). In that order every
	// revocation CRL #N lists committed before N was allocated, so a copy
	// of the inventory whose counter has reached N holds all of them: the
	// check PublishCRL makes after a restore (catchUp) can skip a copy that
	// is not behind the published number. The other order let a revocation
	// commit between the two, listed in #N yet missing from a copy taken
	// then, and a CRL from that copy dropped it. PublishCRL holds the
	// publish lock across both steps, so no other publisher comes between.
	entries, n, err := revokedEntries(ctx, st, keyID)
	if err != nil {
		return nil, CRLInfo{}, err
	}
	info.Entries = n
	if info.Number, err = st.NextCRLNumber(ctx, keyID); err != nil {
		return nil, CRLInfo{}, fmt.Errorf("allocate crl number: %w", err)
	}
	tbs, err := buildTBSCertList(entries, cfg.Issuer, alg, info)
	if err != nil {
		return nil, CRLInfo{}, err
	}
	der, err := signCertList(tbs, alg, cfg.Signer)
	if err != nil {
		return nil, CRLInfo{}, err
	}
	return der, info, nil
}

func (cfg CRLConfig) check() error {
	if cfg.Issuer == nil || cfg.Signer == nil {
		return errors.New("crl: issuer certificate and signer are required")
	}
	if len(cfg.Issuer.SubjectKeyId) == 0 {
		return errors.New("crl: issuer certificate has no subject key identifier")
	}
	if cfg.Validity < 0 {
		return errors.New("crl: validity must not be negative")
	}
	return nil
}

func (cfg CRLConfig) now() time.Time {
	if cfg.Now != nil {
		return cfg.Now()
	}
	return time.Now()
}

func (cfg CRLConfig) validity() time.Duration {
	if cfg.Validity == 0 {
		return DefaultCRLValidity
	}
	return cfg.Validity
}

// revokedEntries streams the issuer's revoked certificates from the store
// into the DER of revokedCertificates' elements, returning how many.
func revokedEntries(ctx context.Context, st CRLStore, keyID string) ([]byte, int, error) {
	var entries, scratch []byte
	n := 0
	err := st.Revoked(ctx, keyID, func(e inventory.RevokedEntry) error {
		var err error
		entries, scratch, err = appendEntry(entries, scratch, e)
		n++
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read revoked certificates: %w", err)
	}
	return entries, n, nil
}

// buildTBSCertList encodes RFC 5280 §5.1.2 TBSCertList around the
// revokedCertificates elements in entries.
func buildTBSCertList(entries []byte, issuer *x509.Certificate, alg sigAlg, info CRLInfo) ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, len(entries)+1024))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1) // version v2, required when extensions are present
		alg.marshal(b)
		b.AddBytes(issuer.RawSubject)
		addTime(b, info.ThisUpdate)
		addTime(b, info.NextUpdate)
		// An empty revokedCertificates must be omitted, not encoded empty.
		if info.Entries > 0 {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(entries) })
		}
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addExtension(b, oidExtAuthorityKeyID, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						// keyIdentifier [0] IMPLICIT OCTET STRING
						b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(issuer.SubjectKeyId) })
					})
				})
				addExtension(b, oidExtCRLNumber, func(b *cryptobyte.Builder) { b.AddASN1Int64(info.Number) })
			})
		})
	})
	tbs, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encode crl: %w", err)
	}
	return tbs, nil
}

// reasonExtPrefix is the DER of crlEntryExtensions holding one reasonCode
// extension, up to the one-byte ENUMERATED value that follows it:
// SEQUENCE { SEQUENCE { OID 2.5.29.21, OCTET STRING { ENUMERATED } } }.
var reasonExtPrefix = []byte{0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01}

// appendEntry appends the DER of one revokedCertificates element to dst.
// It is called once per revoked certificate, up to millions of times per
// CRL, so it encodes by hand with no allocation per entry: the serial goes
// from its inventory hex straight to the INTEGER's bytes (through scratch,
// returned for reuse), and the time is formatted digit by digit. A reason of
// unspecified (0) is left out, as RFC 5280 §5.3.1 asks.
func appendEntry(dst, scratch []byte, e inventory.RevokedEntry) ([]byte, []byte, error) {
	serial, err := appendSerial(scratch[:0], e.Serial)
	if err != nil {
		return dst, scratch, err
	}
	if e.Reason < 0 || e.Reason > 0x7f {
		return dst, serial, fmt.Errorf("reason code %d of serial %s in inventory", e.Reason, e.Serial)
	}
	at := e.RevokedAt.UTC()
	if at.Year() < 0 || at.Year() > 9999 {
		return dst, serial, fmt.Errorf("revocation time %s of serial %s cannot be encoded", at, e.Serial)
	}
	n := 1 + lengthSize(len(serial)) + len(serial) + timeSize(at)
	if e.Reason > 0 {
		n += len(reasonExtPrefix) + 1
	}
	dst = appendHeader(dst, 0x30, n) // SEQUENCE
	dst = appendHeader(dst, 0x02, len(serial))
	dst = append(dst, serial...)
	dst = appendTime(dst, at)
	if e.Reason > 0 {
		dst = append(append(dst, reasonExtPrefix...), byte(e.Reason))
	}
	return dst, serial, nil
}

// appendSerial appends the content octets of the DER INTEGER for a positive
// serial in hex: minimal, with a leading zero byte when the top bit is set.
// Anything but hex digits, and zero, is ErrMalformedSerial.
func appendSerial(dst []byte, hexSerial string) ([]byte, error) {
	s := hexSerial
	for len(s) > 0 && s[0] == '0' {
		s = s[1:]
	}
	if s == "" {
		return dst, fmt.Errorf("%w: %q in inventory", ErrMalformedSerial, hexSerial)
	}
	first, ok := unhex(s[0])
	if len(s)%2 == 0 {
		lo, ok2 := unhex(s[1])
		first, ok, s = first<<4|lo, ok && ok2, s[2:]
	} else {
		s = s[1:]
	}
	if first >= 0x80 {
		dst = append(dst, 0)
	}
	dst = append(dst, first)
	for i := 0; ok && i < len(s); i += 2 {
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		dst, ok = append(dst, hi<<4|lo), ok1 && ok2
	}
	if !ok {
		return dst, fmt.Errorf("%w: %q in inventory", ErrMalformedSerial, hexSerial)
	}
	return dst, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// lengthSize is the size of the DER length octets for a content of n bytes.
func lengthSize(n int) int {
	size := 1
	for ; n > 0x7f; n >>= 8 {
		size++
	}
	return size
}

// appendHeader appends a DER tag and definite length.
func appendHeader(dst []byte, tag byte, n int) []byte {
	dst = append(dst, tag)
	if n <= 0x7f {
		return append(dst, byte(n))
	}
	size := lengthSize(n) - 1
	dst = append(dst, 0x80|byte(size))
	for i := size - 1; i >= 0; i-- {
		dst = append(dst, byte(n>>(8*i)))
	}
	return dst
}

// timeSize is the encoded size of appendTime's output for t.
func timeSize(t time.Time) int {
	if y := t.Year(); y >= 1950 && y < 2050 {
		return 2 + len("YYMMDDhhmmssZ")
	}
	return 2 + len("YYYYMMDDhhmmssZ")
}

// appendTime appends a UTC t, to the second, as RFC 5280 §5.1.2.4 requires:
// UTCTime for 1950 through 2049, GeneralizedTime otherwise. t.Year() must be
// in 0..9999.
func appendTime(dst []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	if year >= 1950 && year < 2050 {
		dst = append(dst, 0x17, 13)
		dst = append2(dst, year%100)
	} else {
		dst = append(dst, 0x18, 15)
		dst = append2(append2(dst, year/100), year%100)
	}
	dst = append2(append2(append2(dst, int(month)), day), hour)
	return append(append2(append2(dst, minute), sec), 'Z')
}

// append2 appends v (0..99) as two decimal digits.
func append2(dst []byte, v int) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }

func addExtension(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, value cryptobyte.BuilderContinuation) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid) // non-critical: critical defaults to FALSE and is omitted
		b.AddASN1(cbasn1.OCTET_STRING, value)
	})
}

// addTime encodes a Time as RFC 5280 §5.1.2.4 requires: UTCTime through
// 2049, GeneralizedTime from 2050.
func addTime(b *cryptobyte.Builder, t time.Time) {
	t = t.UTC().Truncate(time.Second)
	if t.Year() < 2050 {
		b.AddASN1UTCTime(t)
	} else {
		b.AddASN1GeneralizedTime(t)
	}
}

func signCertList(tbs []byte, alg sigAlg, signer crypto.Signer) ([]byte, error) {
	digest := tbs
	var opts crypto.SignerOpts = crypto.Hash(0) // Ed25519 signs the message itself
	if alg.hash != 0 {
		h := alg.hash.New()
		h.Write(tbs)
		digest = h.Sum(nil)
		opts = alg.hash
	}
	sig, err := signer.Sign(rand.Reader, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("sign crl: %w", err)
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, len(tbs)+len(sig)+64))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		alg.marshal(b)
		b.AddASN1BitString(sig)
	})
	return b.Bytes()
}
