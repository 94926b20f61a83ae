package main

import (
	"context"
	"crypto"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/revocation"
)

// renewResponders renews the delegated OCSP responder certificates of the
// CAs whose keys this command holds — the issuer's, and the root's when its
// key is online (it is then among the CRL targets) — once less than half
// of their life is left, and says what it made.
func (e *env) renewResponders(ctx context.Context, a *ca.Authority, targets map[string]revocation.CRLTarget) error {
	var rootKey crypto.Signer
	if a.Intermediate != nil {
		if t, ok := targets[hex.EncodeToString(a.Root.SubjectKeyId)]; ok {
			rootKey = t.Signer
		}
	}
	made, err := a.RenewOCSPResponders(ctx, rootKey)
	for _, c := range made {
		e.statusf("Renewed OCSP responder certificate %q (serial %s, valid until %s)\n",
			c.Subject.CommonName, certSerial(c), c.NotAfter.UTC().Format(time.RFC3339))
	}
	return err
}

// CA keys `scca serve --ca-keys` may hold.
const (
	caKeysNone         = "none"         // responder keys only
	caKeysIntermediate = "intermediate" // and the intermediate's key
	caKeysAll          = "all"          // and the root's key
)

// ocspSources returns the CA certificates and the delegated responders
// `scca serve` signs OCSP with, the leaf issuer's first. Only the CA keys
// named by keys are loaded (and then used to renew those CAs' responders in
// process); the others' responders come from their files, renewed by
// `scca crl`. The root's responder of a CA with an intermediate is
// optional: without it the root's OCSP (about the intermediate) is not
// answered, which is logged.
func (e *env) ocspSources(ctx context.Context, st *certstore.Store, keys string, logger *slog.Logger) (*ca.Certificates, []revocation.ResponderConfig, error) {
	dir := e.certsDir()
	cas, err := loadServiceCertificates(dir)
	if err != nil {
		return nil, nil, err
	}
	inter := cas.Intermediate != nil
	var issuerSrc, rootSrc *ca.ResponderSource
	switch keys {
	case caKeysNone:
		if issuerSrc, err = ca.NewResponderSource(dir, cas, inter, logger); err != nil {
			return nil, nil, err
		}
	case caKeysIntermediate, caKeysAll:
		if keys == caKeysIntermediate && !inter {
			return nil, nil, fmt.Errorf("--ca-keys %s: this CA has no intermediate, its issuing key is the root key (use --ca-keys %s to load it, or %s)",
				caKeysIntermediate, caKeysAll, caKeysNone)
		}
		a, err := e.loadCA(st)
		if err != nil {
			return nil, nil, err
		}
		if issuerSrc, err = a.ResponderSource(ctx, false, nil, logger); err != nil {
			return nil, nil, err
		}
		if keys == caKeysAll && inter {
			rootKey, err := ca.LoadRootSigner(dir, e.passphrase)
			if err != nil {
				return nil, nil, err
			}
			if rootSrc, err = a.ResponderSource(ctx, true, rootKey, logger); err != nil {
				return nil, nil, err
			}
		}
	default:
		return nil, nil, fmt.Errorf("unknown --ca-keys %q: use %s, %s or %s", keys, caKeysNone, caKeysIntermediate, caKeysAll)
	}
	if inter && rootSrc == nil {
		if rootSrc, err = ca.NewResponderSource(dir, cas, false, logger); err != nil {
			logger.Warn("not answering OCSP for the root CA (about the intermediate)", "err", err)
		}
	}
	cfgs := []revocation.ResponderConfig{{Issuer: cas.Issuer(), Delegate: issuerSrc}}
	if inter && rootSrc != nil {
		cfgs = append(cfgs, revocation.ResponderConfig{Issuer: cas.Root, Delegate: rootSrc})
	}
	return cas, cfgs, nil
}

// loadServiceCertificates loads the CA certificates for a long-running
// service that also reads a key of its own from dir (the chat server's,
// the OCSP responders'): dir must be private to the user running it, as for
// the commands that hold the CA key, not merely unwritable by others.
func loadServiceCertificates(dir string) (*ca.Certificates, error) {
	cas, err := ca.LoadCertificates(dir) // ErrNoCA first: its hint helps more
	if err != nil {
		return nil, err
	}
	if err := ca.CheckDirPrivate(dir); err != nil {
		return nil, err
	}
	return cas, nil
}
