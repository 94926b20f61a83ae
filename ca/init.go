package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/securechat/scca/inventory"
)

// DefaultRootCN is the root's common name when InitRequest.CN is empty.
const DefaultRootCN = "SecureChat Root CA"

// InitRequest describes a new CA.
type InitRequest struct {
	Dir          string
	CN           string        // "" = DefaultRootCN
	KeyType      KeyType       // "" = DefaultKeyType; used for root and intermediate
	Validity     time.Duration // root validity; 0 = DefaultRootValidity
	Intermediate bool          // also create an intermediate (5 years, clamped to the root) that issues leaves
	Passphrase   []byte        // encrypts the CA keys; nil = unencrypted
	Actor        string
	BaseURL      string
	Store        Recorder
	Now          func() time.Time
	Rand         io.Reader
}

// caFiles lists every file whose presence means "a CA lives here".
var caFiles = []string{RootCertFile, RootKeyFile, IntermediateCertFile, IntermediateKeyFile}

// caMaterial is one generated CA certificate and its key.
type caMaterial struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// Init creates a new CA in req.Dir and returns it loaded. It refuses
// (ErrCAExists) if any CA file is already there, and leaves nothing behind
// on failure: files are staged, the CA rows recorded, and only then are the
// files moved into place.
//
// The Recorder interface has no transaction, so if the root's row is
// recorded and the intermediate's insert then fails, the root row stays in
// the inventory for a CA whose files were never written. It is harmless (no
// key for it exists anywhere) and is reported in the error.
func Init(ctx context.Context, req InitRequest) (*Authority, error) {
	req, err := initDefaults(req)
	if err != nil {
		return nil, err
	}
	a, err := newAuthority(req.Dir, req.Store, req.BaseURL, req.Actor, req.Now, req.Rand)
	if err != nil {
		return nil, err
	}
	if a.store == nil {
		return nil, errNoStore
	}
	if err := checkNoCA(req.Dir); err != nil {
		return nil, err
	}
	root, err := a.newCA(req.CN, req.KeyType, req.Validity, nil)
	if err != nil {
		return nil, fmt.Errorf("create root CA: %w", err)
	}
	a.Root, a.signer = root.cert, root.key
	made := []caMaterial{root}
	if req.Intermediate {
		inter, err := a.newCA(intermediateCN(req.CN), req.KeyType, DefaultIntermediateValidity, &root)
		if err != nil {
			return nil, fmt.Errorf("create intermediate CA: %w", err)
		}
		a.Intermediate, a.signer = inter.cert, inter.key
		made = append(made, inter)
	}
	if err := a.writeCA(ctx, made, req.Passphrase); err != nil {
		return nil, err
	}
	// Each CA's delegated OCSP responder, so that `scca serve` can answer
	// OCSP without any CA key, even for a root-only CA.
	for _, m := range made {
		if _, err := a.renewOCSPResponder(ctx, m.cert, m.key, OCSPResponderPath(a.dir, m.cert != root.cert)); err != nil {
			return nil, fmt.Errorf("the CA was created but its OCSP responder was not: %w", err)
		}
	}
	return a, nil
}

func initDefaults(req InitRequest) (InitRequest, error) {
	if req.Dir == "" {
		return req, errors.New("no CA directory given")
	}
	if req.CN == "" {
		req.CN = DefaultRootCN
	}
	if err := checkCN(req.CN); err != nil {
		return req, err
	}
	kt, err := ParseKeyType(string(req.KeyType))
	if err != nil {
		return req, err
	}
	req.KeyType = kt
	if req.Passphrase != nil && len(req.Passphrase) == 0 {
		return req, errors.New("empty passphrase (use nil for an unencrypted key)")
	}
	if req.Validity == 0 {
		req.Validity = DefaultRootValidity
	}
	if req.Validity < 0 {
		return req, fmt.Errorf("validity must be positive, got %s", req.Validity)
	}
	return req, nil
}

// checkNoCA creates dir if needed (0700: it will hold private keys) and
// fails with ErrCAExists if any CA file is present.
func checkNoCA(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create CA directory: %w", err)
	}
	if err := checkDirPrivate(dir); err != nil {
		return err
	}
	for _, name := range caFiles {
		p := filepath.Join(dir, name)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%w: %s", ErrCAExists, p)
		}
	}
	return nil
}

// intermediateCN derives the intermediate's name from the root's:
// "SecureChat Root CA" becomes "SecureChat Intermediate CA"; other names get
// " Intermediate CA" appended, shortened to fit the 64-character limit.
func intermediateCN(rootCN string) string {
	base := strings.TrimSuffix(strings.TrimSuffix(rootCN, " CA"), " Root")
	const suffix = " Intermediate CA"
	if r := []rune(base); len(r)+len(suffix) > maxCNLength {
		base = strings.TrimSpace(string(r[:maxCNLength-len(suffix)]))
	}
	return base + suffix
}

// newCA generates a key and a CA certificate for it, self-signed when parent
// is nil. Each CA gets its own fresh key: the intermediate never shares the
// root's key, so the root key can be kept offline.
func (a *Authority) newCA(cn string, kt KeyType, validity time.Duration, parent *caMaterial) (caMaterial, error) {
	key, err := GenerateKey(kt, a.rand)
	if err != nil {
		return caMaterial{}, err
	}
	var issuer *x509.Certificate
	if parent != nil {
		issuer = parent.cert
	}
	notBefore, notAfter, err := validityWindow(a.now(), validity, issuer)
	if err != nil {
		return caMaterial{}, err
	}
	serial, err := newSerial(a.rand)
	if err != nil {
		return caMaterial{}, err
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return caMaterial{}, err
	}
	tmpl := caTemplate(cn, serial, notBefore, notAfter, ski, parent != nil)
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
		tmpl.AuthorityKeyId = parent.cert.SubjectKeyId
		a.addRevocationURLs(tmpl, "/root.crl", "/root.der")
	}
	cert, err := a.sign(tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		return caMaterial{}, err
	}
	return caMaterial{cert: cert, key: key}, nil
}

// writeCA stages the CA files, records the certificates, then commits the
// files; see Init.
func (a *Authority) writeCA(ctx context.Context, made []caMaterial, passphrase []byte) error {
	names := [][2]string{{RootCertFile, RootKeyFile}, {IntermediateCertFile, IntermediateKeyFile}}
	var files fileSet
	defer files.discard()
	for i, m := range made {
		keyPEM, err := EncodeKeyPEM(m.key, passphrase)
		if err != nil {
			return err
		}
		if err := files.stage(filepath.Join(a.dir, names[i][1]), keyPEM, keyFileMode); err != nil {
			return err
		}
		if err := files.stage(filepath.Join(a.dir, names[i][0]), certPEM(m.cert.Raw), certFileMode); err != nil {
			return err
		}
	}
	for i, m := range made {
		rec := a.record(m.cert, inventory.TypeCA, a.actor)
		if m.cert.AuthorityKeyId == nil {
			// A self-signed root carries no AKI (RFC 5280 §4.2.1.1 allows
			// omitting it); its issuer is itself.
			rec.IssuerKeyID = hex.EncodeToString(m.cert.SubjectKeyId)
		}
		if err := a.store.Insert(ctx, rec); err != nil {
			if i > 0 {
				return fmt.Errorf("record intermediate CA (root CA %s is recorded but was not written): %w", serialHex(made[0].cert), err)
			}
			return fmt.Errorf("record root CA: %w", err)
		}
	}
	if err := files.commit(nil); err != nil {
		if errors.Is(err, ErrFileExists) {
			return fmt.Errorf("%w: %w", ErrCAExists, err)
		}
		return err
	}
	return nil
}
