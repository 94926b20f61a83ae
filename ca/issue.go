package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/securechat/scca/inventory"
)

// maxSerialRetries is how many times a serial the inventory already holds is
// replaced by a fresh one before giving up. With 128-bit random serials a
// single duplicate already means a broken random source or a replayed
// request, so a few tries are plenty.
const maxSerialRetries = 3

// errNoStore is returned when an Authority without a Recorder is asked to
// issue: nothing may be handed out that the inventory has not recorded.
var errNoStore = errors.New("no inventory store configured: certificates cannot be issued without recording them")

// IssueRequest describes a leaf certificate to issue.
type IssueRequest struct {
	Profile  Profile
	CN       string
	DNSNames []string
	IPs      []net.IP
	Validity time.Duration // 0 = the profile's default; clamped to the issuer
	KeyType  KeyType       // "" = DefaultKeyType
	CertOut  string        // "" = Dir/<cn>_cert.pem
	KeyOut   string        // "" = Dir/<cn>_key.pem
	Actor    string        // "" = the Authority's actor
	// Replace lets a client certificate take over a CN (or a look-alike)
	// that an active client certificate holds: the old one is revoked as
	// superseded in the same transaction. Without it that is refused with
	// certstore.ErrIdentityTaken.
	Replace bool
	// Chain also writes ChainPath(cert path): the certificate followed by
	// the intermediate, staged and linked with the key and certificate.
	Chain bool
}

// Issued is the result of Issue or SignCSR.
type Issued struct {
	Serial    string // lower-case hex
	Cert      *x509.Certificate
	CertPath  string
	KeyPath   string            // "" for SignCSR
	ChainPath string            // "" unless the request asked for the chain
	Replaced  *inventory.Record // the certificate revoked as superseded, or nil
	Clamped   bool              // the requested validity was cut to the issuer's expiry
}

// Superseder records a certificate that takes over a client identity,
// revoking the previous holder in the same transaction and returning it
// (nil when there was none). certstore.Store implements it; the Recorder
// must, for requests with Replace.
type Superseder interface {
	Supersede(ctx context.Context, rec inventory.Record) (*inventory.Record, error)
}

// leafSpec is a validated IssueRequest.
type leafSpec struct {
	profile  profileRow
	cn       string
	dns      []string
	ips      []net.IP
	emails   []string
	validity time.Duration
	clamp    bool // validity was asked for, not the profile's default
	actor    string
	replace  bool
}

func (a *Authority) leafSpec(req IssueRequest) (leafSpec, error) {
	p, err := lookupProfile(req.Profile)
	if err != nil {
		return leafSpec{}, err
	}
	if err := checkCN(req.CN); err != nil {
		return leafSpec{}, err
	}
	dns, ips, err := subjectAltNames(p.name, req.CN, req.DNSNames, req.IPs)
	if err != nil {
		return leafSpec{}, err
	}
	emails, err := emailSANs(p, req.CN)
	if err != nil {
		return leafSpec{}, err
	}
	validity := req.Validity
	asked := validity != 0
	if validity == 0 {
		validity = p.validity
	} else if validity < 0 {
		return leafSpec{}, fmt.Errorf("validity must be positive, got %s", validity)
	}
	actor := req.Actor
	if actor == "" {
		actor = a.actor
	}
	return leafSpec{profile: p, cn: req.CN, dns: dns, ips: ips, emails: emails, validity: validity, clamp: asked, actor: actor, replace: req.Replace}, nil
}

// signLeaf builds and signs one leaf certificate for pub with a fresh serial.
func (a *Authority) signLeaf(s leafSpec, pub crypto.PublicKey) (*x509.Certificate, error) {
	issuer := a.Issuer()
	notBefore, notAfter, err := validityWindow(a.now(), s.validity, issuer)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial(a.rand)
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: s.cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              s.profile.keyUsageFor(pub),
		ExtKeyUsage:           s.profile.extKeyUsage,
		BasicConstraintsValid: true, // CA:FALSE, marked critical by crypto/x509
		DNSNames:              s.dns,
		IPAddresses:           s.ips,
		EmailAddresses:        s.emails,
		ExtraExtensions:       s.profile.extensions,
		SubjectKeyId:          ski,
		AuthorityKeyId:        issuer.SubjectKeyId,
	}
	// caIssuers must name a DER certificate (RFC 5280 §4.2.2.1).
	a.addRevocationURLs(tmpl, "/crl", "/ca.der")
	return a.sign(tmpl, issuer, pub, a.signer)
}

// addRevocationURLs points a certificate at its issuer's CRL and
// certificate on the base URL, and at the OCSP responder, when a base URL
// is configured. Leaves use the leaf issuer's paths; an intermediate uses
// the root's, served by `scca serve` (its CRL lists revoked intermediates).
func (a *Authority) addRevocationURLs(tmpl *x509.Certificate, crlPath, issuerPath string) {
	if a.baseURL == "" {
		return
	}
	tmpl.CRLDistributionPoints = []string{a.baseURL + crlPath}
	tmpl.OCSPServer = []string{a.baseURL + "/ocsp"}
	tmpl.IssuingCertificateURL = []string{a.baseURL + issuerPath}
}

// sign creates the certificate and parses it back, so callers see exactly
// what was encoded (times truncated to seconds, names normalized).
func (a *Authority) sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*x509.Certificate, error) {
	// The reader is used for the signature nonce where the algorithm takes
	// one (Go substitutes its own CSPRNG for ECDSA and RSA-PSS; Ed25519 and
	// RSA PKCS#1 v1.5 are deterministic).
	der, err := x509.CreateCertificate(a.rand, tmpl, parent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// signAndRecord signs leaves with fresh serials until the inventory accepts
// one. p, when not nil, stages each signed certificate's files and puts its
// serial in the journal before the row is inserted (prepare).
func (a *Authority) signAndRecord(ctx context.Context, s leafSpec, pub crypto.PublicKey, p *pendingIssue) (*x509.Certificate, *inventory.Record, error) {
	if a.store == nil {
		return nil, nil, errNoStore
	}
	insert := func(rec inventory.Record) (*inventory.Record, error) { return nil, a.store.Insert(ctx, rec) }
	if s.replace {
		sup, ok := a.store.(Superseder)
		if !ok {
			return nil, nil, errors.New("this inventory cannot replace certificates")
		}
		insert = func(rec inventory.Record) (*inventory.Record, error) { return sup.Supersede(ctx, rec) }
	}
	if err := a.CheckNotRevoked(ctx); err != nil {
		return nil, nil, err
	}
	for attempt := 0; ; attempt++ {
		cert, err := a.signLeaf(s, pub)
		if err != nil {
			return nil, nil, err
		}
		if p != nil {
			if err := p.prepare(cert); err != nil {
				return nil, nil, err
			}
		}
		replaced, err := insert(a.record(cert, s.profile.recordType, s.actor))
		if err == nil {
			return cert, replaced, nil
		}
		dup := errors.Is(err, inventory.ErrDuplicate)
		if !dup && p != nil {
			// The commit may have happened with its reply lost: ask,
			// rather than delete the files of a row that exists.
			switch recorded, lerr := a.wasRecorded(ctx, cert); {
			case lerr != nil:
				p.keep = true
				return nil, nil, fmt.Errorf("record certificate %s for %q: %w (%w: %v)", serialHex(cert), s.cn, err, ErrOutcomeUnknown, lerr)
			case recorded:
				return cert, replaced, nil
			}
		}
		if !dup || attempt == maxSerialRetries {
			return nil, nil, fmt.Errorf("record certificate %s for %q: %w", serialHex(cert), s.cn, err)
		}
	}
}

// lookupTimeout bounds the check after a failed insert, which runs even if
// the caller's context has ended.
const lookupTimeout = 10 * time.Second

// wasRecorded asks the inventory whether cert's row exists.
func (a *Authority) wasRecorded(ctx context.Context, cert *x509.Certificate) (bool, error) {
	inv, ok := a.store.(Inventory)
	if !ok {
		return false, nil // a plain Recorder's errors are taken at their word
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
	defer cancel()
	rec, err := inv.Get(ctx, hex.EncodeToString(cert.AuthorityKeyId), serialHex(cert))
	if errors.Is(err, inventory.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return bytes.Equal(rec.DER, cert.Raw), nil
}

// record builds the inventory row for cert.
func (a *Authority) record(cert *x509.Certificate, typ, actor string) inventory.Record {
	sans := make([]string, 0, len(cert.DNSNames)+len(cert.IPAddresses))
	sans = append(sans, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		sans = append(sans, ip.String())
	}
	sum := sha256.Sum256(cert.Raw)
	return inventory.Record{
		Serial:      serialHex(cert),
		IssuerKeyID: hex.EncodeToString(cert.AuthorityKeyId),
		Type:        typ,
		CN:          cert.Subject.CommonName,
		SANs:        sans,
		NotBefore:   cert.NotBefore.UTC(),
		NotAfter:    cert.NotAfter.UTC(),
		Status:      inventory.StatusActive,
		Fingerprint: hex.EncodeToString(sum[:]),
		DER:         cert.Raw,
		IssuedAt:    a.now().UTC(),
		IssuedBy:    actor,
	}
}

func serialHex(cert *x509.Certificate) string { return cert.SerialNumber.Text(16) }

// Certify builds, signs and records a leaf certificate for pub, without
// writing any file. req's KeyType, CertOut and KeyOut are ignored.
func (a *Authority) Certify(ctx context.Context, pub crypto.PublicKey, req IssueRequest) (*x509.Certificate, error) {
	s, err := a.leafSpec(req)
	if err != nil {
		return nil, err
	}
	if err := checkPublicKey(pub); err != nil {
		return nil, err
	}
	cert, _, err := a.signAndRecord(ctx, s, pub, nil)
	return cert, err
}

// Issue generates a key pair and issues a certificate for it, writing the
// key (0600, unencrypted, since services using leaf keys start unattended)
// and the certificate. It is all-or-nothing, even across a crash: the files
// appear only after the inventory row is committed, if recording fails no
// file is left, and an issuance interrupted at any point is finished or
// undone by Recover (see pending.go).
// Existing files are never overwritten (ErrFileExists).
func (a *Authority) Issue(ctx context.Context, req IssueRequest) (*Issued, error) {
	s, err := a.leafSpec(req)
	if err != nil {
		return nil, err
	}
	keyType, err := ParseKeyType(string(req.KeyType))
	if err != nil {
		return nil, err
	}
	stem := FileStem(s.cn)
	certPath := a.outPath(req.CertOut, stem+"_cert.pem")
	keyPath := a.outPath(req.KeyOut, stem+"_key.pem")
	if certPath == keyPath {
		return nil, fmt.Errorf("certificate and key output are the same file %s", certPath)
	}
	if err := checkAbsent(certPath, keyPath, chainTarget(req.Chain, certPath)); err != nil {
		return nil, err
	}
	if a.store == nil {
		return nil, errNoStore
	}
	key, err := GenerateKey(keyType, a.rand)
	if err != nil {
		return nil, err
	}
	keyPEM, err := EncodeKeyPEM(key, nil)
	if err != nil {
		return nil, err
	}
	p := a.newPending(keyPEM, req.Chain, journalFile{Role: roleKey, Path: keyPath}, journalFile{Role: roleCert, Path: certPath})
	defer p.close()
	ctx = p.context(ctx)
	cert, replaced, err := a.signAndRecord(ctx, s, key.Public(), p)
	if err != nil {
		return nil, err
	}
	if err := p.commit(ctx, cert); err != nil {
		return nil, err
	}
	return &Issued{Serial: serialHex(cert), Cert: cert, CertPath: certPath, KeyPath: keyPath,
		ChainPath: p.path(roleChain), Replaced: replaced, Clamped: a.clamped(s, cert)}, nil
}

// clamped reports whether an asked-for validity was cut to the issuer's
// expiry (validityWindow never lets a leaf outlive its issuer).
func (a *Authority) clamped(s leafSpec, cert *x509.Certificate) bool {
	return s.clamp && cert.NotAfter.Equal(a.Issuer().NotAfter.UTC()) && cert.NotAfter.Sub(cert.NotBefore) < s.validity
}

// chainTarget is ChainPath(certPath) when the chain is wanted, else "".
func chainTarget(want bool, certPath string) string {
	if !want {
		return ""
	}
	return ChainPath(certPath)
}

func (a *Authority) outPath(explicit, name string) string {
	if explicit != "" {
		return explicit
	}
	return filepath.Join(a.dir, name)
}
