package main

import (
	"errors"
	"fmt"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/certstore"
	"github.com/securechat/scca/enroll"
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
	{certstore.ErrTimeout, "check that the database server is up and reachable; --db-timeout (SCCA_DB_TIMEOUT) sets the bound; an interrupted issuance is settled by the next command or `scca doctor --repair`"},
	{certstore.ErrDiskFull, "free space on the disk holding the inventory (and the certs dir), then retry; nothing half-done is kept"},
	{certstore.ErrReadOnly, "make the inventory file and its directory writable, or remount read-write; if the file was moved or replaced while in use, rerun the command"},
	{certstore.ErrDiskIO, "the disk reported an I/O error: check the system log (dmesg) and the disk before retrying"},
	{certstore.ErrCorrupt, "restore the inventory from a backup; --db may point at a file that is not an scca inventory"},
	{certstore.ErrWALNotReadable, "where the inventory's directory is writable, run `scca db backup FILE` and use that copy, or `scca db status` (closing, it checkpoints the WAL into the database file) and copy again; or copy the -shm file along"},
	{certstore.ErrCannotOpen, "check --db, that the directory exists and that you may read and write it"},
	{certstore.ErrAccessDenied, "the server answered but refused the user or password in --db; check them (and the user's host grant)"},
	{certstore.ErrNoDatabase, "create it first (MySQL: mysql -e 'CREATE DATABASE securechat'; PostgreSQL: createdb securechat) and grant the scca user on it, then `scca init` or `scca db migrate`"},
	{ca.ErrOutcomeUnknown, "nothing is lost: the next command on this certs dir, or `scca doctor --repair`, settles it once the inventory answers"},
	{certstore.ErrUnreachable, "check --db (for SQLite, that its directory exists; for a server, that it is up and the user may log in)"},
	{revocation.ErrCRLNotPublished, "the revocation is recorded; publish the CRL with `scca crl` once the problem is fixed"},
	{revocation.ErrCANeedsForce, "revoking a CA certificate invalidates everything under it; add --force if that is intended"},
	{certstore.ErrAlreadyRevoked, "`scca show SERIAL` shows when and why it was revoked"},
	{certstore.ErrNotFound, "`scca list` shows what the inventory holds"},
	{enroll.ErrNoFingerprint, "pass --fingerprint: the root SHA-256 that `scca serve --api-listen` prints on the CA host"},
	{enroll.ErrFingerprintMismatch, "this is not the CA you pinned: check the fingerprint with the CA operator and do not go on if it differs"},
	{enroll.ErrTokenRejected, "ask the CA operator for a new token (`scca token --cn NAME`): tokens are single-use, for one CN, and expire"},
	{enroll.ErrRenewalRefused, "a revoked, expired or superseded certificate cannot be renewed: enroll again with a new token"},
	{enroll.ErrEnrollRefused, "the CA cannot issue now (see its answer above); ask the CA operator"},
	{enroll.ErrIdentityHeld, "ask the CA operator to revoke the current certificate of this name first (or to mint a token for another CN); the token is not spent"},
	{enroll.ErrRateLimited, "too many failed attempts from this address; wait a minute and check the token"},
	{enroll.ErrExists, "this identity already has a certificate here: renew it with `scca renew`, or use another --certs-dir"},
	{certstore.ErrIdentityTaken, "one client identity has one holder: with issue/sign add --replace to revoke the old certificate as superseded, or revoke it first (`scca revoke --cn NAME`), or choose another CN"},
	{errInventoryInUse, "one inventory serves one CA: use that CA's --certs-dir, or give the new CA its own --db (a fresh database)"},
	{certstore.ErrAuditTampered, "the audit log or the certificates table was changed outside scca: restore the database from a backup and investigate"},
	{errNoIdentity, "issue it with `scca issue client --cn NAME` (or `scca enroll`), or point --certs-dir at the directory that holds it"},
	{errNoChatServer, "is `scca chat server` running there? Start it, or point --server at it (HOST:PORT, or ws://HOST:PORT/)"},
	{certstore.ErrAuditKeyPermissions, "the audit key must be readable by its owner only: chmod 600 on the file named above"},
	{certstore.ErrAuditKeyNotLoaded, "this inventory's audit log is sealed: run the command where the CA's audit key (" + certstore.AuditKeyFile + " in --certs-dir) is, readable by its owner only"},
	{ca.ErrNoHostName, "a server certificate is for a host: give it --dns NAME or --ip ADDR, or a host name as --cn"},
	{ca.ErrNoPKCS12Password, "set SCCA_P12_PASSWORD to a non-empty password (or type one at the prompt)"},
}

// adviceHints are hints that name what the error carries (a directory, a
// uid): each returns "" for an error it does not know.
var adviceHints = []func(error) string{
	func(err error) string {
		var de *ca.DirPermissionError
		switch {
		case !errors.As(err, &de):
			return ""
		case de.Owner >= 0:
			return fmt.Sprintf("whoever can write the CA directory can swap its files: take it over with `sudo chown -R %d %s`, or use a directory of your own", de.You, de.Dir)
		default:
			return fmt.Sprintf("whoever can write the CA directory can swap its files: run `chmod go-w %s`", de.Dir)
		}
	},
}

// noEnrollReason is what the browser page of `scca chat server --web` is
// told when the server relays no enrolment.
const noEnrollReason = "enrolment is not offered by this server (its operator offers it with --ca-url)"

func hintFor(err error) string {
	for _, advise := range adviceHints {
		if h := advise(err); h != "" {
			return h
		}
	}
	for _, h := range hints {
		if errors.Is(err, h.err) {
			return h.hint
		}
	}
	return ""
}
