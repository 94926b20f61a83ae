package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

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
	// The audit anchor's errors (certstore/anchor.go) come first: none
	// wraps an error a later row claims, but a lost inventory must never get
	// the "migrate" or "init" advice.
	{certstore.ErrAnchorMismatch, "restore the inventory from its newest backup (a `scca db backup` copy; README, Backup), or point --db at this CA's own if it names another, and check it with `scca audit --verify`; a copy older than this anchor goes with the " + certstore.AuditAnchorFile + " saved beside it. Do not migrate or init a new inventory in its place, nor publish a CRL from one: it lacks the certificates and revocations"},
	{certstore.ErrAnchorNotAdvanced, "the anchor that detects a rolled-back inventory still names an older entry: make the certs dir and " + certstore.AuditAnchorFile + " writable by this user and check free space; the next change then moves the anchor forward"},
	{certstore.ErrAnchorMalformed, "restore " + certstore.AuditAnchorFile + " (it holds {\"id\": N, \"hash\": \"...\"} of the newest audit entry) from a backup of the certs dir and check with `scca audit --verify`; only if there is no copy, move it away: the next change starts a new anchor, and until then a rolled-back inventory goes unnoticed"},
	{certstore.ErrAnchorUnreadable, "the user running scca must be able to read and write " + certstore.AuditAnchorFile + " and the certs dir: check their owner and mode (ls -l), or run scca as the CA's owner"},
	{certstore.ErrSchemaVersion, "`scca db migrate` upgrades an existing inventory; `scca init` creates a new CA with its inventory"},
	{errNoInventory, "create a CA and its inventory with `scca init`, or point --db/--certs-dir at an existing one"},
	{ca.ErrNoCA, "create a CA with `scca init`, or point --certs-dir at an existing one"},
	{ca.ErrCAExists, "a CA already lives in --certs-dir; use another directory for a new CA"},
	{ca.ErrFileExists, "choose other paths with --cert-out/--key-out (or --out), or move the old files away"},
	{ca.ErrWrongPassphrase, "check SCCA_CA_PASSPHRASE"},
	{revocation.ErrSelfSignedRoot, "a root is retired, not revoked: create a new CA with `scca init --certs-dir NEW`, distribute NEW/root_ca.pem to every relying party, re-issue the certificates, then remove the old root from their trust stores"},
	{ca.ErrCARevoked, "a revoked CA must not sign again: create a new CA with `scca init --certs-dir NEW`, distribute its root and re-issue the certificates; `scca crl` still publishes the root's CRL listing the revoked CA"},
	{revocation.ErrIssuerRevoked, "this CA is revoked, so it publishes nothing more; relying parties learn of it from the root's CRL (root_crl.pem, served at /root.crl)"},
	{revocation.ErrCRLDropsRevocations, "restore a newer copy of the inventory (one holding these revocations), or re-record each listed serial it knows with `scca revoke SERIAL --reason R`; a serial unknown to it was issued after this copy was made, and only a newer copy has it. Until then the published CRL stays as it is: do not move it away"},
	{revocation.ErrCRLWentBack, "the inventory's CRL counter is behind the published CRL (restored from a backup?): check --db, or restore the inventory's newest copy; do not move the published CRL away, a CRL from this inventory could drop revocations"},
	{errNoRootCRL, "publish the root's CRL with `scca crl` where the root key is, and pass it with --root-crl FILE|URL"},
	{ca.ErrNoOCSPResponder, "`scca crl` (with the CA key at hand) makes it; or run `scca serve --ca-keys intermediate|all` to make and renew it in process"},
	{ca.ErrKeyPermissions, "make the key readable by its owner only: chmod 600 on the file named above"},
	{certstore.ErrTimeout, "check that the database server is up and reachable; --db-timeout (SCCA_DB_TIMEOUT) sets the bound; an interrupted issuance is settled by the next command or `scca doctor --repair`"},
	{certstore.ErrDiskFull, "free space on the disk holding the inventory (and the certs dir), then retry; nothing half-done is kept"},
	{certstore.ErrReadOnly, "make the inventory file and its directory writable, or remount read-write (list, show, verify, audit and crl status work on a read-only mount as they are); if the file was moved or replaced while in use, rerun the command"},
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
// uid, a CN): each returns "" for an error it does not know.
var adviceHints = []func(error) string{
	func(err error) string {
		var de *ca.DirPermissionError
		switch {
		case !errors.As(err, &de):
			return ""
		case de.Owner >= 0:
			return fmt.Sprintf("whoever can write the CA directory can swap its files: take it over with `sudo chown -R %d %s`, or use a directory of your own", de.You, de.Dir)
		default:
			return fmt.Sprintf("whoever can write the CA directory can swap its files: run `chmod -R go-w %s`", de.Dir)
		}
	},
	func(err error) string {
		var se *noServerCertError
		if !errors.As(err, &se) {
			return ""
		}
		return fmt.Sprintf("issue it with `scca issue server --cn %s --dns HOST --ip ADDR` (on one machine: --dns localhost --ip 127.0.0.1), or point --certs-dir at the directory that holds it", se.cn)
	},
}

// causeHints say how to give scca the access that the database or the
// system refused (explain names it in the message). They come after the
// table: a hint there says what became of the command (a revocation
// recorded, an outcome to settle), which the message does not.
var causeHints = []func(error) string{
	func(err error) string {
		if section := grantsSection(err); section != "" {
			return fmt.Sprintf("grant the database user every table privilege the README's %q section lists (one GRANT per table), and review them after `scca db migrate` adds tables; `scca init` and `scca db migrate` run as the user that owns the schema", section)
		}
		return ""
	},
	func(err error) string {
		var fe *fileAccessError
		switch {
		case !errors.As(err, &fe):
			return ""
		case fe.readOnlyFS:
			return fmt.Sprintf("%s is on a read-only file system: remount it read-write for this command (list, show, verify, audit and crl status work on a read-only mount as they are)", fe.dir)
		case fe.file && fe.certsDir:
			return fmt.Sprintf("check the owner and mode of %s (`ls -l %s`): scca runs as the user that owns the certs dir and its files", fe.path, fe.path)
		case fe.file:
			return fmt.Sprintf("check the owner and mode of %s (`ls -l %s`), or choose another path", fe.path, fe.path)
		case fe.certsDir:
			return fmt.Sprintf("run scca as the user that owns the certs dir, with read and write access to it (`chmod 700 %s`); list, show, verify, audit and crl status need only read access", fe.dir)
		default:
			return fmt.Sprintf("check the owner and mode of %s (`ls -ld %s`), or choose another path", fe.dir, fe.dir)
		}
	},
}

// noEnrollReason is what the browser page of `scca chat server --web` is
// told when the server relays no enrolment.
const noEnrollReason = "enrolment is not offered by this server (its operator offers it with --ca-url)"

// explain says in plain words what the libraries report only as a
// driver's or the system's error, before it is printed: a missing database
// privilege, a file or directory this user may not use, and an SQLite
// inventory whose directory is read-only (SQLite then fails to create the
// -wal and -shm files and reports that it cannot open the file, though the
// file is there).
func (e *env) explain(err error) error {
	err = e.explainTimeout(err)
	var pe *fs.PathError
	switch {
	case grantsSection(err) != "":
		return fmt.Errorf("%w: %w", errNoPrivilege, err)
	case errors.Is(err, certstore.ErrCannotOpen) && !errors.Is(err, certstore.ErrReadOnly):
		if dir := e.readOnlyInventoryDir(); dir != "" {
			return fmt.Errorf("%w: SQLite must create the inventory's -wal and -shm files in %s, which is not writable here: %w", certstore.ErrReadOnly, dir, err)
		}
	case errors.As(err, &pe) && (errors.Is(pe.Err, fs.ErrPermission) || errors.Is(pe.Err, syscall.EROFS)):
		return e.fileAccess(pe, err)
	}
	return err
}

// errNoPrivilege: the database refused a statement for want of a grant.
var errNoPrivilege = errors.New("the database user lacks a privilege this command needs")

// grantsSection names the README section whose grants a privilege error
// of the database server calls for, or is "" for any other error.
func grantsSection(err error) string {
	if me, ok := errors.AsType[*gomysql.MySQLError](err); ok {
		switch me.Number {
		case 1142, 1143: // ER_TABLEACCESS_DENIED_ERROR, ER_COLUMNACCESS_DENIED_ERROR
			return "MySQL / MariaDB"
		}
	}
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == "42501" { // insufficient_privilege
		return "PostgreSQL"
	}
	return ""
}

// readOnlyInventoryDir is the directory of the SQLite inventory in --db
// when this process may not create files in it (a read-only mount, or a
// directory this user may not write), else "".
func (e *env) readOnlyInventoryDir() string {
	if e.v == nil {
		return ""
	}
	loc, err := certstore.ParseURL(e.dbURL())
	if err != nil || !certstore.ReadOnlyLocation(loc) {
		return ""
	}
	return filepath.Dir(loc.Path)
}

// fileAccessError is a file operation the system refused: this user may
// not read the directory, create files in it, or open (remove, ...) the
// file itself; or the file system is mounted read-only.
type fileAccessError struct {
	what      string // in plain words
	path, dir string
	// certsDir: dir is the certs dir; file: the file exists and is itself
	// the problem; readOnlyFS: EROFS.
	certsDir, file, readOnlyFS bool
	err                        error
}

func (fe *fileAccessError) Error() string { return fe.what + ": " + fe.err.Error() }
func (fe *fileAccessError) Unwrap() error { return fe.err }

// fileAccess explains the refused operation pe of err. Which of the three
// it is comes from looking at the path again: a directory this user may
// not search hides the file, a file that does not exist was to be created.
func (e *env) fileAccess(pe *fs.PathError, err error) error {
	fe := &fileAccessError{path: pe.Path, dir: filepath.Dir(pe.Path), err: err}
	fe.certsDir = e.v != nil && filepath.Clean(e.certsDir()) == filepath.Clean(fe.dir)
	where := "the directory " + fe.dir
	if fe.certsDir {
		where = "the certs dir " + fe.dir
	}
	who := "this user"
	if uid := os.Getuid(); uid >= 0 {
		who = fmt.Sprintf("this user (uid %d)", uid)
	}
	_, serr := os.Lstat(pe.Path)
	switch {
	case errors.Is(pe.Err, syscall.EROFS):
		fe.readOnlyFS = true
		fe.what = where + " is on a read-only file system"
	case errors.Is(serr, fs.ErrPermission):
		fe.what = who + " may not read " + where
	case errors.Is(serr, fs.ErrNotExist):
		fe.what = who + " may not create files in " + where
	default:
		fe.file = true
		fe.what = who + " may not " + pe.Op + " " + pe.Path
	}
	return fe
}

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
	for _, advise := range causeHints {
		if h := advise(err); h != "" {
			return h
		}
	}
	return ""
}
