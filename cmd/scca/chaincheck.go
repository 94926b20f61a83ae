package main

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/revocation"
)

// errNoRootCRL: --crl was given for a chain with an intermediate, and no CRL
// of the root (which covers the intermediate) could be found.
var errNoRootCRL = errors.New("no CRL of the root CA to check the intermediate against")

// revocationChecker builds the chain checker selected by --crl / --ocsp, or
// the inventory by default. Every certificate of a chain below the root is
// checked: the leaf against its issuer's source, the intermediate against
// the root's.
func (e *env) revocationChecker(cmd *cobra.Command, cas *ca.Certificates) (*revocation.ChainChecker, string, func(), error) {
	cc := &revocation.ChainChecker{CAs: cas.All(), ByIssuer: map[string]revocation.Checker{}}
	issuer := cas.Issuer()
	if src := e.v.GetString("crl"); src != "" {
		cc.ByIssuer[keyID(issuer)] = &revocation.CRLChecker{Source: src, Issuer: issuer}
		source := "CRL " + src
		if cas.Intermediate != nil {
			rootSrc := e.rootCRLSource(cas)
			if rootSrc == "" {
				return nil, "", nil, fmt.Errorf("%w: give --root-crl", errNoRootCRL)
			}
			cc.ByIssuer[keyID(cas.Root)] = &revocation.CRLChecker{Source: rootSrc, Issuer: cas.Root}
			source += " and root CRL " + rootSrc
		}
		return cc, source, func() {}, nil
	}
	if url := e.v.GetString("ocsp"); url != "" {
		// One responder answers for every issuer (scca serve does).
		for _, c := range cas.All() {
			cc.ByIssuer[keyID(c)] = &revocation.OCSPChecker{URL: url, Issuer: c}
		}
		return cc, "OCSP " + url, func() {}, nil
	}
	st, err := e.openStoreRO(cmd.Context())
	if err != nil {
		return nil, "", nil, err
	}
	// A revocation decision from an inventory that lost entries the audit
	// anchor records (restored from an older copy, replaced) could call a
	// revoked certificate good: refuse it, as the CA's write commands do.
	// A user who may read the inventory but not the anchor (0600, the CA
	// operator's) is not the one who would restore it: the check is
	// skipped for them rather than refusing every verification.
	if err := st.CheckAnchor(cmd.Context()); err != nil &&
		!(errors.Is(err, certstore.ErrAnchorUnreadable) && errors.Is(err, fs.ErrPermission)) {
		st.Close()
		return nil, "", nil, err
	}
	cc.Default = &revocation.InventoryChecker{Store: st}
	return cc, "inventory " + st.Location().Redacted, func() { st.Close() }, nil
}

// inventoryChain checks whole chains against the inventory.
func inventoryChain(cas *ca.Certificates, st revocation.RecordGetter) *revocation.ChainChecker {
	return &revocation.ChainChecker{Default: &revocation.InventoryChecker{Store: st}, CAs: cas.All()}
}

// rootCRLSource is where the root's CRL is read: --root-crl, else
// <certs-dir>/root_crl.pem when it exists, else the intermediate's first
// CRL distribution point; "" when there is none.
func (e *env) rootCRLSource(cas *ca.Certificates) string {
	if s := e.v.GetString("root-crl"); s != "" {
		return s
	}
	local := filepath.Join(e.certsDir(), ca.RootCRLPEMFile)
	if _, err := os.Stat(local); err == nil {
		return local
	}
	if cdp := cas.Intermediate.CRLDistributionPoints; len(cdp) > 0 {
		return cdp[0]
	}
	return ""
}

func keyID(c *x509.Certificate) string { return hex.EncodeToString(c.SubjectKeyId) }
