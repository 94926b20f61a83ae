package enroll

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/internal/atomicfile"
)

// The journal of one identity's file set (see identityFiles.write): the
// temporary name of each staged file and where it goes. It exists only
// between "every file is staged and durable" and "every file is in place".

// journalEntry is one staged file.
type journalEntry struct {
	Path string `json:"path"`
	Tmp  string `json:"tmp"`

	data []byte
	mode fs.FileMode
}

type journal struct {
	Files []journalEntry `json:"files"`
}

// crashHook, set by tests only, runs after the journal is durable and
// before the renames; an error stops write there, as a crash would.
var crashHook func() error

// journalPath names the journal of the identity whose files are p.
func journalPath(p Paths) string {
	return filepath.Join(filepath.Dir(p.Cert), "."+filepath.Base(p.Cert)+".journal")
}

// stage writes every file under a fresh temporary name, fsynced.
func (j *journal) stage() error {
	for i := range j.Files {
		e := &j.Files[i]
		var tag [8]byte
		if _, err := rand.Read(tag[:]); err != nil {
			return err
		}
		e.Tmp = atomicfile.TempName(e.Path, hex.EncodeToString(tag[:]))
		if err := atomicfile.StageAt(e.Tmp, e.Path, e.data, e.mode); err != nil {
			j.discard()
			return err
		}
	}
	return nil
}

// discard removes the staged files (before the journal exists).
func (j *journal) discard() {
	for _, e := range j.Files {
		if e.Tmp != "" {
			os.Remove(e.Tmp)
		}
	}
}

func (j *journal) encode() []byte {
	b, _ := json.Marshal(j) // strings only: cannot fail
	return b
}

// finish renames every staged file that is still there into place (one
// already renamed is skipped: finishing twice is harmless), makes the
// names durable and removes the journal.
func (j *journal) finish(p Paths) error {
	for _, e := range j.Files {
		if err := os.Rename(e.Tmp, e.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("replace %s: %w", e.Path, err)
		}
	}
	dir := filepath.Dir(p.Cert)
	if err := atomicfile.SyncDir(dir); err != nil {
		return err
	}
	if err := os.Remove(journalPath(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", journalPath(p), err)
	}
	return atomicfile.SyncDir(dir)
}

// Recover finishes a file set that a crash interrupted for the identity cn
// in dir (see identityFiles.write) and removes temporary files of its that
// no journal names. It reports whether it finished an interrupted set. Enroll
// and Renew call it first; a caller that loads the identity's files
// itself (a chat client) may call it before.
func Recover(dir, cn string) (bool, error) {
	p := PathsFor(dir, cn)
	data, err := os.ReadFile(journalPath(p))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		_, err := removeStrays(p)
		return false, err
	case err != nil:
		return false, fmt.Errorf("read %s: %w", journalPath(p), err)
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil {
		return false, fmt.Errorf("%s is damaged (%w); the files it names are left as they are", journalPath(p), err)
	}
	if err := j.check(dir, p); err != nil {
		return false, fmt.Errorf("%s: %w; the files it names are left as they are", journalPath(p), err)
	}
	if err := j.finish(p); err != nil {
		return false, err
	}
	_, err = removeStrays(p)
	return true, err
}

// check accepts only a journal this package could have written for p:
// each destination one of the identity's files (or the CA files), each
// temporary name the one StageAt uses next to it.
func (j *journal) check(dir string, p Paths) error {
	allowed := identityPaths(dir, p)
	for _, e := range j.Files {
		if !slices.Contains(allowed, e.Path) {
			return fmt.Errorf("names %q, not a file of this identity", e.Path)
		}
		prefix := atomicfile.TempName(e.Path, "")
		if !strings.HasPrefix(e.Tmp, prefix) || strings.ContainsAny(e.Tmp[len(prefix):], `/\\`) {
			return fmt.Errorf("names %q, not a temporary file of %s", e.Tmp, e.Path)
		}
	}
	return nil
}

func identityPaths(dir string, p Paths) []string {
	return []string{p.Key, p.Cert, p.Chain, p.Root, filepath.Join(dir, ca.IntermediateCertFile)}
}

// removeStrays removes temporary files of the identity's own files (key,
// certificate, chain): staged by a write that crashed before its journal
// was durable, so never part of the visible set. Those of the shared CA
// files are left to `scca doctor --repair`: another identity's enrollment
// may be staging them right now.
func removeStrays(p Paths) (bool, error) {
	dir := filepath.Dir(p.Cert)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	removed := false
	for _, e := range ents {
		for _, path := range []string{p.Key, p.Cert, p.Chain} {
			if !strings.HasPrefix(e.Name(), filepath.Base(atomicfile.TempName(path, ""))) {
				continue
			}
			m := filepath.Join(dir, e.Name())
			if err := os.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return removed, fmt.Errorf("remove %s: %w", m, err)
			}
			removed = true
		}
	}
	return removed, nil
}
