package ca

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/securechat/scca/internal/atomicfile"
	"github.com/securechat/scca/inventory"
)

// Inventory is what crash recovery asks of the store beyond Recorder:
// whether a row exists, and revoking one whose files are lost.
// inventory.Store implements it.
type Inventory interface {
	Get(ctx context.Context, issuerKeyID, serial string) (inventory.Record, error)
	Revoke(ctx context.Context, r inventory.Revocation) (inventory.Record, error)
}

// ErrOutcomeUnknown: the inventory did not confirm whether a certificate
// was recorded (the commit's reply was lost and the check failed too). The
// staged files and the journal are kept; Recover settles it later.
var ErrOutcomeUnknown = errors.New("the inventory did not say whether the certificate was recorded")

// DefaultStaleAfter is how old a temporary file nobody has claimed must be
// before Recover removes it. Every writer in this module renames its
// temporary file within milliseconds, so this only guards a concurrent one.
const DefaultStaleAfter = time.Minute

// RecoverOptions configure Recover.
type RecoverOptions struct {
	DryRun     bool          // report what would be done, change nothing
	StaleAfter time.Duration // 0 = DefaultStaleAfter; <0 = any age
	Actor      string        // revoked_by for revoked orphans; "" = "scca"
	Now        func() time.Time
}

// Recovery is what Recover found and did.
type Recovery struct {
	Completed []RecoveredCert // recorded certificates whose files were put in place
	Revoked   []RecoveredCert // recorded certificates whose files could not be, revoked
	Discarded int             // interrupted issuances never recorded; their files removed
	Unsettled []string        // journals kept: the inventory could not be asked
	Busy      int             // issuances in progress in live processes
	Removed   []string        // abandoned temporary files removed
}

// RecoveredCert names one certificate Recover acted on.
type RecoveredCert struct {
	Serial, CN, Path, Why string
}

// Empty reports whether there was nothing to do.
func (r *Recovery) Empty() bool {
	return len(r.Completed)+len(r.Revoked)+r.Discarded+len(r.Unsettled)+len(r.Removed) == 0
}

// Recover is the package-level Recover for the Authority's directory and
// store, which must implement Inventory.
func (a *Authority) Recover(ctx context.Context, opts RecoverOptions) (*Recovery, error) {
	inv, ok := a.store.(Inventory)
	if !ok {
		return nil, errors.New("recover: the inventory store cannot be consulted")
	}
	if opts.Actor == "" {
		opts.Actor = a.actor
	}
	if opts.Now == nil {
		opts.Now = a.now
	}
	return Recover(ctx, a.dir, inv, opts)
}

// Recover settles issuances interrupted by a crash in the CA directory dir
// (see pending.go) and removes abandoned temporary files, so that every
// recorded certificate has its files or is revoked and reported, and no
// temporary file lives on. Issuances of live processes are left alone. It
// does not need the CA's key.
func Recover(ctx context.Context, dir string, inv Inventory, opts RecoverOptions) (*Recovery, error) {
	if opts.StaleAfter == 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	if opts.Actor == "" {
		opts.Actor = "scca"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := recoverer{dir: dir, inv: inv, opts: opts}
	return r.run(ctx)
}

// recoverer is one Recover run.
type recoverer struct {
	dir  string
	inv  Inventory
	opts RecoverOptions
}

func (a recoverer) run(ctx context.Context) (*Recovery, error) {
	opts := a.opts
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	}
	rep := &Recovery{}
	keep := map[string]bool{} // ops whose temporary files must stay
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, journalPrefix) && strings.HasSuffix(n, journalSuffix) {
			op := strings.TrimSuffix(strings.TrimPrefix(n, journalPrefix), journalSuffix)
			if !a.recoverJournal(ctx, a.inv, filepath.Join(a.dir, n), opts, rep) {
				keep[op] = true
			}
		}
	}
	named := setJournals(a.dir, entries)
	for _, e := range entries {
		if n := e.Name(); atomicfile.IsTemp(n) && !keep[n[strings.LastIndex(n, ".tmp-")+5:]] && !strings.Contains(named, n) {
			a.removeStray(filepath.Join(a.dir, n), opts, rep)
		}
	}
	return rep, nil
}

// setJournals returns the text of the file-set journals in dir
// (".<name>.journal", written by package enroll while it replaces an
// identity's files): a temporary file one of them names is part of a set
// that the identity's next enroll or renew finishes, not a stray.
func setJournals(dir string, entries []os.DirEntry) string {
	var b strings.Builder
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, ".") && strings.HasSuffix(n, ".journal") {
			if data, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
				b.Write(data)
			}
		}
	}
	return b.String()
}

// removeStray removes an abandoned temporary file.
func (a recoverer) removeStray(path string, opts RecoverOptions, rep *Recovery) {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	age := opts.Now().Sub(fi.ModTime())
	if strings.Contains(filepath.Base(path), journalPrefix) {
		// A journal being written is locked from its creation (see
		// beginJournal); an unlocked one belongs to a dead process. But
		// "creation" and "locked" are two system calls: a young one is
		// left alone, or a concurrent issuance would lose its journal in
		// that instant (and fail).
		if opts.StaleAfter > 0 && age < opts.StaleAfter {
			return
		}
		lk := flock.New(path, flock.SetFlag(os.O_RDONLY))
		if ok, err := lk.TryLock(); err != nil || !ok {
			lk.Close()
			return
		}
		defer lk.Close()
	} else if opts.StaleAfter > 0 && age < opts.StaleAfter {
		return
	}
	if !opts.DryRun && os.Remove(path) != nil {
		return
	}
	rep.Removed = append(rep.Removed, path)
}

// recoverJournal settles one journal; it returns false when the journal
// stays (live or unsettled), so its temporary files must stay too.
func (a recoverer) recoverJournal(ctx context.Context, inv Inventory, path string, opts RecoverOptions, rep *Recovery) bool {
	lk := flock.New(path, flock.SetFlag(os.O_RDONLY))
	ok, err := lk.TryLock()
	if err != nil {
		return errors.Is(err, fs.ErrNotExist) // finished meanwhile
	}
	if !ok {
		rep.Busy++
		return false
	}
	defer lk.Close()
	hdr, serials, err := readJournal(path)
	if err != nil {
		// Journals are complete before they get their name; an unreadable
		// one cannot be acted on safely, so it stays, reported.
		rep.Unsettled = append(rep.Unsettled, fmt.Sprintf("%s: %v", path, err))
		return false
	}
	rec, err := recordedRow(ctx, inv, hdr, serials)
	if err != nil {
		rep.Unsettled = append(rep.Unsettled, fmt.Sprintf("%s: %v", path, err))
		return false
	}
	if opts.DryRun {
		a.describe(hdr, rec, rep)
		return false
	}
	if rec == nil {
		// Never recorded: nothing was handed out, remove the staged files.
		for _, f := range hdr.Files {
			os.Remove(f.Tmp)
		}
		rep.Discarded++
		os.Remove(path)
		return true
	}
	rc := RecoveredCert{Serial: rec.Serial, CN: rec.CN, Path: hdr.path(roleCert)}
	if err := placeFiles(hdr); err != nil {
		rc.Why = err.Error()
		if _, err := inv.Revoke(ctx, inventory.Revocation{IssuerKeyID: rec.IssuerKeyID, Serial: rec.Serial,
			Reason: inventory.ReasonCessationOfOperation, Actor: opts.Actor}); err != nil && !errors.Is(err, inventory.ErrAlreadyRevoked) {
			rep.Unsettled = append(rep.Unsettled, fmt.Sprintf("%s: revoke %s: %v", path, rec.Serial, err))
			return false
		}
		for _, f := range hdr.Files {
			os.Remove(f.Tmp)
		}
		rep.Revoked = append(rep.Revoked, rc)
	} else {
		rep.Completed = append(rep.Completed, rc)
	}
	os.Remove(path)
	return true
}

// describe fills a dry run's report.
func (a recoverer) describe(hdr journalHeader, rec *inventory.Record, rep *Recovery) {
	if rec == nil {
		rep.Discarded++
		return
	}
	rc := RecoveredCert{Serial: rec.Serial, CN: rec.CN, Path: hdr.path(roleCert), Why: "files not yet in place"}
	rep.Completed = append(rep.Completed, rc)
}

func (h journalHeader) path(role string) string {
	for _, f := range h.Files {
		if f.Role == role {
			return f.Path
		}
	}
	return ""
}

// recordedRow asks the inventory which of the journal's serials was
// recorded with the staged certificate; nil means none was.
func recordedRow(ctx context.Context, inv Inventory, hdr journalHeader, serials []string) (*inventory.Record, error) {
	staged := stagedCertDER(hdr)
	for _, s := range serials {
		rec, err := inv.Get(ctx, hdr.IssuerKeyID, s)
		if errors.Is(err, inventory.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// The same serial from another issuance (a collision the insert
		// refused) is not ours; ours is the one with our bytes. Without
		// staged bytes (already linked and the temp removed), the serial
		// alone decides.
		if staged == nil || bytes.Equal(rec.DER, staged) {
			return &rec, nil
		}
	}
	return nil, nil
}

// stagedCertDER reads the journal's certificate, staged or already linked.
func stagedCertDER(hdr journalHeader) []byte {
	for _, f := range hdr.Files {
		if f.Role != roleCert {
			continue
		}
		for _, p := range []string{f.Tmp, f.Path} {
			if data, err := os.ReadFile(p); err == nil {
				if b, _ := pem.Decode(data); b != nil {
					return b.Bytes
				}
			}
		}
	}
	return nil
}

// placeFiles links each staged file to its target. A target that already
// holds the same bytes was linked before the crash.
func placeFiles(hdr journalHeader) error {
	for _, f := range hdr.Files {
		data, err := os.ReadFile(f.Tmp)
		if errors.Is(err, fs.ErrNotExist) {
			if _, err := os.Stat(f.Path); err != nil {
				return fmt.Errorf("%s is missing and no staged copy is left", f.Path)
			}
			continue
		}
		if err != nil {
			return err
		}
		err = atomicfile.Commit(f.Tmp, f.Path, true)
		if errors.Is(err, atomicfile.ErrExists) {
			if cur, rerr := os.ReadFile(f.Path); rerr == nil && bytes.Equal(cur, data) {
				os.Remove(f.Tmp)
				continue
			}
			return fmt.Errorf("%s now holds another file", f.Path)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
