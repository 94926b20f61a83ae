package ca

import (
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/securechat/scca/internal/atomicfile"
)

// File modes: private keys are readable by their owner only; certificates
// are public.
const (
	keyFileMode  fs.FileMode = 0o600
	certFileMode fs.FileMode = 0o644
)

// fileSet is a group of files that appear together or not at all. Files are
// staged (written and fsynced under temporary names) while the work that
// may fail is still ahead, and committed only after the inventory row is in.
type fileSet struct {
	staged    []stagedFile
	committed []string
}

type stagedFile struct{ tmp, path string }

func (s *fileSet) stage(path string, data []byte, perm fs.FileMode) error {
	tmp, err := atomicfile.Stage(path, data, perm)
	if err != nil {
		return err
	}
	s.staged = append(s.staged, stagedFile{tmp: tmp, path: path})
	return nil
}

// writeAt writes a file under a temporary name chosen by the caller
// (recorded in an issuance journal beforehand), without the fsync:
// syncStaged makes it durable.
func (s *fileSet) writeAt(tmp, path string, data []byte, perm fs.FileMode) error {
	if err := atomicfile.WriteAt(tmp, path, data, perm); err != nil {
		return err
	}
	s.staged = append(s.staged, stagedFile{tmp: tmp, path: path})
	return nil
}

// syncStaged makes the files staged from index i on and the files in extra
// durable, data and names: their data is fsynced concurrently
// (atomicfile.SyncFiles: one fsync each, overlapping), and each distinct
// directory once (syncDirs) at the same time. The names already exist when
// the fsyncs start, and what the caller relies on is only that all of them
// have returned before the inventory row is inserted; a crash while they
// run is a crash before the insert, after which recovery removes the
// staged files whatever reached the disk. So the directory's flush need
// not wait for the files' and the device sees one round of flushes.
func (s *fileSet) syncStaged(i int, extra ...string) error {
	files := extra
	dirs := make([]string, 0, len(extra))
	for _, f := range extra {
		dirs = append(dirs, filepath.Dir(f))
	}
	for _, f := range s.staged[i:] {
		files = append(files, f.tmp)
	}
	dirErr := make(chan error, 1)
	go func() { dirErr <- s.syncDirs(dirs...) }()
	err := atomicfile.SyncFiles(files...)
	if derr := <-dirErr; err == nil {
		err = derr
	}
	return err
}

// unstageFrom removes the staged files from index i on (a certificate
// whose serial the inventory refused, and its chain, about to be re-signed).
func (s *fileSet) unstageFrom(i int) {
	for _, f := range s.staged[i:] {
		os.Remove(f.tmp)
	}
	s.staged = s.staged[:i]
}

// syncDirs fsyncs each distinct directory of the staged files and of
// extra once, making their names durable: several files staged side by side
// (and the journal beside them) cost one directory fsync, not one each.
func (s *fileSet) syncDirs(extra ...string) error {
	var ds atomicfile.DirSyncs
	for _, dir := range extra {
		ds.Add(dir)
	}
	for _, f := range s.staged {
		ds.Add(filepath.Dir(f.path))
	}
	return ds.Sync()
}

// discard removes every staged temporary file.
func (s *fileSet) discard() {
	for _, f := range s.staged {
		os.Remove(f.tmp)
	}
	s.staged = nil
}

// commit moves every staged file into place, refusing to replace an existing
// file. If one fails, the files this set already committed are removed
// again (they were created by us a moment ago, nobody else can have them
// open for long, and a lone key without its certificate is only clutter),
// so the set still appears all-or-nothing on disk.
//
// fsyncs: the files' data was fsynced when staged (one each, needed: the
// content must be durable before the inventory row that vouches for it is
// committed; their temporary names were made durable by syncDirs). Here
// every file is linked first and then each distinct directory is fsynced
// once, so a key, certificate and chain side by side cost one directory
// fsync, not three; commit returns only after it, so the names are durable
// when the caller reports success. The directories join ds, when not nil,
// and are synced with whatever else it holds (the audit anchor).
func (s *fileSet) commit(ds *atomicfile.DirSyncs) error {
	for i, f := range s.staged {
		if err := atomicfile.Link(f.tmp, f.path); err != nil {
			for _, p := range s.committed {
				os.Remove(p)
			}
			s.committed = nil
			for _, rest := range s.staged[i:] {
				os.Remove(rest.tmp)
			}
			s.staged = nil
			if errors.Is(err, atomicfile.ErrExists) {
				return fmt.Errorf("%w: %s", ErrFileExists, f.path)
			}
			return err
		}
		s.committed = append(s.committed, f.path)
	}
	if ds == nil {
		ds = &atomicfile.DirSyncs{}
	}
	for _, f := range s.staged {
		ds.Add(filepath.Dir(f.path))
	}
	s.staged = nil
	return ds.Sync()
}

// checkAbsent fails with ErrFileExists if any path exists, before any work
// is done. (Commit repeats the check atomically, which catches races.)
func checkAbsent(paths ...string) error {
	for _, p := range paths {
		if p == "" {
			continue
		}
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%w: %s", ErrFileExists, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("check %s: %w", p, err)
		}
	}
	return nil
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
