package ca

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/securechat/scca/inventory"
)

// Profile is a fixed certificate shape. The profile alone decides key usage,
// extended key usage, basic constraints, which subject alternative names
// are allowed and any extra extensions; nothing a requester sends can change
// them. Every profile is one row of the profiles table.
type Profile string

// Leaf profiles.
const (
	ProfileServer Profile = "server"
	ProfileClient Profile = "client"
	// ProfileOCSPSigner is a delegated OCSP responder (RFC 6960 §4.2.2.2).
	ProfileOCSPSigner Profile = "ocsp-signer"
	// ProfileEmail is an S/MIME certificate for the address in its CN.
	ProfileEmail Profile = "email"
)

// ErrUnknownProfile is returned by ParseProfile for a name not in the table.
var ErrUnknownProfile = errors.New("unknown certificate profile")

// ParseProfile parses a profile name.
func ParseProfile(s string) (Profile, error) {
	if _, err := lookupProfile(Profile(s)); err != nil {
		return "", err
	}
	return Profile(s), nil
}

// Profiles lists every profile, in table order.
func Profiles() []Profile {
	out := make([]Profile, len(profiles))
	for i, r := range profiles {
		out[i] = r.name
	}
	return out
}

// Default validity periods. 397 days for servers is the CA/Browser Forum's
// ceiling, which keeps scca certificates acceptable to browsers should a
// deployment ever need that; clients and e-mail get a plain year. A
// delegated OCSP signer carries id-pkix-ocsp-nocheck, so nobody can check
// its own revocation: RFC 6960 §4.2.2.2.1 asks for a short lifetime
// instead. All are clamped to the issuer's NotAfter.
const (
	DefaultServerValidity       = 397 * 24 * time.Hour
	DefaultClientValidity       = 365 * 24 * time.Hour
	DefaultOCSPSignerValidity   = 30 * 24 * time.Hour
	DefaultEmailValidity        = 365 * 24 * time.Hour
	DefaultRootValidity         = 3653 * 24 * time.Hour // ten years, leap days included
	DefaultIntermediateValidity = 1827 * 24 * time.Hour // five years
)

// sanPolicy says which subject alternative names a profile carries.
type sanPolicy int

const (
	// sanHost: --dns/--ip names, plus the CN when it is a DNS name or an IP
	// address; at least one is required (TLS clients match only SANs).
	sanHost sanPolicy = iota + 1
	// sanExplicit: only the --dns/--ip names asked for; the CN is an
	// identity (a user or device name), not a host.
	sanExplicit
	// sanNone: no SANs at all; the certificate names a service by its CN.
	sanNone
	// sanEmailCN: the CN is an e-mail address and is the one rfc822Name.
	sanEmailCN
)

// oidOCSPNoCheck is id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1); its value
// is an ASN.1 NULL.
var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// asn1Null is the DER encoding of NULL.
var asn1Null = []byte{0x05, 0x00}

// profileRow is one profile: everything security-relevant about it.
type profileRow struct {
	name        Profile
	recordType  string // inventory.Type* recorded for its certificates
	validity    time.Duration
	extKeyUsage []x509.ExtKeyUsage
	// keyUsage is for every key type; rsaKeyUsage is added for RSA keys.
	keyUsage, rsaKeyUsage x509.KeyUsage
	sans                  sanPolicy
	extensions            []pkix.Extension
}

// profiles is the table. keyUsage is digitalSignature for every key (TLS 1.3
// and ECDHE handshakes sign, OCSP responses and S/MIME signatures too).
// keyEncipherment is added for RSA keys only where the key decrypts: TLS 1.2
// RSA key transport on a server, and S/MIME key transport to a mailbox. A
// TLS client never decrypts with its key, so keyEncipherment on a client
// certificate is inconsistent with clientAuth (RFC 5246 §7.4.6, zlint
// e_key_usage_and_extended_key_usage_inconsistent); RFC 8813 forbids it for
// ECDSA keys, and it is meaningless for Ed25519.
var profiles = []profileRow{
	{
		name: ProfileServer, recordType: inventory.TypeServer, validity: DefaultServerValidity,
		extKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		keyUsage:    x509.KeyUsageDigitalSignature, rsaKeyUsage: x509.KeyUsageKeyEncipherment,
		sans: sanHost,
	},
	{
		name: ProfileClient, recordType: inventory.TypeClient, validity: DefaultClientValidity,
		extKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		keyUsage:    x509.KeyUsageDigitalSignature,
		sans:        sanExplicit,
	},
	{
		name: ProfileOCSPSigner, recordType: inventory.TypeOCSPSigner, validity: DefaultOCSPSignerValidity,
		extKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		keyUsage:    x509.KeyUsageDigitalSignature,
		sans:        sanNone,
		extensions:  []pkix.Extension{{Id: oidOCSPNoCheck, Value: asn1Null}},
	},
	{
		name: ProfileEmail, recordType: inventory.TypeEmail, validity: DefaultEmailValidity,
		extKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		keyUsage:    x509.KeyUsageDigitalSignature, rsaKeyUsage: x509.KeyUsageKeyEncipherment,
		sans: sanEmailCN,
	},
}

// lookupProfile returns p's row; a name not in the table is an error, so a
// profile can never fall through to another's settings.
func lookupProfile(p Profile) (profileRow, error) {
	for _, r := range profiles {
		if r.name == p {
			return r, nil
		}
	}
	names := make([]string, len(profiles))
	for i, r := range profiles {
		names[i] = string(r.name)
	}
	return profileRow{}, fmt.Errorf("%w %q (valid: %s)", ErrUnknownProfile, string(p), strings.Join(names, ", "))
}

// keyUsageFor is the row's key usage for pub.
func (r profileRow) keyUsageFor(pub crypto.PublicKey) x509.KeyUsage {
	if isRSA(pub) {
		return r.keyUsage | r.rsaKeyUsage
	}
	return r.keyUsage
}

// clockSkew backdates every NotBefore so that a certificate is usable at
// once by peers whose clocks run slightly behind the CA's.
const clockSkew = time.Minute

// validityWindow returns [now-clockSkew, now+validity] with NotAfter clamped
// to the issuer's NotAfter (a certificate must not outlive its issuer, or it
// would fail path validation before its own expiry). Times are truncated to
// whole seconds, as X.509 encodes them.
func validityWindow(now time.Time, validity time.Duration, issuer *x509.Certificate) (time.Time, time.Time, error) {
	if validity <= 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("validity must be positive, got %s", validity)
	}
	now = now.UTC().Truncate(time.Second)
	notBefore := now.Add(-clockSkew)
	notAfter := now.Add(validity)
	if issuer != nil {
		if !now.Before(issuer.NotAfter) {
			return time.Time{}, time.Time{}, fmt.Errorf("issuing CA %q expired at %s", issuer.Subject.CommonName, issuer.NotAfter.UTC().Format(time.RFC3339))
		}
		if notAfter.After(issuer.NotAfter) {
			notAfter = issuer.NotAfter.UTC()
		}
		if notBefore.Before(issuer.NotBefore) {
			notBefore = issuer.NotBefore.UTC()
		}
	}
	return notBefore, notAfter, nil
}

// serialBits is the size of random serial numbers. RFC 5280 §4.1.2.2 caps
// serials at 20 octets and CA/B Forum asks for at least 64 bits of CSPRNG
// output; 128 bits makes a collision between honestly generated serials
// negligible, and the inventory's unique key catches the rest.
const serialBits = 128

// newSerial draws a 128-bit serial from rnd. The bytes are read as an
// unsigned big-endian integer, so the result is never negative; its DER
// encoding is at most 17 octets (16 plus a 0x00 sign octet when the high bit
// is set), well under the 20-octet limit. Zero, which RFC 5280 forbids, is
// drawn again (with probability 2^-128, so in practice only from a broken
// reader; the loop is bounded so a constant-zero reader cannot hang us).
func newSerial(rnd io.Reader) (*big.Int, error) {
	buf := make([]byte, serialBits/8)
	for range 4 {
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		if s := new(big.Int).SetBytes(buf); s.Sign() > 0 {
			return s, nil
		}
	}
	return nil, errors.New("generate serial number: random source returned only zeros")
}

// subjectKeyID computes the key identifier of RFC 7093 §2 method 1: the
// leftmost 160 bits of the SHA-256 hash of the subjectPublicKey BIT STRING.
// It is set explicitly on every certificate, CA or leaf (RFC 5280 §4.2.1.2
// says SHOULD for end entities, and zlint warns without it), and the issuer's
// value becomes each child's Authority Key Identifier and inventory key.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}

// caTemplate is the shape of root and intermediate certificates: keyCertSign
// and cRLSign (critical; Go always marks key usage critical), CA:TRUE
// (critical). The intermediate gets pathlen 0 so it can only sign leaves;
// the root needs no path length constraint. CA certificates carry no EKU.
// With a base URL the intermediate also gets a CRL distribution point and
// AIA pointing at the root's CRL and certificate (see newCA): the root's
// CRL is how relying parties learn that an intermediate was revoked. The
// self-signed root gets neither: it cannot be revoked (RFC 5280 §6.1), only
// replaced.
func caTemplate(cn string, serial *big.Int, notBefore, notAfter time.Time, ski []byte, intermediate bool) *x509.Certificate {
	t := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            -1,
		SubjectKeyId:          ski,
	}
	if intermediate {
		t.MaxPathLen = 0
		t.MaxPathLenZero = true
	}
	return t
}
