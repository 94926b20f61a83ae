package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/securechat/scca/internal/atomicfile"
	"github.com/securechat/scca/inventory"
)

// File names inside the CA directory.
const (
	RootCertFile         = "root_ca.pem"
	RootKeyFile          = "root_ca_key.pem"
	IntermediateCertFile = "intermediate_ca.pem"
	IntermediateKeyFile  = "intermediate_ca_key.pem"

	// CRLPEMFile and CRLDERFile are the leaf issuer's CRL; RootCRLPEMFile
	// and RootCRLDERFile the root's own CRL (covering the intermediate)
	// when an intermediate issues the leaves.
	CRLPEMFile     = "crl.pem"
	CRLDERFile     = "crl.der"
	RootCRLPEMFile = "root_crl.pem"
	RootCRLDERFile = "root_crl.der"
)

// Errors callers branch on (the CLI turns them into hints).
var (
	ErrCAExists       = errors.New("a CA already exists in this directory")
	ErrNoCA           = errors.New("no CA found")
	ErrKeyPermissions = errors.New("private key file is accessible by group or others")
	ErrFileExists     = fmt.Errorf("output %w", atomicfile.ErrExists)
	ErrBadCSR         = errors.New("invalid certificate signing request")
	ErrBadBaseURL     = errors.New("invalid base URL")
)

// Recorder commits a certificate to the inventory. Insert must be durable
// when it returns nil, and must return an error wrapping
// inventory.ErrDuplicate when the issuer and serial are already recorded.
// certstore.Store implements it.
type Recorder interface {
	Insert(ctx context.Context, rec inventory.Record) error
}

// PassphraseFunc supplies the passphrase of an encrypted key. It is called
// only when a key is actually encrypted, and the returned bytes are zeroed
// after use.
type PassphraseFunc func() ([]byte, error)

// Authority is a loaded CA: its certificates and the issuing key. Its
// methods are safe for concurrent use provided the Recorder and the Rand
// reader are (crypto/rand and certstore.Store are).
type Authority struct {
	Root         *x509.Certificate
	Intermediate *x509.Certificate // nil when the root issues directly

	signer  crypto.Signer // the issuer's key
	dir     string
	store   Recorder
	baseURL string
	actor   string
	now     func() time.Time
	rand    io.Reader
}

// LoadOptions configures Load.
type LoadOptions struct {
	Dir        string
	Passphrase PassphraseFunc // called only if the issuing key is encrypted
	Store      Recorder       // required to issue; may be nil for read-only use
	BaseURL    string         // e.g. "http://ca.example:8080"; "" = no CRL/OCSP URLs
	Actor      string         // recorded as IssuedBy; "" = "scca"
	Now        func() time.Time
	Rand       io.Reader
}

// Load opens the CA in opts.Dir. Only the issuing key is read: with an
// intermediate, the root key is not needed and may be kept offline.
func Load(opts LoadOptions) (*Authority, error) {
	root, err := readCertFile(filepath.Join(opts.Dir, RootCertFile))
	if err != nil {
		return nil, err
	}
	if err := checkDirPrivate(opts.Dir); err != nil {
		return nil, err
	}
	a, err := newAuthority(opts.Dir, opts.Store, opts.BaseURL, opts.Actor, opts.Now, opts.Rand)
	if err != nil {
		return nil, err
	}
	a.Root = root
	keyFile := RootKeyFile
	inter, err := readCertFile(filepath.Join(opts.Dir, IntermediateCertFile))
	switch {
	case err == nil:
		if err := inter.CheckSignatureFrom(root); err != nil {
			return nil, fmt.Errorf("intermediate CA is not signed by the root: %w", err)
		}
		a.Intermediate = inter
		keyFile = IntermediateKeyFile
	case !errors.Is(err, ErrNoCA):
		return nil, err
	}
	if a.signer, err = loadCAKey(filepath.Join(opts.Dir, keyFile), opts.Passphrase); err != nil {
		return nil, err
	}
	if !publicKeysEqual(a.signer.Public(), a.Issuer().PublicKey) {
		return nil, fmt.Errorf("%s does not match %s", keyFile, a.Issuer().Subject.CommonName)
	}
	return a, nil
}

func newAuthority(dir string, store Recorder, baseURL, actor string, now func() time.Time, rnd io.Reader) (*Authority, error) {
	baseURL, err := checkBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	// crypto/rand is the only acceptable production source: serial numbers
	// and Ed25519 keys are drawn from it.
	if rnd == nil {
		rnd = rand.Reader
	}
	if actor == "" {
		actor = "scca"
	}
	return &Authority{dir: dir, store: store, baseURL: baseURL, actor: actor, now: now, rand: rnd}, nil
}

// checkBaseURL accepts "" or an absolute http(s) URL without query or
// fragment, and drops a trailing slash so "/crl" can be appended. (CRL and
// OCSP fetchers speak plain HTTP; the responses are signed.)
func checkBaseURL(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%w: %q (want http://host[:port][/path])", ErrBadBaseURL, s)
	}
	return strings.TrimSuffix(s, "/"), nil
}

// readCertFile reads one PEM certificate; a missing file is ErrNoCA.
func readCertFile(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoCA, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no CERTIFICATE PEM block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cert, nil
}

// loadCAKey refuses a CA key that group or others can access before reading
// it, the way ssh refuses a world-readable identity file: a leaked CA key
// compromises every certificate.
func loadCAKey(path string, passphrase PassphraseFunc) (crypto.Signer, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoCA, path)
	}
	if err != nil {
		return nil, fmt.Errorf("stat CA key: %w", err)
	}
	if err := checkKeyMode(path, fi); err != nil {
		return nil, err
	}
	return LoadKeyFile(path, passphrase)
}

// checkKeyMode refuses a private key file that group or others may read or
// write (ErrKeyPermissions), where Unix modes mean something (see
// checkDirPrivate): every key scca loads, the CA's, a responder's or a chat
// identity's, is checked here.
func checkKeyMode(path string, fi os.FileInfo) error {
	if _, unix := fileOwner(fi); unix && fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %04o", ErrKeyPermissions, path, fi.Mode().Perm())
	}
	return nil
}

// LoadPrivateKeyFile is LoadKeyFile for a key that identifies its holder (a
// chat server's or client's): like a CA key, and like ssh an identity file,
// it is refused when group or others may read or write it
// (ErrKeyPermissions), where Unix modes mean something.
func LoadPrivateKeyFile(path string) (crypto.Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	if err := checkKeyMode(path, fi); err != nil {
		return nil, err
	}
	return LoadKeyFile(path, nil)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// Issuer returns the certificate that signs leaves: the intermediate if
// there is one, else the root.
func (a *Authority) Issuer() *x509.Certificate {
	if a.Intermediate != nil {
		return a.Intermediate
	}
	return a.Root
}

// Signer returns the issuer's private key, for signing CRLs and OCSP
// responses.
func (a *Authority) Signer() crypto.Signer { return a.signer }

// IssuerKeyID returns the issuer's Subject Key Identifier in lower-case hex,
// the inventory's issuer key.
func (a *Authority) IssuerKeyID() string { return hex.EncodeToString(a.Issuer().SubjectKeyId) }

// Chain returns the CA certificates from the issuer up to the root.
func (a *Authority) Chain() []*x509.Certificate {
	if a.Intermediate != nil {
		return []*x509.Certificate{a.Intermediate, a.Root}
	}
	return []*x509.Certificate{a.Root}
}

// Trust returns the trust anchors for verifying this CA's leaves.
func (a *Authority) Trust() Trust {
	if a.Intermediate != nil {
		return NewTrust(a.Root, a.Intermediate)
	}
	return NewTrust(a.Root)
}

// Dir returns the CA directory.
func (a *Authority) Dir() string { return a.dir }
