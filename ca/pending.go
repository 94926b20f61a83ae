package ca

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gofrs/flock"

	"github.com/securechat/scca/internal/atomicfile"
	"github.com/securechat/scca/inventory"
)

// An issuance that may be interrupted at any point (kill -9, power loss)
// leaves a journal in the CA directory, so that the next command, or
// `scca doctor`, can finish or undo it (see Recover). The sequence is:
//
//  1. sign the certificate (no I/O yet: its serial is known from here on);
//  2. write the journal (the serial, the temporary file names and targets),
//     locked from its creation;
//  3. stage the key, certificate and chain under those temporary names;
//  4. fsync the directory once, making the journal's and the staged files'
//     names durable together (each file's data was fsynced when written);
//  5. insert the inventory row (a durable commit);
//  6. link the staged files into place, remove the temporary names, fsync
//     the directory once more;
//  7. remove the journal and release its lock.
//
// A crash before 5 leaves no row, so recovery removes the staged files; a
// crash after 5 leaves a row, so recovery links the staged files (they are
// removed only after step 6). Which side of 5 a crash fell on is asked of
// the inventory, never guessed: everything recovery needs (the serial, the
// files and their names) is durable before the row can exist. The lock
// (flock, released by the kernel when its process dies) tells a live
// issuance from a dead one. A serial the inventory refused as a duplicate
// is replaced by a fresh one appended to the journal (fsynced) before the
// next insert.
const (
	journalPrefix = ".scca-pending-"
	journalSuffix = ".json"
)

// Journal file roles.
const (
	roleKey   = "key"
	roleCert  = "cert"
	roleChain = "chain"
)

// journalHeader is the first line of a journal.
type journalHeader struct {
	Op          string        `json:"op"`
	IssuerKeyID string        `json:"issuer_key_id"`
	Serial      string        `json:"serial,omitempty"` // the first certificate's
	Files       []journalFile `json:"files"`
}

type journalFile struct {
	Role string `json:"role"`
	Tmp  string `json:"tmp"`
	Path string `json:"path"`
}

// journalSerial is each following line: a serial about to be inserted
// after the header's was refused as a duplicate.
type journalSerial struct {
	Serial string `json:"serial"`
}

// journal is a live issuance's record, locked by its process.
type journal struct {
	path string
	lock *flock.Flock
	hdr  journalHeader
}

// beginJournal writes and locks the journal for an issuance of the
// certificate with serial, writing files to targets (role -> path). The
// journal appears under its final name already locked: it is written to a
// temporary name, locked, then renamed. Its data and name are made durable
// by the caller with the files it stages (pendingIssue.prepare), before the
// row is inserted.
func (a *Authority) beginJournal(targets []journalFile, serial string) (*journal, error) {
	// The op id only names files; it is not secret, but must not collide
	// between processes, hence crypto/rand rather than the injectable a.rand.
	op := strings.ToLower(rand.Text()[:16])
	hdr := journalHeader{Op: op, IssuerKeyID: a.issuerKeyID(), Serial: serial}
	for _, t := range targets {
		abs, err := filepath.Abs(t.Path)
		if err != nil {
			return nil, err
		}
		hdr.Files = append(hdr.Files, journalFile{Role: t.Role, Path: abs, Tmp: atomicfile.TempName(abs, op)})
	}
	line, err := json.Marshal(hdr)
	if err != nil {
		return nil, err
	}
	// Create the temporary journal and lock it in one step, then fill it
	// through another descriptor that cannot re-create it: if Recover takes
	// it for abandoned in the instant before the lock, the write fails and
	// the issuance stops before doing anything.
	path := filepath.Join(a.dir, journalPrefix+op+journalSuffix)
	tmp := atomicfile.TempName(path, "lock")
	lk := flock.New(tmp)
	ok, err := lk.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock issuance journal: %w", err)
	}
	if !ok {
		// The name is fresh (op is random), so only a process that found
		// this very file and took it for abandoned can hold it.
		return nil, fmt.Errorf("lock issuance journal %s: held by another process", tmp)
	}
	if err := fillJournal(tmp, append(line, '\n')); err != nil {
		lk.Close()
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		lk.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("write issuance journal: %w", err)
	}
	return &journal{path: path, lock: lk, hdr: hdr}, nil
}

// fillJournal writes an existing, locked journal file; the caller fsyncs
// it (pendingIssue.prepare, with the files it stages).
func fillJournal(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write issuance journal: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write issuance journal: %w", err)
	}
	return nil
}

func (a *Authority) issuerKeyID() string {
	return hex.EncodeToString(a.Issuer().SubjectKeyId)
}

// tmp returns the temporary name of the file with role.
func (j *journal) tmp(role string) (string, string) {
	for _, f := range j.hdr.Files {
		if f.Role == role {
			return f.Tmp, f.Path
		}
	}
	panic("ca: journal has no " + role + " file") // a programming error
}

// noteSerial appends serial, durably, before its row is inserted.
func (j *journal) noteSerial(serial string) error {
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("update issuance journal: %w", err)
	}
	defer f.Close()
	line, _ := json.Marshal(journalSerial{Serial: serial})
	if _, err := f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("update issuance journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("update issuance journal: %w", err)
	}
	return nil
}

// finish removes the journal (the issuance is settled either way) and
// releases its lock.
func (j *journal) finish() {
	os.Remove(j.path)
	j.lock.Close()
}

// release leaves the journal for Recover (the outcome is unknown) and
// releases its lock.
func (j *journal) release() { j.lock.Close() }

// readJournal parses a journal file. A torn last line (a crash while
// appending a serial) is ignored: its row was never inserted, since the
// insert waits for the append's fsync.
func readJournal(path string) (journalHeader, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return journalHeader{}, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var hdr journalHeader
	if !sc.Scan() {
		return hdr, nil, errors.New("empty journal")
	}
	if err := json.Unmarshal(sc.Bytes(), &hdr); err != nil || hdr.Op == "" {
		return hdr, nil, fmt.Errorf("unreadable journal header")
	}
	var serials []string
	if hdr.Serial != "" {
		serials = append(serials, hdr.Serial)
	}
	for sc.Scan() {
		var s journalSerial
		if json.Unmarshal(sc.Bytes(), &s) == nil && s.Serial != "" {
			serials = append(serials, s.Serial)
		}
	}
	return hdr, serials, sc.Err()
}

// pendingIssue is one journaled issuance and its staged files. The journal
// is written with the first signed certificate (prepare), so that it
// carries that certificate's serial without a second fsync.
type pendingIssue struct {
	a       *Authority
	targets []journalFile
	key     []byte // the private key PEM to stage; nil for SignCSR
	j       *journal
	files   fileSet
	certAt  int  // index in files of the staged certificate (and chain after it)
	keep    bool // outcome unknown: leave journal and files for Recover
	// dirs collects the directory fsyncs after the insert: the audit
	// anchor's (deferred by the store, see context) and the linked files'.
	// One fsync covers both when they share the CA directory.
	dirs *atomicfile.DirSyncs
}

// newPending prepares an issuance writing targets; key, when not nil, is
// staged as roleKey. With chain set a roleChain target is added at
// ChainPath of the roleCert target.
func (a *Authority) newPending(key []byte, chain bool, targets ...journalFile) *pendingIssue {
	if chain {
		for _, t := range targets {
			if t.Role == roleCert {
				targets = append(targets, journalFile{Role: roleChain, Path: ChainPath(t.Path)})
				break
			}
		}
	}
	return &pendingIssue{a: a, targets: targets, key: key, dirs: &atomicfile.DirSyncs{}}
}

// context returns ctx for the inventory calls of this issuance: writers of
// files in the CA directory (the audit anchor) leave their directory fsync
// to commit or close.
func (p *pendingIssue) context(ctx context.Context) context.Context {
	return atomicfile.WithDirSyncs(ctx, p.dirs)
}

// path returns the target of role, "" when there is none.
func (p *pendingIssue) path(role string) string {
	for _, t := range p.targets {
		if t.Role == role {
			return t.Path
		}
	}
	return ""
}

// stage writes the file with role under its journaled temporary name;
// prepare makes it durable.
func (p *pendingIssue) stage(role string, data []byte, perm fs.FileMode) error {
	tmp, path := p.j.tmp(role)
	return p.files.writeAt(tmp, path, data, perm)
}

// prepare stages a signed certificate before its row is inserted. The
// first one creates the journal with its serial and stages the key; a
// later one (its predecessor's serial was a duplicate) replaces the staged
// certificate and chain and appends its serial to the journal. Then
// everything written is made durable, the files' data with concurrent
// fsyncs and their names with one fsync per directory, so that recovery
// finds them whatever happens after the insert.
func (p *pendingIssue) prepare(cert *x509.Certificate) error {
	serial := serialHex(cert)
	var journal []string // the journal, when written here
	if p.j == nil {
		j, err := p.a.beginJournal(p.targets, serial)
		if err != nil {
			return err
		}
		p.j = j
		journal = append(journal, j.path)
		if p.key != nil {
			if err := p.stage(roleKey, p.key, keyFileMode); err != nil {
				return err
			}
		}
		p.certAt = len(p.files.staged)
	} else {
		p.files.unstageFrom(p.certAt)
		if err := p.j.noteSerial(serial); err != nil {
			return err
		}
	}
	if err := p.stage(roleCert, certPEM(cert.Raw), certFileMode); err != nil {
		return err
	}
	if p.path(roleChain) != "" {
		if err := p.stage(roleChain, p.a.ChainPEM(cert), certFileMode); err != nil {
			return err
		}
	}
	if journal == nil {
		return p.files.syncStaged(p.certAt)
	}
	return p.files.syncStaged(0, journal...)
}

// commit links the staged files once cert's row is recorded. If a target
// was taken meanwhile (a concurrent issuance for the same name), the
// certificate was never handed out and is revoked at once.
func (p *pendingIssue) commit(ctx context.Context, cert *x509.Certificate) error {
	err := p.files.commit(p.dirs)
	if err == nil {
		return nil
	}
	inv, ok := p.a.store.(Inventory)
	if !ok {
		p.keep = true
		return fmt.Errorf("certificate %s was recorded but its files could not be written: %w", serialHex(cert), err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
	defer cancel()
	if _, rerr := inv.Revoke(ctx, inventory.Revocation{IssuerKeyID: hex.EncodeToString(cert.AuthorityKeyId),
		Serial: serialHex(cert), Reason: inventory.ReasonCessationOfOperation, Actor: p.a.actor}); rerr != nil {
		p.keep = true
		return fmt.Errorf("certificate %s was recorded but its files could not be written (%w), and revoking it failed: %v", serialHex(cert), err, rerr)
	}
	return fmt.Errorf("certificate %s was recorded but its files could not be written, so it was revoked: %w", serialHex(cert), err)
}

// close settles the journal: removed with any staged files, or, when the
// outcome is unknown, left with them for Recover.
func (p *pendingIssue) close() {
	_ = p.dirs.Sync() // an anchor written on a failure path (a revocation)
	if p.j == nil {
		return // nothing was written
	}
	if p.keep {
		p.j.release()
		return
	}
	p.files.discard()
	p.j.finish()
}
