package main

import (
	"errors"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/revocation"
)

// hints pairs errors callers can recognise with what the operator should do
// next. The error itself says what went wrong; the hint says how to fix it.
var hints = []struct {
	err  error
	hint string
}{
	{certstore.ErrSchemaVersion, "`scca db migrate` upgrades an existing inventory; `scca init` creates a new CA with its inventory"},
	{errNoInventory, "create a CA and its inventory with `scca init`, or point --db/--certs-dir at an existing one"},
	{ca.ErrNoCA, "create a CA with `scca init`, or point --certs-dir at an existing one"},
	{ca.ErrCAExists, "a CA already lives in --certs-dir; use another directory for a new CA"},
	{ca.ErrFileExists, "choose other paths with --cert-out/--key-out (or --out), or move the old files away"},
	{ca.ErrWrongPassphrase, "check SCCA_CA_PASSPHRASE"},
	{revocation.ErrSelfSignedRoot, "a root is retired, not revoked: create a new CA with `scca init --certs-dir NEW`, distribute NEW/root_ca.pem to every relying party, re-issue the certificates, then remove the old root from their trust stores"},
	{ca.ErrCARevoked, "a revoked CA must not sign again: create a new CA with `scca init --certs-dir NEW`, distribute its root and re-issue the certificates; `scca crl` still publishes the root's CRL listing the revoked CA"},
	{revocation.ErrIssuerRevoked, "this CA is revoked, so it publishes nothing more; relying parties learn of it from the root's CRL (root_crl.pem, served at /root.crl)"},
	{revocation.ErrCRLWentBack, "the inventory's CRL counter is behind the published CRL (restored from a backup?); check --db, or move the published CRL away if it is not this CA's"},
	{errNoRootCRL, "publish the root's CRL with `scca crl` where the root key is, and pass it with --root-crl FILE|URL"},
	{ca.ErrNoOCSPResponder, "`scca crl` (with the CA key at hand) makes it; or run `scca serve --ca-keys intermediate|all` to make and renew it in process"},
	{ca.ErrKeyPermissions, "make the key readable by its owner only: chmod 600 on the file named above"},
	{certstore.ErrUnreachable, "check --db (for SQLite, that its directory exists; for a server, that it is up and the user may log in)"},
	{revocation.ErrCRLNotPublished, "the revocation is recorded; publish the CRL with `scca crl` once the problem is fixed"},
	{revocation.ErrCANeedsForce, "revoking a CA certificate invalidates everything under it; add --force if that is intended"},
	{certstore.ErrAlreadyRevoked, "`scca show SERIAL` shows when and why it was revoked"},
	{certstore.ErrNotFound, "`scca list` shows what the inventory holds"},
	{certstore.ErrIdentityTaken, "one client identity has one holder; add --replace to revoke the old certificate as superseded, or choose another CN"},
	{certstore.ErrAuditTampered, "the audit log or the certificates table was changed outside scca: restore the database from a backup and investigate"},
	{errNoChatServer, "is `scca chat server` running there? Start it, or point --server at it (HOST:PORT, or ws://HOST:PORT/)"},
	{certstore.ErrAuditKeyPermissions, "the audit key must be readable by its owner only"},
}

func hintFor(err error) string {
	for _, h := range hints {
		if errors.Is(err, h.err) {
			return h.hint
		}
	}
	return ""
}
