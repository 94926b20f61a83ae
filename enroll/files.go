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

// write makes the identity's new files visible as one set: a crash leaves
// either the old set or the new one, never a new key beside the old
// certificate (which would brick the identity: `scca renew` authenticates
// with that pair). Every file is staged under a temporary name and fsynced;
// a journal naming each temporary file and its destination is written
// atomically, and only then are the files renamed into place. The next
// Enroll, Renew or Recover of the identity finishes the renames a crash
// interrupted (or, without a journal, removes the staged files: the old
// set was never touched).
func (f identityFiles) write(dir string, p Paths) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create certs dir: %w", err)
	}
	var files []journalEntry
	add := func(path string, data []byte, mode fs.FileMode) {
		files = append(files, journalEntry{Path: path, data: data, mode: mode})
	}
	if f.keyPEM != nil {
		add(p.Key, f.keyPEM, 0o600)
	}
	add(p.Cert, pemCert(f.leaf.Raw), 0o644)
	add(p.Chain, f.chainPEM, 0o644)
	if f.root != nil {
		add(p.Root, pemCert(f.root.Raw), 0o644)
	}
	if f.intermediate != nil {
		add(filepath.Join(dir, ca.IntermediateCertFile), pemCert(f.intermediate.Raw), 0o644)
	}
	j := journal{Files: files}
	if err := j.stage(); err != nil {
		return err
	}
	if err := atomicfile.Write(journalPath(p), j.encode(), 0o600); err != nil {
		j.discard()
		return err
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return err // the journal and the staged files stay: Recover finishes
	}
	if crashHook != nil {
		if err := crashHook(); err != nil {
			return err
		}
	}
	return j.finish(p)
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
