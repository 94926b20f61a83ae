package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// renewRetry is how long a ResponderSource waits after a failed renewal
// before trying again (the current certificate still has at least half of
// its life, so there is no hurry, and a down database is not hammered).
const renewRetry = time.Minute

// ResponderSource supplies one CA's delegated OCSP responder to the OCSP
// responder (it implements revocation.DelegateSource). It re-reads the
// responder file whenever the file changes on disk, so a certificate
// renewed by another process (`scca crl` from cron) is used at once; built
// by Authority.ResponderSource, with the CA key, it also renews the file
// itself. It is safe for concurrent use.
type ResponderSource struct {
	path   string
	issuer *x509.Certificate
	renew  func(ctx context.Context) error // nil: another process renews
	logger *slog.Logger

	mu      sync.Mutex
	cur     *OCSPResponder
	loadErr error
	seen    bool        // info describes a version already loaded (or refused)
	info    os.FileInfo // the file as last loaded: identity, mtime and size
	retryAt time.Time
}

// NewResponderSource reads the responder file of cas's root (intermediate
// false) or intermediate from dir, holding no CA key. It fails with
// ErrNoOCSPResponder when the file does not exist yet. logger may be nil.
func NewResponderSource(dir string, cas *Certificates, intermediate bool, logger *slog.Logger) (*ResponderSource, error) {
	issuer := cas.Root
	if intermediate {
		if cas.Intermediate == nil {
			return nil, fmt.Errorf("%w: no intermediate CA in %s", ErrNoCA, dir)
		}
		issuer = cas.Intermediate
	}
	s := newResponderSource(OCSPResponderPath(dir, intermediate), issuer, logger)
	s.reload()
	if s.cur == nil {
		return nil, s.loadErr
	}
	return s, nil
}

// ResponderSource is NewResponderSource for the issuer's responder (or,
// with ofRoot, the root's, signed with rootKey when there is an
// intermediate) that also renews the certificate itself, with the CA key,
// once less than half of its life is left, making it first if it is
// missing.
func (a *Authority) ResponderSource(ctx context.Context, ofRoot bool, rootKey crypto.Signer, logger *slog.Logger) (*ResponderSource, error) {
	issuer, key := a.Issuer(), a.signer
	if ofRoot && a.Intermediate != nil {
		if rootKey == nil || !publicKeysEqual(rootKey.Public(), a.Root.PublicKey) {
			return nil, fmt.Errorf("the root's OCSP responder needs the root key %s", RootKeyFile)
		}
		issuer, key = a.Root, rootKey
	}
	path := OCSPResponderPath(a.dir, issuer == a.Intermediate)
	s := newResponderSource(path, issuer, logger)
	s.renew = func(ctx context.Context) error {
		_, err := a.renewOCSPResponder(ctx, issuer, key, path)
		return err
	}
	if err := s.renew(ctx); err != nil {
		return nil, err
	}
	s.reload()
	if s.cur == nil {
		return nil, s.loadErr
	}
	return s, nil
}

func newResponderSource(path string, issuer *x509.Certificate, logger *slog.Logger) *ResponderSource {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &ResponderSource{path: path, issuer: issuer, logger: logger}
}

// Delegate returns the responder certificate and key to sign with at now,
// renewing them first when this source holds the CA key and the
// certificate is past half its life. A failed renewal is logged and the
// current certificate used until the next try; the OCSP responder refuses
// to sign with one that has expired.
func (s *ResponderSource) Delegate(ctx context.Context, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reload()
	if s.renew != nil && (s.cur == nil || needsRenewal(s.cur.Cert, now)) && !now.Before(s.retryAt) {
		if err := s.renew(ctx); err != nil {
			s.retryAt = now.Add(renewRetry)
			s.logger.Warn("ocsp: renewing the responder certificate failed; retrying in a minute", "path", s.path, "err", err)
		} else {
			s.reload()
		}
	}
	if s.cur == nil {
		return nil, nil, s.loadErr
	}
	return s.cur.Cert, s.cur.Key, nil
}

// reload re-reads the file when it is another file (renewal replaces it by
// rename, so the inode changes) or its size or modification time changed.
// The inode matters: two renewals within one kernel clock tick can leave
// the same mtime, and responder files often have the same size. A file that fails to load
// leaves the previous responder in use and is logged once per version.
func (s *ResponderSource) reload() {
	fi, err := os.Stat(s.path)
	if err == nil && s.seen && os.SameFile(fi, s.info) && fi.ModTime().Equal(s.info.ModTime()) && fi.Size() == s.info.Size() {
		return
	}
	if err == nil {
		s.seen, s.info = true, fi
	} else if s.cur != nil {
		return // vanished: keep signing with what we have until it expires
	}
	r, err := LoadOCSPResponder(s.path, s.issuer)
	if err != nil {
		s.loadErr = err
		if s.cur != nil {
			s.logger.Error("ocsp: cannot load the renewed responder file; keeping the previous one", "path", s.path, "err", err)
		}
		return
	}
	s.cur, s.loadErr = r, nil
}
