package enroll

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/internal/atomicfile"
)

// ErrExists is returned by Enroll when the certs dir already holds a
// certificate for the CN: renewing is `scca renew`'s job.
var ErrExists = errors.New("a certificate for this name already exists in the certs dir")

// Paths are the files of one identity in a certs dir.
type Paths struct {
	Cert, Key, Chain, Root string
}

// PathsFor names the files of cn in dir, as `scca issue` and `scca chat
// client --id` expect them.
func PathsFor(dir, cn string) Paths {
	stem := filepath.Join(dir, ca.FileBase(cn))
	return Paths{
		Cert: stem + "_cert.pem", Key: stem + "_key.pem", Chain: stem + "_chain.pem",
		Root: filepath.Join(dir, ca.RootCertFile),
	}
}

// identityFiles is what one enrollment or renewal writes.
type identityFiles struct {
	keyPEM       []byte // nil: keep the key on disk (renewal with the same key)
	leaf         *x509.Certificate
	chainPEM     []byte
	root         *x509.Certificate // written on enrollment only
	intermediate *x509.Certificate // written on enrollment, when there is one
}

// write stages every file (fsynced under temporary names), then renames
// them into place: the key (0600) first, then the certificate, the chain
// and the CA files. A crash can only fall between two renames, where a
// new key may sit next to the old certificate; `scca renew` then fails to
// load the pair and the identity must be re-enrolled, which is why the
// renames follow each other with no other work between them.
func (f identityFiles) write(dir string, p Paths) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create certs dir: %w", err)
	}
	type file struct {
		path string
		data []byte
		mode fs.FileMode
	}
	files := []file{}
	if f.keyPEM != nil {
		files = append(files, file{p.Key, f.keyPEM, 0o600})
	}
	files = append(files, file{p.Cert, pemCert(f.leaf.Raw), 0o644}, file{p.Chain, f.chainPEM, 0o644})
	if f.root != nil {
		files = append(files, file{p.Root, pemCert(f.root.Raw), 0o644})
	}
	if f.intermediate != nil {
		files = append(files, file{filepath.Join(dir, ca.IntermediateCertFile), pemCert(f.intermediate.Raw), 0o644})
	}
	var staged []string
	defer func() {
		for _, tmp := range staged {
			os.Remove(tmp)
		}
	}()
	for _, fl := range files {
		tmp, err := atomicfile.Stage(fl.path, fl.data, fl.mode)
		if err != nil {
			return err
		}
		staged = append(staged, tmp)
	}
	for i, fl := range files {
		if err := atomicfile.Commit(staged[i], fl.path, false); err != nil {
			return err
		}
		staged[i] = ""
	}
	staged = nil
	return nil
}

// ReadCertificate reads the first certificate of a PEM file.
func ReadCertificate(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := parseCerts(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no certificate", path)
	}
	return certs[0], nil
}
