// Package atomicfile writes files so that readers only ever see the old
// content or the complete new content, never a torn write: the data goes to a
// temporary file in the same directory, is fsynced, and is renamed over the
// target. It is used for keys, certificates and CRLs.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrExists is returned by Create when the target already exists.
var ErrExists = errors.New("file already exists")

// Write atomically replaces path with data and mode perm.
func Write(path string, data []byte, perm fs.FileMode) error {
	if err := replace(path, data, perm); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// replace stages data and renames it over path: Write without the
// directory fsync, which the caller owes.
func replace(path string, data []byte, perm fs.FileMode) error {
	tmp, err := Stage(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return nil
}

// Stage writes data to a fsynced temporary file next to path and returns its
// name. The caller commits it with Commit or discards it with os.Remove. This
// lets a caller prepare several files, do other work that may fail (such as a
// database commit), and only then make them visible.
func Stage(path string, data []byte, perm fs.FileMode) (string, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("stage %s: %w", path, err)
	}
	return fill(f, path, data, perm)
}

// TempName is the temporary name StageAt uses for path and tag: hidden,
// next to path, and recognisable by IsTemp.
func TempName(path, tag string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-"+tag)
}

// IsTemp reports whether a base name is one of this package's temporary
// files (".<name>.tmp-<suffix>").
func IsTemp(base string) bool {
	return strings.HasPrefix(base, ".") && strings.Contains(base, ".tmp-")
}

// StageAt is Stage with a temporary name chosen by the caller (see
// TempName), so that a journal can record it before it exists. It fails if
// that name already exists.
func StageAt(tmp, path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("stage %s: %w", path, err)
	}
	_, err = fill(f, path, data, perm)
	return err
}

// WriteAt is StageAt without the fsync: the caller makes the data durable
// with SyncFiles, together with the other files it stages, before relying
// on it.
func WriteAt(tmp, path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("stage %s: %w", path, err)
	}
	_, err = write(f, path, data, perm, false)
	return err
}

// SyncFiles fsyncs the data of the named files, all at once: the calls run
// concurrently, so the file system can complete them in one journal commit
// where it batches (ext4, XFS), instead of one device flush after another.
// Each file still gets its own fsync. It returns the first error.
func SyncFiles(paths ...string) error {
	errs := make(chan error, len(paths))
	for _, p := range paths {
		go func() { errs <- syncFile(p) }()
	}
	var first error
	for range paths {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// fill writes, fsyncs and closes a fresh temporary file, removing it on
// failure.
func fill(f *os.File, path string, data []byte, perm fs.FileMode) (string, error) {
	return write(f, path, data, perm, true)
}

// write writes and closes a fresh temporary file, fsyncing it when sync is
// set, and removes it on failure.
func write(f *os.File, path string, data []byte, perm fs.FileMode, sync bool) (string, error) {
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", fmt.Errorf("stage %s: %w", path, err)
	}
	// Chmod before writing so secret material is never readable by others,
	// even briefly (CreateTemp already uses 0600, this narrows or widens to perm).
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", fmt.Errorf("stage %s: %w", path, err)
	}
	return name, nil
}

// Commit moves a staged file into place. With exclusive set it refuses to
// replace an existing file (using a hard link, which fails if the target
// exists, so two concurrent writers cannot both win).
func Commit(tmp, path string, exclusive bool) error {
	if exclusive {
		if err := os.Link(tmp, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s: %w", path, ErrExists)
			}
			return fmt.Errorf("create %s: %w", path, err)
		}
		os.Remove(tmp)
	} else if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// Create writes data to path atomically, failing with ErrExists if path
// already exists.
func Create(path string, data []byte, perm fs.FileMode) error {
	tmp, err := Stage(path, data, perm)
	if err != nil {
		return err
	}
	if err := Commit(tmp, path, true); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	// Some file systems cannot fsync a directory (EINVAL, ENOTSUP): the
	// rename has still happened, so that is not worth failing the write
	// for. Any other error (EIO) means the names may not be durable, and
	// the caller must not report them as written.
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Link makes a staged file visible at path without replacing anything (a
// hard link, which fails with ErrExists if path exists) and removes the
// temporary name. Unlike Commit it does not fsync the directory: a caller
// committing several files into one directory links them all and then
// calls SyncDir once, so the set costs one directory fsync, not one per
// file. Until SyncDir returns, a crash may lose the new name (the data is
// already durable, as Stage fsynced it).
func Link(tmp, path string) error {
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", path, ErrExists)
		}
		return fmt.Errorf("create %s: %w", path, err)
	}
	os.Remove(tmp)
	return nil
}

// SyncDir fsyncs a directory, making the names linked or renamed into it
// durable.
func SyncDir(dir string) error { return syncDir(dir) }
